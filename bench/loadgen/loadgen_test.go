package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
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
	p := StartPush(conns, time.Minute)
	for srv.Stats().Conns < 5 {
		time.Sleep(time.Millisecond)
	}
	// One broadcast at a time: ws drops the oldest of a full queue.
	deadline := time.Now().Add(10 * time.Second)
	for seq := 1; seq <= 20; seq++ {
		srv.Broadcast([]byte(`{"type":"push","seq":` + itoa(seq) + `,"ts":` + itoa(int(time.Now().UnixMilli())) + `}`))
		for p.Received() < int64(5*seq) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if f := p.Fresh(time.Minute); f != 1 {
		t.Errorf("Fresh(1m) = %v after broadcasts stamped now, want 1", f)
	}
	// One stamped an hour ago: received, but not on time.
	srv.Broadcast([]byte(`{"type":"push","seq":30,"ts":` + itoa(int(time.Now().Add(-time.Hour).UnixMilli())) + `}`))
	for p.Received() < 5*21 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	sp := p.Spread(1, 21)
	old := p.Spread(21, 31)
	if f := p.Fresh(time.Minute); f != 0 {
		t.Errorf("Fresh(1m) = %v when the newest broadcast is an hour old, want 0", f)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.MaxSeq() != 30 || sp.Broadcasts != 20 || sp.Sent != 20 || sp.Complete != 20 || sp.Delivered != 1 || sp.P99 < sp.P50 {
		t.Fatalf("max seq %d, spread %+v; want 20 broadcasts, all complete", p.MaxSeq(), sp)
	}
	if sp.OnTime != 1 || sp.LagP99 > time.Minute || sp.LagP99 < sp.LagP50 {
		t.Fatalf("spread %+v; want every frame on time", sp)
	}
	if old.Broadcasts != 10 || old.Sent != 1 || old.Complete != 1 || old.Delivered != 0.1 || old.OnTime != 0 ||
		old.LagP99 < time.Hour || old.LagP99 > time.Hour+time.Minute {
		t.Fatalf("spread of 9 broadcasts never sent and one an hour late: %+v", old)
	}
}

// TestSpreadLag fills the slots by hand: a broadcast that missed a client
// has an unbounded lag, and the percentiles see it.
func TestSpreadLag(t *testing.T) {
	p := &Push{slots: make([]slot, spreadSlots), conns: make([]*Conn, 2), wall: 10 * int64(time.Second)}
	set := func(seq uint64, count, onTime int32, last time.Duration, tsMS int64) {
		s := &p.slots[seq]
		s.count.Store(count)
		s.onTime.Store(onTime)
		s.first.Store(int64(last) - 1)
		s.last.Store(int64(last))
		s.ts.Store(tsMS)
	}
	// Due at 10 s + seq ms; lags 2 ms, 5 ms, (missed a client), 3 ms.
	set(1, 2, 2, 3*time.Millisecond, 10_001)
	set(2, 2, 2, 7*time.Millisecond, 10_002)
	set(3, 1, 1, 8*time.Millisecond, 10_003)
	set(5, 2, 1, 8*time.Millisecond, 10_005)
	sp := p.Spread(1, 6)
	if sp.Broadcasts != 5 || sp.Sent != 4 || sp.Complete != 3 || sp.Delivered != 0.7 || sp.OnTime != 0.6 {
		t.Fatalf("counts %+v", sp)
	}
	if sp.LagP50 != 3*time.Millisecond || sp.LagP99 != Unbounded || sp.CompleteLagP99 != 5*time.Millisecond {
		t.Fatalf("lags %+v", sp)
	}
	if sp := p.Spread(4, 5); sp.Sent != 0 || sp.LagP99 != 0 {
		t.Fatalf("a range nobody received: %+v", sp)
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
	for _, in := range []string{`{}`, `{"seq":}`, `{"seq":"1"}`, `{"seq":12345678901234567890}`} {
		if _, ok := pushSeq([]byte(in)); ok {
			t.Errorf("pushSeq(%s) ok", in)
		}
	}
	if n, ok := pushTS([]byte(`{"seq":1,"ts":1795721607120}`)); !ok || n != 1795721607120 {
		t.Errorf("pushTS = %d %v", n, ok)
	}
	for _, in := range []string{`{"seq":1}`, `{"ts":0}`, `{"ts":9223372036855}`, `{"ts":-5}`} {
		if _, ok := pushTS([]byte(in)); ok {
			t.Errorf("pushTS(%s) ok", in)
		}
	}
}

// TestPushNoTS: a push message without a "ts" fails the run.
func TestPushNoTS(t *testing.T) {
	addr, srv := server(t)
	conns, err := DialN(addr, "/push", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := StartPush(conns, time.Second)
	for srv.Stats().Conns < 1 {
		time.Sleep(time.Millisecond)
	}
	srv.Broadcast([]byte(`{"type":"push","seq":1}`))
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		failed := p.err != nil
		p.mu.Unlock()
		if failed || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Stop(); !errors.Is(err, ErrFrame) {
		t.Fatalf("Stop = %v, want ErrFrame", err)
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
		if n, ok := pushTS(b); ok && n <= 0 {
			t.Fatalf("pushTS = %d", n)
		}
	})
}

// TestFresh: a client is fresh when its newest broadcast is recent; one
// that received nothing is not.
func TestFresh(t *testing.T) {
	p := &Push{slots: make([]slot, spreadSlots), conns: make([]*Conn, 3), newest: make([]atomic.Uint64, 3)}
	p.slots[1].ts.Store(time.Now().UnixMilli())
	p.slots[2].ts.Store(time.Now().Add(-time.Hour).UnixMilli())
	p.newest[0].Store(1)
	p.newest[1].Store(2)
	if f := p.Fresh(time.Minute); f != 1.0/3 {
		t.Fatalf("Fresh = %v, want 1/3", f)
	}
	if f := (&Push{}).Fresh(time.Minute); f != 0 {
		t.Fatalf("Fresh without clients = %v", f)
	}
}

// TestDialSubprotocols: the offered subprotocol is agreed when the server
// supports it and not otherwise, and BytesRead counts the handshake
// response plus exactly the frames read, not the bytes read ahead.
func TestDialSubprotocols(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 300) // a 2-byte extended length: header 4 bytes
	srv := ws.NewServer(&ws.Options{Subprotocols: []string{"b.proto"},
		OnOpen: func(c *ws.Conn) { _ = c.Write(ws.MessageText, msg); _ = c.Write(ws.MessageText, msg) }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); _ = srv.Shutdown(t.Context()) })
	addr := ln.Addr().String()

	for _, tt := range []struct {
		offer []string
		want  string
	}{{nil, ""}, {[]string{"a.proto"}, ""}, {[]string{"a.proto", "b.proto"}, "b.proto"}} {
		c, err := DialSubprotocols(addr, "/", tt.offer...)
		if err != nil {
			t.Fatalf("offer %q: %v", tt.offer, err)
		}
		if got := c.Subprotocol(); got != tt.want {
			t.Errorf("offer %q: Subprotocol() = %q, want %q", tt.offer, got, tt.want)
		}
		hand := c.BytesRead()
		if hand < int64(len("HTTP/1.1 101 \r\n\r\n")) {
			t.Errorf("offer %q: BytesRead() after the handshake = %d", tt.offer, hand)
		}
		buf := make([]byte, 1024)
		for i := int64(1); i <= 2; i++ {
			if _, p, err := c.ReadFrame(buf); err != nil || !bytes.Equal(p, msg) {
				t.Fatalf("offer %q: frame %d: %q, %v", tt.offer, i, p, err)
			}
			if got, want := c.BytesRead(), hand+i*int64(4+len(msg)); got != want {
				t.Errorf("offer %q: BytesRead() after %d frames = %d, want %d", tt.offer, i, got, want)
			}
		}
		c.Close()
	}
}

// TestDialSubprotocolNotOffered: a server that picks a subprotocol the
// client did not offer is refused.
func TestDialSubprotocolNotOffered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: x\r\nSec-WebSocket-Protocol: other\r\n\r\n")
	}()
	if _, err := DialSubprotocols(ln.Addr().String(), "/", "mine"); !errors.Is(err, ErrSubprotocol) {
		t.Errorf("DialSubprotocols = %v, want ErrSubprotocol", err)
	}
}
