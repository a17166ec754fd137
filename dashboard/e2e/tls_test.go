package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	spkiRE     = regexp.MustCompile(`spki_sha256="?([^"\s]+)`)
	httpsURLRE = regexp.MustCompile(`url="?(https://[^"\s]+/\?token=[^"\s]+)`)
)

// TestDashboardTLS opens the dashboard over HTTPS with tls = "self-signed"
// in a Chromium that trusts exactly that certificate's key: the token URL
// sets a Secure cookie, and the page streams over wss:// (the server
// speaks nothing else).
func TestDashboardTLS(t *testing.T) {
	need(t, chromium)
	dir := t.TempDir()
	bin := build(t, dir)
	cfg := filepath.Join(dir, "sensorcast.toml")
	tlsConfig := config + "\n[http]\ntls = \"self-signed\"\ntrust_loopback = false\n"
	if err := os.WriteFile(cfg, []byte(tlsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := start(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"))
	var spki, url string
	for deadline := time.Now().Add(5 * time.Second); spki == "" || url == ""; time.Sleep(20 * time.Millisecond) {
		if m := spkiRE.FindStringSubmatch(srv.logs()); m != nil {
			spki = m[1]
		}
		if m := httpsURLRE.FindStringSubmatch(srv.logs()); m != nil {
			url = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate pin or https URL in the log:\n%s", srv.logs())
		}
	}

	ctx, consoleErrors := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 10*time.Second, "connection live over wss", `location.protocol === "https:" && location.search === "" && document.getElementById("conn").dataset.phase === "live"`)
	waitJS(ctx, t, 5*time.Second, "two cards", `document.querySelectorAll("#sensors .card").length === 2`)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

	// A browser that does not trust the key gets no page.
	ctx2, _ := browser(t)
	if err := chromedp.Do(ctx2, chromedp.Navigate(url)); err == nil || !strings.Contains(err.Error(), "ERR_CERT") {
		t.Errorf("an untrusting browser: %v, want a certificate error", err)
	}
}
