package ws

import (
	"bufio"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const plainUpgrade = "GET /ws HTTP/1.1\r\nHost: pi.local:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// TestParseUpgradeHead: plain upgrades are read without net/http, and every
// unusual form is left to it.
func TestParseUpgradeHead(t *testing.T) {
	s := NewServer(&Options{Subprotocols: []string{"chat"}})
	withField := func(f string) string { return strings.Replace(plainUpgrade, "\r\n\r\n", "\r\n"+f+"\r\n\r\n", 1) }
	for _, tc := range []struct {
		name, head string
		parsed     bool // parseUpgradeHead takes it
		upgrade    bool // and checkHead accepts it
	}{
		{"plain", plainUpgrade, true, true},
		{"query", strings.Replace(plainUpgrade, "/ws ", "/ws?id=3&x=%41 ", 1), true, true},
		{"same origin", withField("Origin: http://PI.local:8080"), true, true},
		{"foreign origin", withField("Origin: http://evil.example"), true, false},
		{"subprotocol", withField("Sec-WebSocket-Protocol: x, chat"), true, true},
		{"tokens", strings.Replace(plainUpgrade, "Connection: Upgrade", "connection:keep-alive, upgrade", 1), true, true},
		{"other fields", withField("User-Agent: test/1.0 (x)\r\nCookie: a=b"), true, true},
		{"version 8", strings.Replace(plainUpgrade, "Version: 13", "Version: 8", 1), true, false},
		{"short key", strings.Replace(plainUpgrade, "dGhlIHNhbXBsZSBub25jZQ==", "abc", 1), true, false},
		{"no key", strings.Replace(plainUpgrade, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), true, false},
		{"other path", strings.Replace(plainUpgrade, "/ws ", "/wsx ", 1), false, false},
		{"escaped path", strings.Replace(plainUpgrade, "/ws ", "/w%73 ", 1), false, false},
		{"fragment", strings.Replace(plainUpgrade, "/ws ", "/ws?a#b ", 1), false, false},
		{"HTTP/1.0", strings.Replace(plainUpgrade, "HTTP/1.1", "HTTP/1.0", 1), false, false},
		{"POST", strings.Replace(plainUpgrade, "GET", "POST", 1), false, false},
		{"two keys", withField("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), false, false},
		{"two hosts", withField("Host: other"), false, false},
		{"folded", withField("X-A: 1\r\n 2"), false, false},
		{"space before colon", withField("X-A : 1"), false, false},
		{"body", withField("Content-Length: 0"), false, false},
		{"chunked", withField("Transfer-Encoding: chunked"), false, false},
		{"bad host", strings.Replace(plainUpgrade, "pi.local:8080", "pi local", 1), false, false},
		{"empty host", strings.Replace(plainUpgrade, "pi.local:8080", "", 1), false, false},
		{"no host", strings.Replace(plainUpgrade, "Host: pi.local:8080\r\n", "", 1), true, false},
		{"non-ASCII value", withField("X-A: caf\xc3\xa9"), false, false},
		{"bare LF", withField("X-A: 1\nX-B: 2"), false, false},
		{"bytes after", plainUpgrade + "x", false, false},
	} {
		h, ok := parseUpgradeHead(tc.head, "/ws")
		if ok != tc.parsed {
			t.Errorf("%s: parsed %v, want %v", tc.name, ok, tc.parsed)
			continue
		}
		if !ok {
			continue
		}
		if _, up := s.checkHead(&h); up != tc.upgrade {
			t.Errorf("%s: upgrade %v, want %v", tc.name, up, tc.upgrade)
		}
	}
}

// TestParseUpgradeHeadAllocs: the fast path's parser and checks allocate
// nothing.
func TestParseUpgradeHeadAllocs(t *testing.T) {
	s := NewServer(nil)
	head := strings.Replace(plainUpgrade, "\r\n\r\n", "\r\nOrigin: http://pi.local:8080\r\n\r\n", 1)
	if n := testing.AllocsPerRun(100, func() {
		h, ok := parseUpgradeHead(head, "/ws")
		if _, up := s.checkHead(&h); !ok || !up {
			t.Fatal("plain upgrade refused")
		}
	}); n > 1 { // url.Parse of the Origin: one
		t.Errorf("%v allocations per upgrade head", n)
	}
}

// FuzzUpgradeHead: a head the fast path takes reads the same through
// net/http's parser, and the fast checks agree with ServeHTTP's.
func FuzzUpgradeHead(f *testing.F) {
	f.Add(plainUpgrade)
	f.Add(strings.Replace(plainUpgrade, "\r\n\r\n", "\r\nOrigin: http://pi.local:8080\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 1))
	f.Add(strings.Replace(plainUpgrade, "/ws ", "/ws?x=1 ", 1))
	s := NewServer(&Options{Subprotocols: []string{"chat", "mqtt"}, AllowedOrigins: []string{"http://a.example"}})
	f.Fuzz(func(t *testing.T, head string) {
		h, ok := parseUpgradeHead(head, "/ws")
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path took %q, net/http: %v", head, err)
		}
		if r.URL.Path != "/ws" || r.Host != h.host || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			t.Fatalf("%q: net/http reads path %q host %q body %d %v", head, r.URL.Path, r.Host, r.ContentLength, r.TransferEncoding)
		}
		for name, f := range map[string]struct {
			v   string
			bit uint8
		}{
			"Connection": {h.connection, seenConnection}, "Upgrade": {h.upgrade, seenUpgrade},
			"Sec-WebSocket-Version": {h.version, seenVersion}, "Sec-WebSocket-Key": {h.key, seenKey},
			"Origin": {h.origin, seenOrigin}, "Sec-WebSocket-Protocol": {h.protocol, seenProtocol},
		} {
			var want []string
			if h.seen&f.bit != 0 {
				want = []string{f.v}
			}
			if got := r.Header.Values(name); !slices.Equal(got, want) {
				t.Fatalf("%q: %s: net/http %q, fast path %q", head, name, got, want)
			}
		}
		key, status, _ := checkUpgrade(r)
		// net/http's server answers 400 to an HTTP/1.1 request without Host.
		wantUp := status == http.StatusOK && s.originAllowed(r) && r.Host != ""
		gotKey, up := s.checkHead(&h)
		if up != wantUp || (up && gotKey != key) {
			t.Fatalf("%q: fast path upgrade %v key %q, ServeHTTP %v key %q", head, up, gotKey, wantUp, key)
		}
		var sub string
		if h.seen&seenProtocol != 0 {
			sub = s.pickSubprotocol(h.protocol)
		}
		if want := s.pickSubprotocol(r.Header.Values("Sec-WebSocket-Protocol")...); sub != want {
			t.Fatalf("%q: subprotocol %q, ServeHTTP %q", head, sub, want)
		}
	})
}
