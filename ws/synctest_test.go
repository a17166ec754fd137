package ws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// These tests run on net.Pipe inside a synctest bubble, so that the 30 s
// keepalive and the write deadlines take no real time and the timings are
// exact.

func TestPingInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{PingInterval: 30 * time.Second})
		c := pipeDial(t, s)
		start := time.Now()
		for i := 1; i <= 3; i++ {
			op, _, err := c.ReadMessage()
			if err != nil || op != wstest.OpPing {
				t.Fatalf("ReadMessage = %v, %v; want ping", op, err)
			}
			if got, want := time.Since(start), time.Duration(i)*30*time.Second; got != want {
				t.Fatalf("ping %d after %v, want %v", i, got, want)
			}
			if err := c.WriteFrame(true, wstest.OpPong, nil); err != nil {
				t.Fatal(err)
			}
		}
		if st := s.Stats(); st.TimedOut != 0 || st.Conns != 1 {
			t.Fatalf("stats %+v", st)
		}
		c.NetConn().Close()
		synctest.Wait()
		if st := s.Stats(); st.Conns != 0 {
			t.Fatalf("stats %+v after client left", st)
		}
	})
}

func TestSilentConnectionSwept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := NewServer(rec.opts(&Options{PingInterval: 30 * time.Second}))
		c := pipeDial(t, s)
		start := time.Now()
		pings := 0
		for {
			op, _, err := c.ReadMessage()
			if err != nil {
				break
			}
			if op != wstest.OpPing {
				t.Fatalf("opcode %v", op)
			}
			pings++
		}
		// Pings at 30 s and 60 s; at the 90 s tick the client has been silent
		// for more than 2*30 s.
		if got := time.Since(start); got != 90*time.Second || pings != 2 {
			t.Fatalf("closed after %v and %d pings, want 90s and 2", got, pings)
		}
		if err := <-rec.closed; err == nil || !strings.Contains(err.Error(), "keepalive") {
			t.Fatalf("OnClose err %v", err)
		}
		if st := s.Stats(); st.TimedOut != 1 || st.Conns != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestStalledClientCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		closedAt := make(chan time.Duration, 2)
		closeErr := make(chan error, 2)
		start := time.Now()
		s := NewServer(&Options{
			WriteTimeout: 5 * time.Second,
			PingInterval: -1,
			OnClose: func(c *Conn, err error) {
				closedAt <- time.Since(start)
				closeErr <- err
			},
		})
		stalled := pipeDial(t, s)
		healthy := pipeDial(t, s)
		_ = stalled // never reads
		for i := range 3 {
			if n := s.Broadcast([]byte(strconv.Itoa(i))); n != 2 {
				t.Fatalf("Broadcast queued to %d", n)
			}
			p, err := healthy.ReadText()
			if err != nil || string(p) != strconv.Itoa(i) {
				t.Fatalf("healthy client read %q, %v", p, err)
			}
			if d := time.Since(start); d != 0 {
				t.Fatalf("healthy client delayed by %v", d)
			}
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if d := <-closedAt; d != 5*time.Second {
			t.Fatalf("stalled client cut off after %v, want 5s", d)
		}
		if err := <-closeErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("OnClose err %v, want a deadline error", err)
		}
		if st := s.Stats(); st.Conns != 1 || st.SlowClosed != 1 {
			t.Fatalf("stats %+v", st)
		}
		// The healthy client is unaffected.
		s.Broadcast([]byte("after"))
		if p, err := healthy.ReadText(); err != nil || string(p) != "after" {
			t.Fatalf("healthy client read %q, %v", p, err)
		}
		healthy.NetConn().Close()
	})
}

func TestDropOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{SendQueue: 2, MaxDrops: -1, PingInterval: -1})
		c := pipeDial(t, s)
		s.Broadcast([]byte("1"))
		synctest.Wait() // the writer is now blocked writing "1"
		for _, m := range []string{"2", "3", "4", "5"} {
			if n := s.Broadcast([]byte(m)); n != 1 {
				t.Fatalf("Broadcast(%s) queued to %d", m, n)
			}
			synctest.Wait() // the fan-out worker has queued m
		}
		if st := s.Stats(); st.Drops != 2 {
			t.Fatalf("drops %d, want 2", st.Drops)
		}
		for _, want := range []string{"1", "4", "5"} {
			if p, err := c.ReadText(); err != nil || string(p) != want {
				t.Fatalf("read %q, %v; want %q", p, err, want)
			}
		}
		c.NetConn().Close()
	})
}

func TestMaxDropsClosesSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := NewServer(rec.opts(&Options{SendQueue: 2, MaxDrops: 3, PingInterval: -1, WriteTimeout: time.Hour}))
		c := pipeDial(t, s)
		s.Broadcast([]byte("1"))
		synctest.Wait()
		for _, m := range []string{"2", "3", "4", "5"} {
			s.Broadcast([]byte(m))
			synctest.Wait() // the fan-out worker has queued m
		}
		if st := s.Stats(); st.SlowClosed != 0 || st.Drops != 2 {
			t.Fatalf("after two drops: stats %+v", st)
		}
		s.Broadcast([]byte("6"))
		synctest.Wait()
		if st := s.Stats(); st.SlowClosed != 1 || st.Drops != 3 {
			t.Fatalf("third drop: stats %+v, want the connection closed as slow", st)
		}
		if p, err := c.ReadText(); err != nil || string(p) != "1" {
			t.Fatalf("read %q, %v", p, err)
		}
		op, p, err := c.ReadMessage()
		if err != nil || op != wstest.OpClose || string(p) != closePayload(1008, "slow consumer") {
			t.Fatalf("ReadMessage = %v %q %v, want close 1008", op, p, err)
		}
		if err := c.WriteFrame(true, wstest.OpClose, p); err != nil {
			t.Fatal(err)
		}
		if err := <-rec.closed; CloseStatus(err) != StatusPolicyViolation {
			t.Fatalf("OnClose err %v", err)
		}
		if st := s.Stats(); st.SlowClosed != 1 || st.Drops != 3 || st.Conns != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestShutdownGoingAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(nil)
		answers, silent, stalled := pipeDial(t, s), pipeDial(t, s), pipeDial(t, s)
		_ = stalled // never reads
		got := make(chan uint16, 2)
		for _, c := range []*wstest.Conn{answers, silent} {
			go func() {
				for {
					op, p, err := c.ReadMessage()
					if err != nil {
						return
					}
					if op == wstest.OpClose {
						code, _, _ := c.CloseCode()
						got <- code
						if c == answers {
							_ = c.WriteFrame(true, wstest.OpClose, p)
						}
					}
				}
			}()
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		// The peers that did not answer are dropped after the close timeout.
		if d := time.Since(start); d != closeTimeout {
			t.Fatalf("Shutdown took %v, want %v", d, closeTimeout)
		}
		for range 2 {
			if code := <-got; code != 1001 {
				t.Fatalf("close code %d, want 1001", code)
			}
		}
		if st := s.Stats(); st.Conns != 0 || st.Closed != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestShutdownContextExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make(chan struct{})
		s := NewServer(&Options{OnClose: func(*Conn, error) { <-block }})
		c := pipeDial(t, s)
		_ = c
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		close(block)
	})
}

// TestOnOpenSendsAnySnapshot: in OnOpen, Send writes at once, so a snapshot
// of more messages than the send ring holds arrives whole and in order.
func TestOnOpenSendsAnySnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sendErrs := make(chan int, 1)
		s := NewServer(&Options{PingInterval: -1, OnOpen: func(c *Conn) {
			errs := 0
			for i := range 20 {
				if err := c.Send(fmt.Appendf(nil, "m%d", i)); err != nil {
					errs++
				}
			}
			sendErrs <- errs
		}})
		c := pipeDial(t, s)
		for i := range 20 {
			if p, err := c.ReadText(); err != nil || string(p) != fmt.Sprintf("m%d", i) {
				t.Fatalf("read %q, %v; want m%d", p, err, i)
			}
		}
		if errs := <-sendErrs; errs != 0 {
			t.Fatalf("%d of 20 Sends in OnOpen failed", errs)
		}
		c.NetConn().Close()
	})
}

// TestSendQueueFull: after OnOpen, Send queues, and a full ring is an error
// rather than a dropped frame.
func TestSendQueueFull(t *testing.T) {
	s := NewServer(nil)
	c := s.newConn(discardConn{})
	c.unhold()
	c.mu.Lock()
	c.writing = true // a writer is busy: everything stays queued
	c.mu.Unlock()
	accepted := 0
	for i := range 20 {
		if err := c.Send(fmt.Appendf(nil, "m%d", i)); err == nil {
			accepted++
		} else if !errors.Is(err, errQueueFull) {
			t.Fatalf("Send: %v, want errQueueFull", err)
		}
	}
	if accepted != len(c.ring) {
		t.Fatalf("%d Sends accepted, want the ring's %d", accepted, len(c.ring))
	}
}

// A client that takes data but never answers (its pongs would wait behind
// data it has still to read) is alive; one that takes nothing is swept.
func TestKeepaliveDataCountsAsAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := NewServer(rec.opts(&Options{PingInterval: 30 * time.Second, WriteTimeout: time.Hour}))
		c := pipeDial(t, s)
		stop := make(chan struct{})
		go func() { // reads everything, answers nothing
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					close(stop)
					return
				}
			}
		}()
		for range 200 { // 200 s of one broadcast a second
			s.Broadcast([]byte("x"))
			time.Sleep(time.Second)
		}
		if st := s.Stats(); st.TimedOut != 0 || st.Conns != 1 {
			t.Fatalf("a client taking data was swept: %+v", st)
		}
		// Now nothing is broadcast: after two silent ping intervals the
		// client, which never answers, is swept.
		time.Sleep(91 * time.Second)
		<-stop
		if st := s.Stats(); st.TimedOut != 1 || st.Conns != 0 {
			t.Fatalf("silent client not swept: %+v", st)
		}
	})
}

// A client taking a large message slowly is not swept while the write is
// in progress: WriteTimeout bounds that write instead.
func TestKeepaliveSparesWriteInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(&Options{PingInterval: time.Second, WriteTimeout: time.Minute})
		c := pipeDial(t, s)
		s.Broadcast([]byte("big"))
		synctest.Wait()              // the writer is blocked: the client reads nothing yet
		time.Sleep(10 * time.Second) // five ping intervals
		if st := s.Stats(); st.TimedOut != 0 || st.Conns != 1 {
			t.Fatalf("swept during a write in progress: %+v", st)
		}
		if p, err := c.ReadText(); err != nil || string(p) != "big" {
			t.Fatalf("read %q, %v", p, err)
		}
		c.NetConn().Close()
	})
}
