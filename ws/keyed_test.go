package ws

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// A client that falls behind skips superseded keyed frames but ends with
// the latest frame of every key and every frame with key 0, in broadcast
// order.
func TestBroadcastKeyLatestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{SendQueue: 4, MaxDrops: -1, PingInterval: -1, WriteTimeout: time.Hour})
		c := pipeDial(t, s)
		s.BroadcastKey(1, []byte("a1"))
		synctest.Wait() // the writer is now blocked writing a1
		for _, m := range []struct {
			key uint64
			msg string
		}{{1, "a2"}, {2, "b1"}, {0, "s1"}, {1, "a3"}, {2, "b2"}, {1, "a4"}, {0, "s2"}, {2, "b3"}, {1, "a5"}} {
			s.BroadcastKey(m.key, []byte(m.msg))
			synctest.Wait()
		}
		// Queue of 4 behind a1: [a2 b1 s1 a3]; then each arrival drops the
		// oldest superseded frame: b2 drops a2, a4 b1, s2 a3, b3 b2, a5 a4.
		var got []string
		for range 5 {
			p, err := c.ReadText()
			if err != nil {
				t.Fatalf("read after %v: %v", got, err)
			}
			got = append(got, string(p))
		}
		if want := "a1 s1 s2 b3 a5"; strings.Join(got, " ") != want {
			t.Fatalf("client read %v, want %s", got, want)
		}
		if st := s.Stats(); st.Superseded != 5 || st.Drops != 5 || st.SlowClosed != 0 {
			t.Fatalf("stats %+v, want 5 superseded", st)
		}
		c.NetConn().Close()
	})
}

// A full queue with nothing that may be dropped closes the connection
// with 1008 rather than lose a key-0 frame.
func TestBroadcastKeyNothingDroppableCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := NewServer(rec.opts(&Options{SendQueue: 2, MaxDrops: -1, PingInterval: -1, WriteTimeout: time.Hour}))
		c := pipeDial(t, s)
		for _, m := range []string{"s0", "s1", "s2"} {
			s.BroadcastKey(0, []byte(m))
			synctest.Wait()
		}
		if st := s.Stats(); st.SlowClosed != 0 {
			t.Fatalf("closed too early: %+v", st)
		}
		s.BroadcastKey(7, []byte("k")) // nothing queued is superseded or droppable
		synctest.Wait()
		if st := s.Stats(); st.SlowClosed != 1 {
			t.Fatalf("stats %+v, want the connection closed as slow", st)
		}
		for _, want := range []string{"s0"} {
			if p, err := c.ReadText(); err != nil || string(p) != want {
				t.Fatalf("read %q, %v; want %q", p, err, want)
			}
		}
		op, p, err := c.ReadMessage()
		if err != nil || op != wstest.OpClose || string(p) != closePayload(1008, "slow consumer") {
			t.Fatalf("ReadMessage = %v %q %v, want close 1008", op, p, err)
		}
		c.NetConn().Close()
	})
}

// A plain Broadcast frame still gives way to newer frames, and a keyed
// frame takes its place when nothing of its own key is queued.
func TestBroadcastKeyDropsPlainFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{SendQueue: 2, MaxDrops: -1, PingInterval: -1, WriteTimeout: time.Hour})
		c := pipeDial(t, s)
		s.BroadcastKey(0, []byte("s0"))
		synctest.Wait()
		s.Broadcast([]byte("p1"))
		s.BroadcastKey(0, []byte("s1"))
		synctest.Wait()
		s.BroadcastKey(3, []byte("k3")) // p1 goes
		synctest.Wait()
		s.Broadcast([]byte("p2")) // nothing may go for it: p2 is dropped
		synctest.Wait()
		for _, want := range []string{"s0", "s1", "k3"} {
			if p, err := c.ReadText(); err != nil || string(p) != want {
				t.Fatalf("read %q, %v; want %q", p, err, want)
			}
		}
		if st := s.Stats(); st.SlowClosed != 0 || st.Drops != 2 || st.Superseded != 0 {
			t.Fatalf("stats %+v", st)
		}
		c.NetConn().Close()
	})
}

// When stalled clients pin every pool frame, broadcasts take frames from
// the heap instead of being skipped.
func TestPoolMissStillDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{PingInterval: -1})
		c := pipeDial(t, s)
		for i := range s.pool.frames {
			s.pool.frames[i].refs.Store(1) // pinned, as by stalled clients
		}
		for i := range 3 {
			if n := s.BroadcastKey(0, fmt.Appendf(nil, "m%d", i)); n != 1 {
				t.Fatalf("BroadcastKey queued to %d", n)
			}
		}
		for i := range 3 {
			if p, err := c.ReadText(); err != nil || string(p) != fmt.Sprintf("m%d", i) {
				t.Fatalf("read %q, %v; want m%d", p, err, i)
			}
		}
		if st := s.Stats(); st.PoolMisses != 3 {
			t.Fatalf("stats %+v, want 3 pool misses", st)
		}
		c.NetConn().Close()
	})
}

// A full shard queue never loses a key-0 frame: it grows.
func TestShardQueueGrows(t *testing.T) {
	s := NewServer(&Options{SendQueue: 2})
	sh := s.shards[0]
	sh.running = true // no worker: the queue only fills
	var fs []*outFrame
	for i := range 5 {
		f := newOwnFrame(1, fmt.Appendf(nil, "%d", i))
		fs = append(fs, f)
		sh.push(f, 1)
	}
	k1 := &outFrame{class: classKeyed, key: 9}
	k1.refs.Store(1)
	sh.push(k1, 1)
	k2 := &outFrame{class: classKeyed, key: 9}
	k2.refs.Store(1)
	for sh.tail-sh.head != uint32(len(sh.queue)) { // fill up to the brim
		f := newOwnFrame(1, nil)
		fs = append(fs, f)
		sh.push(f, 1)
	}
	sh.push(k2, 1) // replaces k1
	var got []*outFrame
	m := uint32(len(sh.queue) - 1)
	for i := sh.head; i != sh.tail; i++ {
		got = append(got, sh.queue[i&m])
	}
	want := append(fs[:len(fs):len(fs)], k2)
	if len(got) != len(want) {
		t.Fatalf("queue holds %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queue[%d] is not the frame pushed in that order", i)
		}
	}
	if k1.refs.Load() != 1 {
		t.Fatalf("replaced frame has %d refs, want 1 (its own)", k1.refs.Load())
	}
}

// A connection that joins in OnOpen, under the lock that orders the
// broadcasts, receives exactly the broadcasts after its snapshot: none
// missing, none twice, in order, however the two race.
func TestJoinAtSnapshot(t *testing.T) {
	var (
		mu  sync.Mutex
		seq int // the state: the number of the last broadcast
		// OnOpen tells the burst it has taken its snapshot, and waits
		// until the burst has broadcast more before it sends it: those
		// broadcasts fall between snapshot and the end of OnOpen.
		taken = make(chan struct{}, 1)
		more  = make(chan struct{}, 1)
	)
	s, url := startServer(t, &Options{
		SendQueue: 256, // key-0 frames are never dropped: room for a burst
		OnOpen: func(c *Conn) {
			mu.Lock()
			snap := seq
			c.Join()
			mu.Unlock()
			taken <- struct{}{}
			<-more
			if err := c.Send(fmt.Appendf(nil, "snapshot %d", snap)); err != nil {
				t.Error(err)
			}
		},
	})
	const burst = 100
	for k := range 40 {
		// A burst of broadcasts races the client's handshake and OnOpen.
		var wg sync.WaitGroup
		send := func(n int) {
			for range n {
				mu.Lock()
				seq++
				s.BroadcastKey(0, strconv.AppendInt(nil, int64(seq), 10))
				mu.Unlock()
			}
		}
		wg.Go(func() {
			send(burst)
			<-taken
			send(10)
			more <- struct{}{}
		})
		c, _, err := wstest.Dial(t.Context(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute)) // a lost broadcast fails, not hangs
		p, err := c.ReadText()
		var next int
		if _, serr := fmt.Sscanf(string(p), "snapshot %d", &next); err != nil || serr != nil {
			t.Fatalf("first message %q, %v", p, err)
		}
		wg.Wait()
		mu.Lock()
		last := seq
		mu.Unlock()
		for next < last {
			p, err := c.ReadText()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := strconv.Atoi(string(p))
			if got != next+1 {
				t.Fatalf("client %d: after %d got %q", k, next, p)
			}
			next = got
		}
		c.NetConn().Close()
	}
}
