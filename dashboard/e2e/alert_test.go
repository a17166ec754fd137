package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// alertConfig has one rule that fires at sim's first reading and one that
// never fires.
const alertConfig = `device = "e2e-alerts"

[[sensor]]
driver = "sim"
interval = "100ms"
seed = 7

[[sensor]]
driver = "host"
interval = "1s"

[[alert]]
name = "hot"
when = "sim.temperature > -100"

[[alert]]
name = "frozen"
when = "sim.temperature < -100"
`

// In Chromium, a firing rule shows as a banner above the cards and a badge
// on its sensor's card, and a rule that does not fire shows nowhere; a page
// opened later gets them from the snapshot.
func TestAlertBanner(t *testing.T) {
	need(t, chromium)
	dir := t.TempDir()
	bin := build(t, dir)
	cfg := filepath.Join(dir, "sensorcast.toml")
	if err := os.WriteFile(cfg, []byte(alertConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := start(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"))
	base := "http://" + srv.addr

	ctx, consoleErrors := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 10*time.Second, "banner shown",
		`(() => { const b = document.getElementById("alerts"); return !!b && !b.hidden && b.textContent.includes("hot: sim.temperature > -100"); })()`)
	banner := eval[string](ctx, t, `document.getElementById("alerts").textContent`)
	if strings.Contains(banner, "frozen") {
		t.Errorf("banner shows a rule that does not fire: %q", banner)
	}
	if !strings.Contains(banner, "°C") {
		t.Errorf("banner without the value: %q", banner)
	}
	if visible := eval[bool](ctx, t, `getComputedStyle(document.getElementById("alerts")).display !== "none"`); !visible {
		t.Error("the banner is not displayed")
	}
	waitJS(ctx, t, 5*time.Second, "badge on sim's card", `(() => {
		const c = sensorcast.cards.get("sim");
		const b = c && c.root.querySelector(".alert-badge");
		return !!b && !b.hidden && b.textContent === "Alert: hot" && getComputedStyle(b).display !== "none";
	})()`)
	if n := eval[int](ctx, t, `(() => { const c = sensorcast.cards.get("host"); const b = c.root.querySelector(".alert-badge"); return b && !b.hidden ? 1 : 0; })()`); n != 0 {
		t.Error("host's card has an alert badge")
	}
	// The banner is announced (role alert) and sits above the cards.
	if ok := eval[bool](ctx, t, `(() => { const b = document.getElementById("alerts"); return b.getAttribute("role") === "alert" && !!(b.compareDocumentPosition(document.getElementById("sensors")) & Node.DOCUMENT_POSITION_FOLLOWING); })()`); !ok {
		t.Error("the banner is not an alert above the cards")
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 10*time.Second, "banner after a reload (from the snapshot)",
		`(() => { const b = document.getElementById("alerts"); return !!b && !b.hidden && b.textContent.includes("hot:"); })()`)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("browser errors: %q", errs)
	}
}
