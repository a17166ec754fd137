package ws

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// startServer serves a new ws.Server on 127.0.0.1 (a port chosen at run
// time) and shuts both down when the test ends.
func startServer(t testing.TB, o *Options) (*Server, string) {
	t.Helper()
	s := NewServer(o)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ts.Close()
	})
	return s, "ws" + strings.TrimPrefix(ts.URL, "http")
}

// dial connects a test client and closes it when the test ends.
func dial(t testing.TB, url string, h http.Header) *wstest.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, url, h)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.NetConn().Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readClose reads until the server's close frame and returns its code; an
// empty close reports 0. It also checks that the server then closes TCP.
func readClose(t *testing.T, c *wstest.Conn) uint16 {
	t.Helper()
	for range 100 {
		op, _, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage before close: %v", err)
		}
		if op == wstest.OpClose {
			code, _, _ := c.CloseCode()
			if _, _, _, err := c.ReadFrame(); err == nil {
				t.Fatalf("frame after close frame")
			}
			return code
		}
	}
	t.Fatal("no close frame in 100 messages")
	return 0
}

// hijackRW is a ResponseWriter over one end of a net.Pipe, for tests of the
// handshake without a real listener (testing/synctest needs net.Pipe).
type hijackRW struct {
	h        http.Header
	nc       net.Conn
	brw      *bufio.ReadWriter
	status   int
	hijacked bool
}

func (w *hijackRW) Header() http.Header { return w.h }
func (w *hijackRW) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *hijackRW) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
func (w *hijackRW) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, errors.New("already hijacked")
	}
	w.hijacked = true
	return w.nc, w.brw, nil
}

// servePipe runs a minimal HTTP/1.1 server for one request on srv.
func servePipe(s *Server, srv net.Conn) {
	br := bufio.NewReader(srv)
	req, err := http.ReadRequest(br)
	if err != nil {
		srv.Close()
		return
	}
	rw := &hijackRW{h: http.Header{}, nc: srv, brw: bufio.NewReadWriter(br, bufio.NewWriter(srv))}
	s.ServeHTTP(rw, req)
	if !rw.hijacked {
		srv.Close()
	}
}

// pipeDial connects a test client to s over net.Pipe. It must run in a
// synctest bubble: it waits until the server side has joined the broadcast
// set and its reader is blocked.
func pipeDial(t testing.TB, s *Server) *wstest.Conn {
	t.Helper()
	cli, srv := net.Pipe()
	go servePipe(s, srv)
	c, _, err := wstest.Handshake(context.Background(), cli, "ws://pipe/", nil)
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	synctest.Wait()
	return c
}

// recorder collects OnMessage payloads and OnClose errors.
type recorder struct {
	mu     sync.Mutex
	msgs   chan string
	closed chan error
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan string, 100), closed: make(chan error, 100)}
}

func (r *recorder) opts(o *Options) *Options {
	o.OnMessage = func(c *Conn, _ MessageType, p []byte) { r.msgs <- string(p) }
	o.OnClose = func(c *Conn, err error) { r.closed <- err }
	return o
}

func (r *recorder) msg(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

func (r *recorder) closeErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.closed:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called")
		return nil
	}
}
