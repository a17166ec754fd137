package ws

import (
	"fmt"
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
