package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const tok = "abcdefghijklmnopqrstuvwxyz012345"

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newGuard(o Options) (*Guard, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	if o.Hostname == "" {
		o.Hostname = "pi"
	}
	o.Now = clk.now
	return New(&o), clk
}

// serve runs a request through g.Handler in front of a handler that
// answers "ok" and the query it got.
func serve(g *Guard, remote, host, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = remote
	r.Host = host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.RawQuery)
	})).ServeHTTP(w, r)
	return w
}

// jsonError decodes the error body and checks its content type.
func jsonError(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	return e.Error
}

func TestTokenRequired(t *testing.T) {
	g, _ := newGuard(Options{Token: tok, TrustLoopback: true})
	lan := "192.168.1.20:5000"
	for _, tc := range []struct {
		name, remote, host, target string
		hdr                        map[string]string
		want                       int
	}{
		{"no token from the LAN", lan, "pi:8080", "/", nil, 401},
		{"no token on the API", lan, "pi.local:8080", "/api/sensors", nil, 401},
		{"bearer", lan, "pi:8080", "/api/sensors", map[string]string{"Authorization": "Bearer " + tok}, 200},
		{"bearer, any case", lan, "pi:8080", "/api/sensors", map[string]string{"Authorization": "bearer " + tok}, 200},
		{"wrong bearer", lan, "pi:8080", "/api/sensors", map[string]string{"Authorization": "Bearer x" + tok}, 401},
		{"basic is not a token", lan, "pi:8080", "/api/sensors", map[string]string{"Authorization": "Basic " + tok}, 401},
		{"cookie", lan, "192.168.1.5:8080", "/", map[string]string{"Cookie": CookieName + "=" + tok}, 200},
		{"loopback, loopback host", "127.0.0.1:4000", "localhost:8080", "/", nil, 200},
		{"loopback, [::1]", "[::1]:4000", "[::1]:8080", "/api/sensors", nil, 200},
		{"loopback, 127.0.0.1", "127.0.0.1:4000", "127.0.0.1:8080", "/", nil, 200},
		// A reverse proxy on the machine: loopback address, public Host.
		{"loopback address, LAN host", "127.0.0.1:4000", "pi:8080", "/", nil, 401},
		// A forwarded port: the Host says loopback, the address does not.
		{"LAN address, loopback host", lan, "127.0.0.1:8080", "/", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(g, tc.remote, tc.host, tc.target, tc.hdr)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 401 {
				jsonError(t, w)
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
	// Without TrustLoopback, loopback needs the token too.
	g2, _ := newGuard(Options{Token: tok})
	if w := serve(g2, "127.0.0.1:1", "localhost", "/", nil); w.Code != 401 {
		t.Errorf("loopback without TrustLoopback: %d", w.Code)
	}
	// auth = "none": no token needed, the Host rule still holds.
	g3, _ := newGuard(Options{})
	if w := serve(g3, "10.0.0.9:1", "pi", "/", nil); w.Code != 200 {
		t.Errorf("no token configured: %d", w.Code)
	}
	if w := serve(g3, "10.0.0.9:1", "evil.example", "/", nil); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("no token configured, foreign Host: %d", w.Code)
	}
}

func TestTokenInURLSetsCookieAndRedirects(t *testing.T) {
	g, _ := newGuard(Options{Token: tok})
	w := serve(g, "192.168.1.20:5000", "pi:8080", "/?token="+tok+"&x=1", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/?x=1" {
		t.Fatalf("status %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	cs := (&http.Response{Header: w.Header()}).Cookies()
	if len(cs) != 1 || cs[0].Name != CookieName || cs[0].Value != tok || !cs[0].HttpOnly ||
		cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/" {
		t.Fatalf("cookies %+v", cs)
	}
	// The cookie then opens the page.
	if w := serve(g, "192.168.1.20:5000", "pi:8080", "/?x=1", map[string]string{"Cookie": cs[0].String()}); w.Code != 200 {
		t.Fatalf("with the cookie: %d", w.Code)
	}
	// On the API the token is taken out of the query, with no redirect.
	w = serve(g, "192.168.1.20:5000", "pi:8080", "/api/history?token="+tok+"&sensor=a", nil)
	if w.Code != 200 || w.Body.String() != "ok sensor=a" {
		t.Fatalf("API with ?token=: %d %q", w.Code, w.Body)
	}
	// A wrong token in the URL sets no cookie.
	w = serve(g, "192.168.1.20:5000", "pi:8080", "/?token=wrong-token-wrong-token", nil)
	if w.Code != 401 || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatalf("wrong ?token=: %d, cookies %q", w.Code, w.Header().Values("Set-Cookie"))
	}
}

func TestFailuresThrottled(t *testing.T) {
	var logs bytes.Buffer
	g, clk := newGuard(Options{Token: tok, MaxFailures: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	bad := map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}
	good := map[string]string{"Authorization": "Bearer " + tok}
	for i := range 3 {
		if w := serve(g, "192.168.1.20:5000", "pi", "/api/sensors", bad); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	w := serve(g, "192.168.1.20:5001", "pi", "/api/sensors", good)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "20" {
		t.Fatalf("after 3 failures, the right token: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	jsonError(t, w)
	// Another address is not affected; an IPv6 neighbour in the same /64
	// is the same client.
	if w := serve(g, "192.168.1.21:5000", "pi", "/api/sensors", good); w.Code != 200 {
		t.Fatalf("another address: %d", w.Code)
	}
	for range 3 {
		serve(g, "[2001:db8::1]:5000", "pi", "/api/sensors", bad)
	}
	if w := serve(g, "[2001:db8::ffff]:5000", "pi", "/api/sensors", good); w.Code != 429 {
		t.Fatalf("same /64: %d", w.Code)
	}
	// Failures age out at MaxFailures a minute.
	clk.add(20 * time.Second)
	if w := serve(g, "192.168.1.20:5000", "pi", "/api/sensors", good); w.Code != 200 {
		t.Fatalf("20 s later: %d", w.Code)
	}
	rej := g.Rejections()
	if rej[RejectBadToken] != 6 || rej[RejectThrottled] != 2 {
		t.Fatalf("rejections %v", rej)
	}
	// Logged at Info, once per reason within LogEvery, with the count of
	// the others at the next line.
	if n := strings.Count(logs.String(), "reason=bad-token"); n != 1 {
		t.Errorf("bad-token logged %d times within 10 s:\n%s", n, logs.String())
	}
	clk.add(10 * time.Second)
	serve(g, "192.168.1.22:5000", "pi", "/api/sensors", bad)
	if !strings.Contains(logs.String(), "not_logged_since=5") {
		t.Errorf("no count of the lines not logged:\n%s", logs.String())
	}
}

func TestRebindingHost(t *testing.T) {
	g, _ := newGuard(Options{Hosts: []string{"sensors.example.net"}, TrustLoopback: true})
	for host, want := range map[string]int{
		"pi:8080":                  200,
		"PI.local:8080":            200,
		"pi.local.":                200,
		"localhost:8080":           200,
		"app.localhost":            200,
		"192.168.1.5:8080":         200,
		"[fe80::1]:8080":           200,
		"sensors.example.net":      200,
		"attacker.example:8080":    421,
		"pi.attacker.example:8080": 421,
		"":                         421,
	} {
		w := serve(g, "127.0.0.1:1", host, "/", nil)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
		if want != 200 {
			jsonError(t, w)
		}
	}
	// The Origin check uses the same list.
	for origin, want := range map[string]int{
		"http://pi:8080":                 200,
		"https://sensors.example.net":    200,
		"http://attacker.example":        403,
		"null":                           403,
		"file://pi":                      403,
		"http://attacker.example@pi:80x": 403,
	} {
		w := serve(g, "127.0.0.1:1", "pi:8080", "/", map[string]string{"Origin": origin})
		if w.Code != want {
			t.Errorf("Origin %q: %d, want %d", origin, w.Code, want)
		}
	}
	if r := g.Rejections(); r[RejectHost] != 3 || r[RejectOrigin] != 4 {
		t.Errorf("rejections %v", r)
	}
}

func TestAdmitWSPerIP(t *testing.T) {
	g, _ := newGuard(Options{MaxWSPerIP: 2, TrustLoopback: true})
	admit := func(remote string) (func(), int) {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.RemoteAddr, r.Host = remote, "pi"
		w := httptest.NewRecorder()
		rel, ok := g.Admit(w, r)
		if !ok {
			return nil, w.Code
		}
		return rel, 101
	}
	r1, c1 := admit("10.0.0.2:1")
	_, c2 := admit("10.0.0.2:2")
	_, c3 := admit("10.0.0.2:3")
	_, c4 := admit("10.0.0.3:1")
	if c1 != 101 || c2 != 101 || c3 != 429 || c4 != 101 {
		t.Fatalf("codes %d %d %d %d", c1, c2, c3, c4)
	}
	r1()
	if _, c := admit("10.0.0.2:4"); c != 101 {
		t.Fatalf("after a release: %d", c)
	}
	// Loopback is exempt with TrustLoopback.
	for i := range 5 {
		if _, c := admit("127.0.0.1:9"); c != 101 {
			t.Fatalf("loopback #%d: %d", i, c)
		}
	}
	if g.Rejections()[RejectWSPerIP] != 1 {
		t.Errorf("rejections %v", g.Rejections())
	}
}

func TestConnStateCaps(t *testing.T) {
	g, _ := newGuard(Options{MaxHTTPPerIP: 2, MaxHTTP: 3})
	var conns []*fakeConn
	open := func(remote string) *fakeConn {
		c := &fakeConn{remote: remote}
		g.ConnState(c, http.StateNew)
		conns = append(conns, c)
		return c
	}
	a1, a2, a3 := open("10.0.0.2:1"), open("10.0.0.2:2"), open("10.0.0.2:3")
	if a1.closed || a2.closed || !a3.closed {
		t.Fatalf("per-address cap: closed %v %v %v", a1.closed, a2.closed, a3.closed)
	}
	g.ConnState(a3, http.StateClosed)
	b1 := open("10.0.0.3:1")
	b2 := open("10.0.0.4:1")
	if b1.closed || !b2.closed {
		t.Fatalf("total cap: closed %v %v", b1.closed, b2.closed)
	}
	g.ConnState(b2, http.StateClosed)
	g.ConnState(a1, http.StateHijacked) // a WebSocket now: no longer an HTTP connection
	if c := open("10.0.0.4:2"); c.closed {
		t.Fatal("a hijacked connection still counted")
	}
	r := g.Rejections()
	if r[RejectHTTPPerIP] != 1 || r[RejectHTTP] != 1 {
		t.Fatalf("rejections %v", r)
	}
}

// fakeConn is a net.Conn with a remote address that records Close.
type fakeConn struct {
	net.Conn
	remote string
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", c.remote)
	return a
}
func (c *fakeConn) Close() error { c.closed = true; return nil }

func TestTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	t1, created, err := LoadToken(dir)
	if err != nil || !created || checkToken(t1) != nil {
		t.Fatalf("first LoadToken: %q %v %v", t1, created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v", di.Mode())
	}
	t2, created, err := LoadToken(dir)
	if err != nil || created || t2 != t1 {
		t.Fatalf("second LoadToken: %q %v %v", t2, created, err)
	}
	t3, err := RotateToken(dir)
	if err != nil || t3 == t1 {
		t.Fatalf("RotateToken: %q %v", t3, err)
	}
	if t4, err := ReadToken(dir); err != nil || t4 != t3 {
		t.Fatalf("after rotation: %q %v", t4, err)
	}
	if _, err := ReadToken(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A bad token file is an error that says how to fix it, and is kept.
func TestTokenFileBad(t *testing.T) {
	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"short":    {"abc\n", 0o600, "3 characters"},
		"bad char": {"abcdefghijklmnop qrst\n", 0o600, "character ' '"},
		"readable": {tok + "\n", 0o644, "chmod 600"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, TokenFile)
			os.WriteFile(path, []byte(tc.content), tc.mode)
			os.Chmod(path, tc.mode)
			_, _, err := LoadToken(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and %q", err, path, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("the file was changed to %q", b)
			}
		})
	}
	// A symbolic link is not followed.
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte(tok), 0o600)
	os.Symlink(target, filepath.Join(dir, TokenFile))
	if _, _, err := LoadToken(dir); err == nil {
		t.Error("a symbolic link was followed")
	}
}
