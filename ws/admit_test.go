package ws

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate is an Options.Admit that admits requests carrying the header
// X-Key: open and counts its calls and releases.
type gate struct {
	calls, released atomic.Int32
	mu              sync.Mutex
	seen            []*http.Request
}

func (g *gate) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	g.calls.Add(1)
	g.mu.Lock()
	g.seen = append(g.seen, r)
	g.mu.Unlock()
	if r.Header.Get("X-Key") != "open" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"no key"}`+"\n")
		return nil, false
	}
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			panic("release called twice")
		}
		g.released.Add(1)
	}, true
}

// rawUpgrade sends an upgrade request for /ws with the extra header lines
// and returns the response (its body read) and the connection.
func rawUpgrade(t *testing.T, addr, extra string) (*http.Response, string, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extra + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ = io.ReadAll(resp.Body)
	}
	return resp, string(body), nc
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestAdmitBothPaths(t *testing.T) {
	for _, path := range []string{"net/http", "intercept"} {
		t.Run(path, func(t *testing.T) {
			g := &gate{}
			o := &Options{PingInterval: -1, Admit: g.admit}
			var s *Server
			var addr string
			if path == "intercept" {
				s, addr = startIntercepted(t, o)
			} else {
				var u string
				s, u = startServer(t, o)
				addr = strings.TrimPrefix(u, "ws://")
			}

			// Refused: Admit's own response, status, headers and body.
			resp, body, _ := rawUpgrade(t, addr, "")
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" ||
				resp.Header.Get("Content-Type") != "application/json" || body != `{"error":"no key"}`+"\n" {
				t.Fatalf("refused upgrade: %d %v %q", resp.StatusCode, resp.Header, body)
			}
			if n := g.calls.Load(); n != 1 {
				t.Fatalf("Admit called %d times for one request, want 1", n)
			}
			if st := s.Stats(); st.Refused != 1 || st.Rejected != 1 || st.Conns != 0 {
				t.Fatalf("stats after the refusal: %+v", st)
			}

			// Admitted: the upgrade goes on, the request carries the
			// headers and the remote address, and release runs once when
			// the connection is gone.
			resp, _, nc := rawUpgrade(t, addr, "X-Key: open\r\nCookie: a=b\r\n")
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("admitted upgrade: %d", resp.StatusCode)
			}
			waitFor(t, "the connection", func() bool { return s.Stats().Conns == 1 })
			g.mu.Lock()
			r := g.seen[1]
			g.mu.Unlock()
			if r.Header.Get("Cookie") != "a=b" || r.Host != addr || r.URL.Path != "/ws" || r.RemoteAddr != nc.LocalAddr().String() {
				t.Errorf("Admit saw host %q path %q cookie %q remote %q", r.Host, r.URL.Path, r.Header.Get("Cookie"), r.RemoteAddr)
			}
			if g.released.Load() != 0 {
				t.Fatal("released while the connection is open")
			}
			nc.Close()
			waitFor(t, "the release", func() bool { return g.released.Load() == 1 })
			waitFor(t, "the removal", func() bool { return s.Stats().Conns == 0 })
			if n := g.calls.Load(); n != 2 {
				t.Fatalf("Admit called %d times for two requests", n)
			}
		})
	}
}

// An admitted request that fails a later check (here MaxConns) is released
// and answered 503, and Admit is still asked only once.
func TestAdmitReleasedOnLaterRejection(t *testing.T) {
	for _, path := range []string{"net/http", "intercept"} {
		t.Run(path, func(t *testing.T) {
			g := &gate{}
			o := &Options{PingInterval: -1, Admit: g.admit, MaxConns: 1}
			var s *Server
			var addr string
			if path == "intercept" {
				s, addr = startIntercepted(t, o)
			} else {
				var u string
				s, u = startServer(t, o)
				addr = strings.TrimPrefix(u, "ws://")
			}
			if resp, _, _ := rawUpgrade(t, addr, "X-Key: open\r\n"); resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("first upgrade: %d", resp.StatusCode)
			}
			waitFor(t, "the connection", func() bool { return s.Stats().Conns == 1 })
			resp, _, _ := rawUpgrade(t, addr, "X-Key: open\r\n")
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("upgrade above MaxConns: %d", resp.StatusCode)
			}
			if g.calls.Load() != 2 || g.released.Load() != 1 {
				t.Fatalf("calls %d, released %d; want 2 and 1", g.calls.Load(), g.released.Load())
			}
		})
	}
}

// Above MaxHandshakes, Intercept closes new connections unread.
func TestInterceptMaxHandshakes(t *testing.T) {
	s := NewServer(&Options{PingInterval: -1, MaxHandshakes: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	il := s.Intercept(ln, "/ws").(*interceptor)
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(il)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Shutdown(ctx)
	})
	addr := ln.Addr().String()
	reading := func() int {
		il.mu.Lock()
		defer il.mu.Unlock()
		return len(il.reading)
	}
	var slow []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, "GET /w") // may still become an upgrade: Intercept keeps reading
		slow = append(slow, nc)
	}
	waitFor(t, "two heads being read", func() bool { return reading() == 2 })

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: read %d, %v; want EOF (shed)", n, err)
	}
	if st := s.Stats(); st.Shed != 1 || st.Rejected != 1 {
		t.Fatalf("stats: %+v", st)
	}

	slow[0].Close()
	waitFor(t, "a free slot", func() bool { return reading() == 1 })
	c := dial(t, "ws://"+addr+"/ws", nil)
	waitFor(t, "the upgrade", func() bool { return s.Stats().Conns == 1 })
	c.NetConn().Close()
}
