package ws

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

func TestBroadcastReachesAll(t *testing.T) {
	s, url := startServer(t, nil)
	var cs []*wstest.Conn
	for range 5 {
		cs = append(cs, dial(t, url, nil))
	}
	waitConns(t, s, 5)
	for i := range 3 {
		if n := s.Broadcast(fmt.Appendf(nil, `{"n":%d}`, i)); n != 5 {
			t.Fatalf("Broadcast queued to %d, want 5", n)
		}
	}
	for _, c := range cs {
		for i := range 3 {
			p, err := c.ReadText()
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`{"n":%d}`, i); string(p) != want {
				t.Fatalf("got %q, want %q", p, want)
			}
		}
	}
	big := strings.Repeat("x", 70000)
	s2, url2 := startServer(t, &Options{MaxBroadcast: 70000})
	c := dial(t, url2, nil)
	waitConns(t, s2, 1)
	s2.Broadcast([]byte(big))
	if p, err := c.ReadText(); err != nil || string(p) != big {
		t.Fatalf("64-bit length frame: len %d, err %v", len(p), err)
	}
	if n := s2.Broadcast([]byte(big + "x")); n != 0 || s2.Stats().TooBig != 1 {
		t.Fatalf("oversized Broadcast: n=%d stats=%+v", n, s2.Stats())
	}
	if st := s.Stats(); st.Broadcasts != 3 || st.Accepted != 5 || st.Conns != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// waitConns waits until the server has n connections in its broadcast set.
func waitConns(t testing.TB, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.RLock()
		joined := 0
		for _, c := range s.conns {
			if c.joined {
				joined++
			}
		}
		s.mu.RUnlock()
		if joined == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("server did not reach %d connections", n)
}

// TestOnOpenSendBeforeBroadcast checks that what OnOpen sends reaches the
// client before any broadcast, while broadcasts run continuously.
func TestOnOpenSendBeforeBroadcast(t *testing.T) {
	// The broadcaster below outpaces the writers on purpose; MaxDrops is off
	// so that the drops it causes do not close the clients.
	s, url := startServer(t, &Options{MaxDrops: -1, OnOpen: func(c *Conn) {
		if err := c.Send([]byte("hello")); err != nil {
			panic(err)
		}
	}})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.Broadcast([]byte("tick"))
				time.Sleep(10 * time.Microsecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for range 20 {
		c := dial(t, url, nil)
		if p, err := c.ReadText(); err != nil || string(p) != "hello" {
			t.Fatalf("first message %q, %v; want hello", p, err)
		}
	}
}

// TestStalledClientLoopback fills a real socket of a client that never
// reads; another client keeps receiving every broadcast meanwhile, and the
// stalled one is cut off after WriteTimeout.
func TestStalledClientLoopback(t *testing.T) {
	const timeout = 2 * time.Second
	rec := newRecorder()
	s, url := startServer(t, rec.opts(&Options{WriteTimeout: timeout, MaxDrops: -1, MaxBroadcast: 64 << 10}))
	stalled := dial(t, url, nil)
	_ = stalled
	healthy := dial(t, url, nil)
	waitConns(t, s, 2)
	payload := []byte(strings.Repeat("x", 64<<10))
	start := time.Now()
	// 16 MiB to each: more than loopback socket buffers hold.
	for i := range 256 {
		if n := s.Broadcast(payload); n < 1 {
			t.Fatalf("broadcast %d queued to %d (stats %+v)", i, n, s.Stats())
		}
		if _, err := healthy.ReadText(); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d >= timeout {
		t.Fatalf("healthy client took %v, longer than the stalled client's write timeout", d)
	}
	if st := s.Stats(); st.Conns != 2 {
		t.Fatalf("stalled client already gone: %+v", st)
	}
	// The stalled client is cut off within WriteTimeout of its writer
	// blocking.
	err := rec.closeErr(t)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("OnClose err %v", err)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Fatalf("stalled client cut off after %v", d)
	}
}
