package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws"
)

// server runs package ws on a free loopback port: /push only receives
// broadcasts, / echoes.
func server(t *testing.T) (addr string, push *ws.Server) {
	t.Helper()
	echo := ws.NewServer(&ws.Options{ReadLimit: 4096, SendQueue: 16,
		OnMessage: func(c *ws.Conn, typ ws.MessageType, p []byte) { _ = c.Write(typ, p) }})
	push = ws.NewServer(nil)
	mux := http.NewServeMux()
	mux.Handle("/push", push)
	mux.Handle("/", echo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		_ = echo.Shutdown(t.Context())
		_ = push.Shutdown(t.Context())
	})
	return ln.Addr().String(), push
}

func TestPushSpread(t *testing.T) {
	addr, srv := server(t)
	conns, err := DialN(addr, "/push", 5)
	if err != nil {
		t.Fatal(err)
	}
	p := StartPush(conns)
	for srv.Stats().Conns < 5 {
		time.Sleep(time.Millisecond)
	}
	// One broadcast at a time: ws drops the oldest of a full queue.
	deadline := time.Now().Add(10 * time.Second)
	for seq := 1; seq <= 20; seq++ {
		srv.Broadcast([]byte(`{"type":"push","seq":` + itoa(seq) + `,"ts":1}`))
		for p.Received() < int64(5*seq) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	sp := p.Spread(1, 21)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.MaxSeq() != 20 || sp.Broadcasts != 20 || sp.Complete != 20 || sp.Delivered != 1 || sp.P99 < sp.P50 {
		t.Fatalf("max seq %d, spread %+v; want 20 broadcasts, all complete", p.MaxSeq(), sp)
	}
	if sp := p.Spread(21, 31); sp.Complete != 0 || sp.Delivered != 0 {
		t.Fatalf("spread of broadcasts never sent: %+v", sp)
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestEcho(t *testing.T) {
	addr, _ := server(t)
	conns, err := DialN(addr, "/", 3)
	if err != nil {
		t.Fatal(err)
	}
	e := StartEcho(conns, 4, 300) // 300 bytes: a 16-bit length
	deadline := time.Now().Add(10 * time.Second)
	for e.Received() < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if e.Received() < 100 {
		t.Fatalf("%d echoes in 10s", e.Received())
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.NotFoundHandler())
	defer ln.Close()
	if _, err := DialN(ln.Addr().String(), "/push", 3); !errors.Is(err, ErrHandshake) {
		t.Fatalf("DialN to a plain HTTP server: %v, want ErrHandshake", err)
	}
}

// discard is a net.Conn whose writes (pongs) go nowhere.
type discard struct{ net.Conn }

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func reader(b []byte) *Conn { return &Conn{nc: discard{}, br: bufio.NewReader(bytes.NewReader(b))} }

func TestReadFrame(t *testing.T) {
	unmasked := func(op byte, fin bool, p string) []byte {
		b := AppendFrame(nil, op, []byte(p))
		// Strip the mask: servers send unmasked frames.
		out := []byte{b[0], b[1] &^ 0x80}
		if !fin {
			out[0] &^= 0x80
		}
		return append(out, p...)
	}
	var in []byte
	in = append(in, unmasked(OpText, false, "hel")...)
	in = append(in, unmasked(OpPing, true, "x")...)
	in = append(in, unmasked(0, true, "lo")...)
	in = append(in, unmasked(OpClose, true, "")...)
	c := reader(in)
	buf := make([]byte, 64)
	op, p, err := c.ReadFrame(buf)
	if err != nil || op != OpText || string(p) != "hello" {
		t.Fatalf("ReadFrame = %d %q %v, want text hello", op, p, err)
	}
	if op, _, err := c.ReadFrame(buf); err != nil || op != OpClose {
		t.Fatalf("ReadFrame = %d %v, want close", op, err)
	}
	if _, _, err := c.ReadFrame(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame at the end: %v, want EOF", err)
	}
	for name, b := range map[string][]byte{
		"masked":       AppendFrame(nil, OpText, []byte("x")),
		"rsv":          {0xc1, 0},
		"too large":    unmasked(OpText, true, string(make([]byte, 65))),
		"continuation": unmasked(0, true, "x"),
		"big control":  append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
	} {
		if _, _, err := reader(b).ReadFrame(buf); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
}

func TestPushSeq(t *testing.T) {
	for in, want := range map[string]uint64{`{"seq":42,"x":1}`: 42, `"seq":7`: 7} {
		if n, ok := pushSeq([]byte(in)); !ok || n != want {
			t.Errorf("pushSeq(%s) = %d %v", in, n, ok)
		}
	}
	for _, in := range []string{`{}`, `{"seq":}`, `{"seq":"1"}`} {
		if _, ok := pushSeq([]byte(in)); ok {
			t.Errorf("pushSeq(%s) ok", in)
		}
	}
}

func TestPercentile(t *testing.T) {
	if Percentile(nil, 99) != 0 {
		t.Fatal("empty")
	}
	d := []time.Duration{5, 1, 4, 2, 3}
	if p := Percentile(d, 50); p != 3 {
		t.Fatalf("p50 = %v", p)
	}
	if p := Percentile(d, 99); p != 5 {
		t.Fatalf("p99 = %v", p)
	}
}

// FuzzReadFrame: no input makes the reader panic or return a payload
// longer than its buffer.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x81, 2, 'h', 'i'})
	f.Add([]byte{0x01, 1, 'a', 0x89, 0, 0x80, 1, 'b'})
	f.Add([]byte{0x82, 126, 0, 3, 1, 2, 3})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := reader(b)
		buf := make([]byte, 256)
		for range 100 {
			_, p, err := c.ReadFrame(buf)
			if err != nil {
				return
			}
			if len(p) > len(buf) {
				t.Fatalf("payload of %d bytes", len(p))
			}
		}
	})
}

// FuzzPushSeq: pushSeq never panics and finds what a push message holds.
func FuzzPushSeq(f *testing.F) {
	f.Add([]byte(`{"type":"push","seq":1,"ts":2}`))
	f.Add([]byte(`"seq":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = pushSeq(b)
	})
}
