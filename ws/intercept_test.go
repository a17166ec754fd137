package ws

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// startIntercepted serves s at /ws through Intercept and a plain handler
// at every other path, on 127.0.0.1.
func startIntercepted(t *testing.T, o *Options) (*Server, string) {
	t.Helper()
	s := NewServer(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", s)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "page "+r.URL.Path)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(s.Intercept(ln, "/ws")) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http Shutdown: %v", err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func TestInterceptUpgradesAndServesHTTP(t *testing.T) {
	rec := newRecorder()
	s, addr := startIntercepted(t, rec.opts(&Options{PingInterval: -1}))
	c := dial(t, "ws://"+addr+"/ws", nil)
	waitConns(t, s, 1)
	s.mu.RLock()
	if _, replayed := s.conns[0].nc.(*replayConn); replayed || s.conns[0].raw == nil {
		t.Error("the upgrade went through net/http, not the intercepted path")
	}
	s.mu.RUnlock()
	s.Broadcast([]byte("hello"))
	if p, err := c.ReadText(); err != nil || string(p) != "hello" {
		t.Fatalf("read %q, %v", p, err)
	}
	if err := c.WriteText("up"); err != nil {
		t.Fatal(err)
	}
	if got := rec.msg(t); got != "up" {
		t.Fatalf("message %q", got)
	}
	// Plain HTTP on the same listener, including paths that share the
	// prefix and a request with a body.
	for _, path := range []string{"/", "/wsx", "/ws/more", "/index.html"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "page "+path {
			t.Fatalf("GET %s: %q", path, b)
		}
	}
	resp, err := http.Post("http://"+addr+"/ws", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /ws: %d", resp.StatusCode)
	}
}

// TestInterceptFallsBackToNetHTTP: whatever the fast path does not take
// gets net/http's answer, as without Intercept.
func TestInterceptFallsBackToNetHTTP(t *testing.T) {
	s, addr := startIntercepted(t, &Options{PingInterval: -1, MaxConns: 2})
	raw := func(req string) string {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(nc, req); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 512)
		n, _ := io.ReadAtLeast(nc, b, 12)
		return string(b[:n])
	}
	up := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	key := "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tc := range []struct{ name, req, want string }{
		{"bad key", up + "Sec-WebSocket-Key: short\r\n\r\n", "HTTP/1.1 400"},
		{"version 8", strings.Replace(up, "13", "8", 1) + key + "\r\n", "HTTP/1.1 426"},
		{"foreign origin", up + key + "Origin: http://evil.example\r\n\r\n", "HTTP/1.1 403"},
		{"no host", strings.Replace(up, "Host: x\r\n", "", 1) + key + "\r\n", "HTTP/1.1 400"},
		{"garbage", "GET /ws \x00\r\n\r\n", "HTTP/1.1 400"},
		{"long head", up + key + "Cookie: " + strings.Repeat("c", 5000) + "\r\n\r\n", "HTTP/1.1 101"},
		{"query", strings.Replace(up, "/ws", "/ws?x=1", 1) + key + "\r\n", "HTTP/1.1 101"},
	} {
		if got := raw(tc.req); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: response %q, want %s", tc.name, got, tc.want)
		}
	}
	// An upgrade that went through net/http (its head was too long) uses
	// the socket itself, not the wrapper that replayed its first bytes.
	long := dial(t, "ws://"+addr+"/ws", http.Header{"Cookie": {strings.Repeat("c", 5000)}})
	waitConns(t, s, 1)
	s.mu.RLock()
	if _, ok := s.conns[0].nc.(*net.TCPConn); !ok || s.conns[0].raw == nil {
		t.Errorf("upgrade through net/http: conn %T, raw %v", s.conns[0].nc, s.conns[0].raw)
	}
	s.mu.RUnlock()
	long.NetConn().Close()
	for i := 0; i < 500 && s.Stats().Conns > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}

	// MaxConns reached: the fast path declines, ServeHTTP answers 503.
	a := dial(t, "ws://"+addr+"/ws", nil)
	b := dial(t, "ws://"+addr+"/ws", nil)
	waitConns(t, s, 2)
	if got := raw(up + key + "\r\n"); !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Errorf("above MaxConns: %q", got)
	}
	_, _ = a, b
}

// TestInterceptSlowAndLeftover: a request head split across writes, with
// the client's first frame in the same write as its end, and a client
// that connects and sends nothing until after HandshakeTimeout.
func TestInterceptSlowAndLeftover(t *testing.T) {
	rec := newRecorder()
	s, addr := startIntercepted(t, rec.opts(&Options{PingInterval: -1, HandshakeTimeout: 200 * time.Millisecond}))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	head := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	for _, part := range []string{head[:3], head[3:9], head[9:40]} {
		if _, err := io.WriteString(nc, part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := nc.Write(append([]byte(head[40:]), cframe(true, wstest.OpText, "first")...)); err != nil {
		t.Fatal(err)
	}
	if got := rec.msg(t); got != "first" {
		t.Fatalf("message %q", got)
	}
	resp := make([]byte, 12)
	if _, err := io.ReadFull(nc, resp); err != nil || string(resp) != "HTTP/1.1 101" {
		t.Fatalf("response %q, %v", resp, err)
	}

	// Silent past HandshakeTimeout, then a plain request: net/http serves it.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(400 * time.Millisecond)
	_ = idle.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(idle, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 256)
	n, _ := io.ReadAtLeast(idle, b, 12)
	if !bytes.HasPrefix(b[:n], []byte("HTTP/1.1 200")) || !bytes.Contains(b[:n], []byte("page /late")) {
		t.Fatalf("late request: %q", b[:n])
	}
	if st := s.Stats(); st.Conns != 1 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHeadEnd(t *testing.T) {
	p := []byte("GET /ws")
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"GE", 0},
		{"GET /w", 0},
		{"GET /ws", 0},
		{"GET /ws HTTP/1.1\r\n", 0},
		{"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 29},
		{"GET /ws?a HTTP/1.1\r\n\r\nrest", 22},
		{"GET /wsx HTTP/1.1\r\n\r\n", -1},
		{"POST /ws HTTP/1.1\r\n\r\n", -1},
		{"get /ws HTTP/1.1\r\n\r\n", -1},
		{"GET / HTTP/1.1\r\n\r\n", -1},
	} {
		if got := headEnd([]byte(tc.in), p); got != tc.want {
			t.Errorf("headEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// FuzzHeadEnd: headEnd never panics, and a head it accepts starts with the
// prefix, ends with the blank line and lies within the input.
func FuzzHeadEnd(f *testing.F) {
	for _, s := range []string{"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "GET /ws?x", "GET /wsx", "\r\n\r\n", "GET /ws\r\n\r\n"} {
		f.Add([]byte(s))
	}
	p := []byte("GET /ws")
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headEnd(b, p)
		if n <= 0 {
			return
		}
		if n > len(b) || !bytes.HasPrefix(b, p) || !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) {
			t.Fatalf("headEnd(%q) = %d", b, n)
		}
		if len(b) > len(p) && b[len(p)] != ' ' && b[len(p)] != '?' {
			t.Fatalf("headEnd(%q) = %d for another path", b, n)
		}
	})
}
