package ws

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// bigPayload is broadcast n: its number, then a pattern that depends on n,
// so that a byte out of place shows.
func bigPayload(n, size int) []byte {
	p := fmt.Appendf(nil, "%06d:", n)
	for len(p) < size {
		p = append(p, byte('a'+(n+len(p))%26))
	}
	return p
}

// TestFanoutCutShortFrames drives the fan-out worker's non-blocking writes
// into tiny socket buffers, so that they are cut short in the middle of a
// frame and the writer goroutine finishes them: the client must still read
// only whole, correct frames in broadcast order, ending with the latest.
func TestFanoutCutShortFrames(t *testing.T) {
	const size, count = 100 << 10, 40
	s, url := startServer(t, &Options{MaxBroadcast: size, SendQueue: 4, MaxDrops: -1, PingInterval: -1, WriteTimeout: 20 * time.Second})
	slow := dial(t, url, nil)
	fast := dial(t, url, nil)
	waitConns(t, s, 2)
	s.mu.RLock()
	for _, c := range s.conns {
		if c.raw == nil {
			t.Fatal("a TCP connection without the non-blocking path")
		}
		_ = c.nc.(*net.TCPConn).SetWriteBuffer(32 << 10)
	}
	s.mu.RUnlock()
	_ = slow.NetConn().(*net.TCPConn).SetReadBuffer(32 << 10)

	var wg sync.WaitGroup
	check := func(name string, cl interface{ ReadText() ([]byte, error) }, got *[]int) {
		defer wg.Done()
		last := -1
		for last < count-1 {
			p, err := cl.ReadText()
			if err != nil {
				t.Errorf("%s: after broadcast %d: %v", name, last, err)
				return
			}
			n, err := strconv.Atoi(string(p[:6]))
			if err != nil || n <= last || n >= count || !bytes.Equal(p, bigPayload(n, size)) {
				t.Errorf("%s: frame after %d is not an intact later broadcast (len %d, head %q)", name, last, len(p), p[:min(len(p), 12)])
				return
			}
			last = n
			*got = append(*got, n)
		}
	}
	var fastGot, slowGot []int
	wg.Add(1)
	go check("reading client", fast, &fastGot)
	for i := range count {
		if n := s.Broadcast(bigPayload(i, size)); n != 2 {
			t.Fatalf("Broadcast %d went to %d connections", i, n)
		}
		time.Sleep(time.Millisecond)
	}
	// The slow client starts reading only now: its socket, its ring and
	// a frame cut short have been waiting.
	wg.Add(1)
	go check("late client", slow, &slowGot)
	wg.Wait()
	if len(slowGot) >= count {
		t.Errorf("late client got all %d broadcasts: the test never filled its queue", count)
	}
	if st := s.Stats(); st.Drops == 0 || st.SlowClosed != 0 {
		t.Errorf("stats %+v: want drops for the late client and no cut-off", st)
	}
	t.Logf("reading client got %d of %d broadcasts, late client %d: %v", len(fastGot), count, len(slowGot), slowGot)
}

// TestFanoutCloseRace closes connections from both sides while broadcasts
// are being fanned out and written (run with -race).
func TestFanoutCloseRace(t *testing.T) {
	s, url := startServer(t, &Options{MaxDrops: -1, PingInterval: -1})
	const clients = 15
	var cls []*wstest.Conn
	for range clients {
		c := dial(t, url, nil)
		cls = append(cls, c)
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	waitConns(t, s, clients)
	// srv[i] is the server side of cls[i]. The server lists a connection
	// only after writing its 101, so its order can differ from the dial
	// order: match them by address.
	srv := make([]*Conn, clients)
	s.mu.RLock()
	for _, c := range s.conns {
		for i, cl := range cls {
			if cl.NetConn().LocalAddr().String() == c.nc.RemoteAddr().String() {
				srv[i] = c
			}
		}
	}
	s.mu.RUnlock()
	if slices.Contains(srv, nil) {
		t.Fatal("a client has no server connection")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			s.Broadcast([]byte(strconv.Itoa(i)))
		}
	}()
	for i := range clients {
		switch i % 3 {
		case 0: // the client closes
			if err := cls[i].WriteFrame(true, wstest.OpClose, []byte(closePayload(1000, "bye"))); err != nil {
				t.Fatal(err)
			}
		case 1: // the server closes
			if err := srv[i].Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Conns > clients/3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Conns != clients/3 || st.Closed != 2*clients/3 {
		t.Fatalf("stats %+v: want %d open and %d closed", st, clients/3, 2*clients/3)
	}
	s.Broadcast([]byte("last"))
}

// TestFanoutAfterWriteDeadline: the writer and OnOpen leave a write
// deadline on the socket; once it has passed, the fan-out worker's next
// non-blocking write must still go out instead of failing as a timeout.
func TestFanoutAfterWriteDeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	rec := newRecorder()
	o := rec.opts(&Options{WriteTimeout: timeout, PingInterval: -1, OnOpen: func(c *Conn) {
		if err := c.Send([]byte("hello")); err != nil {
			panic(err)
		}
	}})
	s, url := startServer(t, o)
	c := dial(t, url, nil)
	if p, err := c.ReadText(); err != nil || string(p) != "hello" {
		t.Fatalf("read %q, %v", p, err)
	}
	for i := range 3 {
		time.Sleep(2 * timeout)
		want := strconv.Itoa(i)
		if i == 1 {
			// Through the writer goroutine this time: a Send is queued.
			if err := s.conns[0].Send([]byte("sent")); err != nil {
				t.Fatal(err)
			}
			if p, err := c.ReadText(); err != nil || string(p) != "sent" {
				t.Fatalf("read %q, %v", p, err)
			}
			time.Sleep(2 * timeout)
		}
		s.Broadcast([]byte(want))
		if p, err := c.ReadText(); err != nil || string(p) != want {
			t.Fatalf("broadcast %d after the deadline: read %q, %v (stats %+v)", i, p, err, s.Stats())
		}
	}
	if st := s.Stats(); st.Closed != 0 || st.SlowClosed != 0 {
		t.Fatalf("stats %+v", st)
	}
}
