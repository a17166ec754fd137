package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/ws"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

var urlRE = regexp.MustCompile(`url="?(http://[^"\s]+/\?token=([^"\s]+))`)

// startSecured runs sensorcast in-process with the [http] table given and
// its own state directory; it returns the address, the token from the
// start log, the state directory and the logs.
func startSecured(t *testing.T, httpTable string) (addr, tok, state string, logs *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("device = \"sec\"\n[[sensor]]\ndriver = \"sim\"\ninterval = \"50ms\"\n\n[http]\n"+httpTable), 0o644)
	state = filepath.Join(dir, "state")
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0", "-state", state}, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no start line in the log:\n%s", logs)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(logs.String()); m != nil {
			tok = m[2]
			break
		}
		if strings.Contains(logs.String(), "access control is off") || time.Now().After(deadline) {
			break
		}
	}
	return addr, tok, state, logs
}

// do sends a request with the Host and headers given; it returns the
// status and body.
func do(t *testing.T, addr, host, target string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// upgrade sends a WebSocket upgrade by hand and returns the status and
// body. With pad, a 5,000-byte header makes Intercept hand the request to
// net/http, so both upgrade paths can be tried.
func upgrade(t *testing.T, addr, host string, hdr map[string]string, pad bool) (int, string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString("GET /ws HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	for k, v := range hdr {
		b.WriteString(k + ": " + v + "\r\n")
	}
	if pad {
		b.WriteString("X-Pad: " + strings.Repeat("p", 5000) + "\r\n")
	}
	b.WriteString("\r\n")
	io.WriteString(nc, b.String())
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func isJSONError(body string) bool {
	var e struct{ Error string }
	return json.Unmarshal([]byte(body), &e) == nil && e.Error != ""
}

// By default loopback with a loopback Host needs no token, a token is
// created in the state directory (0600) and printed in a ready URL, and a
// Host that does not name the device is refused everywhere.
func TestSecurityDefaults(t *testing.T) {
	addr, tok, state, logs := startSecured(t, "")
	if tok == "" {
		t.Fatalf("no URL with the token in the start log:\n%s", logs)
	}
	fi, err := os.Stat(filepath.Join(state, access.TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if got, _ := access.ReadToken(state); got != tok {
		t.Fatalf("the log's token %q, the file's %q", tok, got)
	}
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if err := run(context.Background(), []string{"token", "-state", state}, io.Discard); err != nil || strings.TrimSpace(out.String()) != tok {
		t.Fatalf("sensorcast token: %q %v", out.String(), err)
	}

	for _, host := range []string{addr, "localhost:1", "[::1]"} {
		for _, p := range []string{"/", "/api/sensors"} {
			if code, _, body := do(t, addr, host, p, nil); code != 200 {
				t.Errorf("loopback, Host %s, %s: %d %s", host, p, code, body)
			}
		}
		for _, pad := range []bool{false, true} {
			if code, body := upgrade(t, addr, host, nil, pad); code != 101 {
				t.Errorf("loopback upgrade, Host %s, pad %v: %d %s", host, pad, code, body)
			}
		}
	}

	// DNS rebinding: a name that is not this device's.
	const evil = "sensors.attacker.example:8080"
	for _, p := range []string{"/", "/api/sensors", "/api/history", "/index.js"} {
		code, _, body := do(t, addr, evil, p, nil)
		if code != http.StatusMisdirectedRequest || !isJSONError(body) {
			t.Errorf("Host %s, %s: %d %s", evil, p, code, body)
		}
	}
	for _, pad := range []bool{false, true} {
		if code, body := upgrade(t, addr, evil, nil, pad); code != http.StatusMisdirectedRequest || !isJSONError(body) {
			t.Errorf("upgrade with Host %s (pad %v): %d %s", evil, pad, code, body)
		}
		// The Origin check uses the same list.
		if code, body := upgrade(t, addr, addr, map[string]string{"Origin": "http://" + evil}, pad); code != http.StatusForbidden {
			t.Errorf("upgrade with Origin %s (pad %v): %d %s", evil, pad, code, body)
		}
	}

	// Big headers: 431.
	if code, _, _ := do(t, addr, addr, "/", map[string]string{"X-Big": strings.Repeat("b", 32<<10)}); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("32 KiB header: %d, want 431", code)
	}
}

// With trust_loopback = false, the token is needed from this machine too:
// every route and both upgrade paths refuse without it; Bearer, the cookie
// that ?token= sets and ?token= on the stream open them; wrong tokens are
// throttled; the WebSockets of one address are capped.
func TestSecurityToken(t *testing.T) {
	addr, tok, _, logs := startSecured(t, "trust_loopback = false\nmax_websockets_per_ip = 2\n")
	for _, p := range []string{"/", "/api/sensors", "/api/history?sensor=sim", "/api/history.csv?sensor=sim", "/api/nope"} {
		code, h, body := do(t, addr, addr, p, nil)
		if code != 401 || !isJSONError(body) || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without the token: %d %s", p, code, body)
		}
		if code, _, body := do(t, addr, addr, p, map[string]string{"Authorization": "Bearer " + tok}); code == 401 || code == 429 {
			t.Errorf("%s with the token: %d %s", p, code, body)
		}
	}
	for _, pad := range []bool{false, true} {
		if code, body := upgrade(t, addr, addr, nil, pad); code != 401 || !isJSONError(body) {
			t.Errorf("upgrade without the token (pad %v): %d %s", pad, code, body)
		}
	}

	// ?token= on the page: a cookie and a redirect to the clean URL; the
	// cookie then opens the page and the stream.
	code, h, _ := do(t, addr, addr, "/?token="+tok, nil)
	cookie := h.Get("Set-Cookie")
	if code != http.StatusSeeOther || h.Get("Location") != "/" || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("?token=: %d Location %q Set-Cookie %q", code, h.Get("Location"), cookie)
	}
	cookie, _, _ = strings.Cut(cookie, ";")
	if code, _, _ := do(t, addr, addr, "/", map[string]string{"Cookie": cookie}); code != 200 {
		t.Errorf("page with the cookie: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, _, err := wstest.Dial(ctx, "ws://"+addr+"/ws", http.Header{"Cookie": {cookie}})
	if err != nil {
		t.Fatalf("stream with the cookie: %v", err)
	}
	defer c1.NetConn().Close()
	if code, body := upgrade(t, addr, addr, map[string]string{"Authorization": "Bearer " + tok}, true); code != 101 {
		// net/http path; this one is closed at once by upgrade's return.
		t.Fatalf("stream with Bearer through net/http: %d %s", code, body)
	}
	// The padded one is closed by now on this side; the server frees its
	// place when its reader sees the close, so a 429 may come first.
	var c2 *wstest.Conn
	for i := 0; ; i++ {
		var resp *http.Response
		c2, resp, err = wstest.Dial(ctx, "ws://"+addr+"/ws?token="+tok, nil)
		if err == nil {
			break
		}
		if resp == nil || resp.StatusCode != 429 || i == 250 {
			t.Fatalf("stream with ?token=: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c2.NetConn().Close()
	// Two WebSockets from 127.0.0.1 are open: the third is refused, on
	// both paths, until one closes (the padded one above may still be
	// closing, so wait for its place to be free first).
	for i := 0; ; i++ {
		code, body := upgrade(t, addr, addr, map[string]string{"Authorization": "Bearer " + tok}, i%2 == 1)
		if code == 429 && isJSONError(body) {
			if i > 0 {
				break
			}
			if code, _ := upgrade(t, addr, addr, map[string]string{"Authorization": "Bearer " + tok}, true); code != 429 {
				t.Errorf("third WebSocket through net/http: %d", code)
			}
			break
		}
		if i > 100 {
			t.Fatalf("third WebSocket: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Wrong tokens: 401 ten times, then 429 even for the right one.
	for i := range access.DefaultMaxFailures {
		if code, _, _ := do(t, addr, addr, "/api/sensors", map[string]string{"Authorization": "Bearer wrong-wrong-wrong-wrong"}); code != 401 {
			t.Fatalf("wrong token #%d: %d", i+1, code)
		}
	}
	code, h, body := do(t, addr, addr, "/api/sensors", map[string]string{"Authorization": "Bearer " + tok})
	if code != 429 || h.Get("Retry-After") == "" || !isJSONError(body) {
		t.Fatalf("after %d wrong tokens: %d %s", access.DefaultMaxFailures, code, body)
	}
	if code, _ := upgrade(t, addr, addr, map[string]string{"Cookie": cookie}, false); code != 429 {
		t.Errorf("upgrade after the failures: %d", code)
	}
	if !strings.Contains(logs.String(), "reason=bad-token") || !strings.Contains(logs.String(), "level=INFO msg=\"request refused\"") {
		t.Errorf("the refusals are not logged:\n%s", logs)
	}
}

func TestAuthNone(t *testing.T) {
	addr, tok, state, logs := startSecured(t, "auth = \"none\"\ntrust_loopback = false\n")
	if tok != "" || !strings.Contains(logs.String(), "level=WARN msg=\"access control is off") {
		t.Errorf("auth none: token %q, logs:\n%s", tok, logs)
	}
	if _, err := os.Stat(filepath.Join(state, access.TokenFile)); err == nil {
		t.Error("a token was created with auth = \"none\"")
	}
	if code, _, _ := do(t, addr, addr, "/api/sensors", nil); code != 200 {
		t.Errorf("auth none: %d", code)
	}
	if code, _, _ := do(t, addr, "evil.example", "/api/sensors", nil); code != 421 {
		t.Errorf("auth none keeps the Host rule: %d", code)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"[http]\nauth = \"password\"\n":                    `c.toml:2: key "http.auth": "password"`,
		"[http]\nmax_websockets_per_ip = -1\n":             `c.toml:2: key "http.max_websockets_per_ip": -1 out of range`,
		"[http]\nhosts = [\"ok.example\", \"http://x\"]\n": `c.toml:2: key "http.hosts": "http://x" is not a host name`,
		"[http]\nmax_conections = 3\n":                     `c.toml:2: unknown key "http.max_conections"`,
	} {
		_, err := parseConfig("c.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

// A history request beyond max_history_requests gets 503, counted.
func TestHistoryConcurrencyCap(t *testing.T) {
	h := hub.New(&hub.Options{Device: "d", Sensors: []hub.SensorInfo{{Name: "a", Interval: time.Second}}, Frames: ws.NewServer(nil)})
	g := access.New(&access.Options{TrustLoopback: true})
	a := &api{hub: h, now: time.Now, guard: g, historySlots: make(chan struct{}, 2)}
	get := func(fn http.HandlerFunc, target string) int {
		w := httptest.NewRecorder()
		fn(w, httptest.NewRequest("GET", target, nil))
		return w.Code
	}
	if c := get(a.history, "/api/history"); c != 200 {
		t.Fatalf("history: %d", c)
	}
	// Hold both slots, as two slow requests would.
	a.historySlots <- struct{}{}
	a.historySlots <- struct{}{}
	if c := get(a.history, "/api/history"); c != 503 {
		t.Fatalf("history with both slots taken: %d", c)
	}
	if c := get(a.historyCSV, "/api/history.csv?sensor=a"); c != 503 {
		t.Fatalf("CSV history with both slots taken: %d", c)
	}
	<-a.historySlots
	if c := get(a.history, "/api/history"); c != 200 {
		t.Fatalf("history with a free slot: %d", c)
	}
	if len(a.historySlots) != 1 {
		t.Fatalf("%d slots held after the requests, want the 1 the test holds", len(a.historySlots))
	}
	if n := g.Rejections()[RejectBusy]; n != 2 {
		t.Errorf("busy refusals counted: %d", n)
	}
}

// The token is read again at SIGHUP.
func TestReloadOnHUP(t *testing.T) {
	dir := t.TempDir()
	old, _, _ := access.LoadToken(dir)
	g := access.New(&access.Options{Token: old})
	hup := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	logs := &syncBuffer{}
	go func() { reloadOnHUP(ctx, hup, g, dir, slog.New(slog.NewTextHandler(logs, nil))); close(done) }()
	newTok, _ := access.RotateToken(dir)
	hup <- os.Interrupt // any value: the signal itself is not read
	hup <- os.Interrupt // the first one has been handled once this is taken
	if g.Token() != newTok {
		t.Errorf("token after SIGHUP %q, want %q", g.Token(), newTok)
	}
	os.WriteFile(filepath.Join(dir, access.TokenFile), []byte("bad"), 0o600)
	hup <- os.Interrupt
	hup <- os.Interrupt
	if g.Token() != newTok || !strings.Contains(logs.String(), "keeping the current access token") {
		t.Errorf("a bad file replaced the token: %q\n%s", g.Token(), logs)
	}
	cancel()
	<-done
}

// sensorcast token: -url, -rotate, and a clear error when there is none.
func TestTokenCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	err := run(context.Background(), []string{"token", "-state", dir}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no access token in "+dir) {
		t.Fatalf("without a token: %v", err)
	}
	if err := run(context.Background(), []string{"token", "-rotate", "-state", dir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSpace(out.String())
	if got, _ := access.ReadToken(dir); got != first {
		t.Fatalf("-rotate printed %q, stored %q", first, got)
	}
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("listen = \"127.0.0.1:9123\"\n"), 0o644)
	out.Reset()
	if err := run(context.Background(), []string{"token", "-url", "-state", dir, "-config", cfg}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(out.String()), "http://127.0.0.1:9123/?token="+first; got != want {
		t.Fatalf("-url: %q, want %q", got, want)
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "-rotate", "-state", dir}, io.Discard); err != nil || strings.TrimSpace(out.String()) == first {
		t.Fatalf("second -rotate: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"token", "extra"}, io.Discard); err != errUsage {
		t.Fatalf("extra argument: %v", err)
	}
}
