package ws

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// masked100 is a masked client text frame with a 100-byte payload.
var masked100 = wstest.Frame(true, wstest.OpText, []byte(strings.Repeat(`{"cmd":"x"}`, 10)[:100]), true, testKey)

// fragmented100 is a 100-byte text message in three fragments with a ping
// between the first two.
var fragmented100 = func() []byte {
	msg := []byte(strings.Repeat(`{"cmd":"é"}`, 10)[:100])
	var b []byte
	b = append(b, wstest.Frame(false, wstest.OpText, msg[:41], true, testKey)...)
	b = append(b, wstest.Frame(true, wstest.OpPing, []byte("p"), true, testKey)...)
	b = append(b, wstest.Frame(false, wstest.OpContinuation, msg[41:70], true, testKey)...)
	return append(b, wstest.Frame(true, wstest.OpContinuation, msg[70:], true, testKey)...)
}()

// maskedPing is a masked client ping with an 8-byte payload.
var maskedPing = wstest.Frame(true, wstest.OpPing, []byte("ping1234"), true, testKey)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (cli, srv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli, srv
}

// pongBuf receives the pong in the round trip; a package variable so that
// reading into it does not allocate.
var pongBuf [2 + 8]byte

// pingPong is one round trip: the client writes a masked ping, the server
// reads and parses it and its writer sends the pong, which the client
// reads. The writer runs synchronously (the connection is held, so the
// pong does not start one).
func pingPong(c *Conn, cli net.Conn) error {
	if _, err := cli.Write(maskedPing); err != nil {
		return err
	}
	for c.w-c.r < len(maskedPing) {
		if err := c.fill(); err != nil {
			return err
		}
	}
	if err := c.parseBuffered(); err != nil {
		return err
	}
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
	c.writeLoop()
	if _, err := io.ReadFull(cli, pongBuf[:]); err != nil {
		return err
	}
	if pongBuf[0] != 0x8A || string(pongBuf[2:]) != "ping1234" {
		return errors.New("not the pong")
	}
	return nil
}

// discardConn is a net.Conn that swallows writes; only the methods the
// server calls outside I/O are meaningful.
type discardConn struct{ net.Conn }

func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) Close() error                     { return nil }
func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// parseFrame runs the server's in-place parse of one buffered frame.
func parseFrame(c *Conn, in []byte) error {
	c.r, c.w = 0, copy(c.rbuf, in)
	return c.parseBuffered()
}

// startDrainedClients connects n clients whose only activity is reading
// and discarding, into fixed buffers.
func startDrainedClients(tb testing.TB, n int) *Server {
	tb.Helper()
	// MaxDrops is off: a tight loop of broadcasts outpaces the writers,
	// and dropping then is the intended behaviour, not a reason to close.
	s, url := startServer(tb, &Options{PingInterval: -1, MaxDrops: -1})
	for range n {
		c := dial(tb, url, nil)
		nc := c.NetConn()
		_ = nc.SetDeadline(time.Time{})
		go func() {
			var buf [4096]byte
			for {
				if _, err := nc.Read(buf[:]); err != nil {
					return
				}
			}
		}()
	}
	waitConns(tb, s, n)
	return s
}

// waitWritersIdle waits, without allocating, until no writer goroutine runs.
func waitWritersIdle(t testing.TB, s *Server) {
	for range 10_000_000 {
		busy := false
		s.mu.RLock()
		for _, c := range s.conns {
			c.mu.Lock()
			busy = busy || c.writing
			c.mu.Unlock()
		}
		s.mu.RUnlock()
		for _, sh := range s.shards {
			sh.qmu.Lock()
			busy = busy || sh.running || sh.head != sh.tail
			sh.qmu.Unlock()
		}
		if !busy {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("writers still busy")
}

func TestNoAllocs(t *testing.T) {
	t.Run("parse+unmask 100-byte frame", func(t *testing.T) {
		got := ""
		s := NewServer(&Options{OnMessage: func(c *Conn, _ MessageType, p []byte) { got = string(p[:3]) }})
		s.opts.OnMessage = nil
		c := s.newConn(discardConn{})
		if a := testing.AllocsPerRun(1000, func() {
			if err := parseFrame(c, masked100); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%v allocations", a)
		}
		if c.r != len(masked100) || got != "" {
			t.Fatalf("frame not consumed: r=%d", c.r)
		}
	})
	t.Run("fragmented 100-byte message with a ping", func(t *testing.T) {
		n := 0
		s := NewServer(&Options{OnMessage: func(c *Conn, typ MessageType, p []byte) {
			if typ == MessageText && len(p) == 100 {
				n++
			}
		}})
		c := s.newConn(discardConn{})
		if a := testing.AllocsPerRun(1000, func() {
			if err := parseFrame(c, fragmented100); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%v allocations", a)
		}
		if n != 1001 || c.msgOp != 0 || c.msgLen != 0 || !c.pong {
			t.Fatalf("%d messages delivered; msgOp %d msgLen %d pong %v", n, c.msgOp, c.msgLen, c.pong)
		}
	})
	t.Run("ping/pong round trip over TCP", func(t *testing.T) {
		cli, srv := tcpPair(t)
		c := NewServer(nil).newConn(srv)
		if a := testing.AllocsPerRun(1000, func() {
			if err := pingPong(c, cli); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%v allocations", a)
		}
	})
	t.Run("Broadcast 120 bytes to 100 clients", func(t *testing.T) {
		s := startDrainedClients(t, 100)
		payload := []byte(strings.Repeat("y", 120))
		for range 50 { // warm up the goroutine free lists
			s.Broadcast(payload)
		}
		// Each run waits for the fan-out workers and writers to finish, as
		// at a 1 Hz tick: the workers write to the idle clients at once.
		waitWritersIdle(t, s)
		before := s.Stats()
		if a := testing.AllocsPerRun(200, func() {
			if n := s.Broadcast(payload); n != 100 {
				t.Fatalf("queued to %d", n)
			}
			waitWritersIdle(t, s)
		}); a != 0 {
			t.Fatalf("%v allocations per Broadcast", a)
		}
		// The counters behind /metrics move on this path, without
		// allocating: 201 broadcasts (AllocsPerRun's warm-up run included)
		// of a 122-byte frame to each of 100 clients.
		after := s.Stats()
		if f, b := after.FramesSent-before.FramesSent, after.BytesSent-before.BytesSent; f != 201*100 || b != 201*100*122 {
			t.Fatalf("FramesSent +%d, BytesSent +%d; want +%d, +%d", f, b, 201*100, 201*100*122)
		}
	})
	t.Run("writer drain of 8 frames", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cli, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		go func() {
			var buf [4096]byte
			for {
				if _, err := cli.Read(buf[:]); err != nil {
					return
				}
			}
		}()
		s := NewServer(nil)
		c := s.newConn(srv)
		var frames [8]*outFrame
		for i := range frames {
			frames[i] = s.pool.get() // held by the test for the whole run
			frames[i].fill([]byte(strings.Repeat("z", 120)))
		}
		drain := func() {
			c.mu.Lock()
			c.writing = true
			for _, f := range frames {
				f.refs.Add(1)
				c.pushLocked(f)
			}
			c.ping = true
			c.mu.Unlock()
			c.writeLoop()
		}
		if a := testing.AllocsPerRun(1000, drain); a != 0 {
			t.Fatalf("%v allocations per drain", a)
		}
		// 1001 drains of 8 frames of 122 bytes and a 2-byte ping.
		if st := s.Stats(); st.FramesSent != 1001*8 || st.BytesSent != 1001*(8*122+2) {
			t.Fatalf("FramesSent %d, BytesSent %d; want %d, %d", st.FramesSent, st.BytesSent, 1001*8, 1001*(8*122+2))
		}
		for _, f := range frames {
			if f.refs.Load() != 1 {
				t.Fatalf("frame refs %d after drains, want 1", f.refs.Load())
			}
		}
	})
}

func BenchmarkParseUnmask100(b *testing.B) {
	s := NewServer(nil)
	c := s.newConn(discardConn{})
	b.ReportAllocs()
	b.SetBytes(int64(len(masked100)))
	for b.Loop() {
		if err := parseFrame(c, masked100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFragmented100(b *testing.B) {
	s := NewServer(nil)
	c := s.newConn(discardConn{})
	b.ReportAllocs()
	b.SetBytes(int64(len(fragmented100)))
	for b.Loop() {
		if err := parseFrame(c, fragmented100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPingPongRoundTrip(b *testing.B) {
	cli, srv := tcpPair(b)
	c := NewServer(nil).newConn(srv)
	b.ReportAllocs()
	for b.Loop() {
		if err := pingPong(c, cli); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBroadcast100Clients(b *testing.B) {
	s := startDrainedClients(b, 100)
	payload := []byte(strings.Repeat("y", 120))
	b.ReportAllocs()
	for b.Loop() {
		s.Broadcast(payload)
	}
	st := s.Stats()
	b.ReportMetric(float64(st.Drops)/float64(b.N), "drops/op")
	b.ReportMetric(float64(st.PoolMisses)/float64(b.N), "poolmiss/op")
}

// BenchmarkBroadcast100ClientsPaced waits for every writer to finish after
// each Broadcast, as at a 1 Hz tick: it measures the whole fan-out,
// including starting 100 writers and their writev calls.
func BenchmarkBroadcast100ClientsPaced(b *testing.B) {
	s := startDrainedClients(b, 100)
	payload := []byte(strings.Repeat("y", 120))
	b.ReportAllocs()
	for b.Loop() {
		s.Broadcast(payload)
		waitWritersIdle(b, s)
	}
}
