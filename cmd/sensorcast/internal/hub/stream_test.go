package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/ws"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

// These tests run the hub behind a real ws.Server and check what clients
// see against the hub's own state (AppendSensors).

// view is what a client knows: each sensor's latest reading, as sent, and
// its latest status.
type view struct {
	latest   map[string]string // raw reading message
	seq      map[string]int64  // the reading's "n" value, increasing
	ok       map[string]bool
	failures map[string]uint64
}

func newView() *view {
	return &view{latest: map[string]string{}, seq: map[string]int64{}, ok: map[string]bool{}, failures: map[string]uint64{}}
}

// apply adds one message and reports a broken order: a reading that is not
// newer than the last one of its sensor, or a status whose failure count
// does not follow the last one (statuses must never be dropped).
func (v *view) apply(p []byte) error {
	var m struct {
		Type     string `json:"type"`
		Sensor   string `json:"sensor"`
		OK       bool   `json:"ok"`
		Failures uint64 `json:"failures"`
		Values   map[string]struct {
			V float64 `json:"v"`
		} `json:"values"`
	}
	if err := json.Unmarshal(p, &m); err != nil {
		return fmt.Errorf("invalid message %q: %v", p, err)
	}
	switch m.Type {
	case "reading":
		n := int64(m.Values["n"].V)
		if last, ok := v.seq[m.Sensor]; ok && n <= last {
			return fmt.Errorf("%s: reading %d after %d", m.Sensor, n, last)
		}
		v.seq[m.Sensor] = n
		v.latest[m.Sensor] = string(p)
	case "status":
		if last, ok := v.failures[m.Sensor]; ok && m.Failures != last+1 {
			return fmt.Errorf("%s: status with failure count %d after %d", m.Sensor, m.Failures, last)
		}
		v.ok[m.Sensor], v.failures[m.Sensor] = m.OK, m.Failures
	}
	return nil
}

// hubView is the hub's own state, from AppendSensors.
func hubView(t testing.TB, h *Hub) *view {
	t.Helper()
	var m struct {
		Sensors []struct {
			Sensor   string          `json:"sensor"`
			OK       bool            `json:"ok"`
			Failures uint64          `json:"failures"`
			Latest   json.RawMessage `json:"latest"`
		} `json:"sensors"`
	}
	if err := json.Unmarshal(h.AppendSensors(nil), &m); err != nil {
		t.Fatal(err)
	}
	v := newView()
	for _, s := range m.Sensors {
		if string(s.Latest) != "null" {
			v.latest[s.Sensor] = string(s.Latest)
		}
		if s.Failures > 0 {
			v.ok[s.Sensor], v.failures[s.Sensor] = s.OK, s.Failures
		}
	}
	return v
}

func (v *view) equal(w *view) bool {
	if len(v.latest) != len(w.latest) || len(v.failures) != len(w.failures) {
		return false
	}
	for k, x := range v.latest {
		if w.latest[k] != x {
			return false
		}
	}
	for k, x := range v.failures {
		if w.failures[k] != x || w.ok[k] != v.ok[k] {
			return false
		}
	}
	return true
}

func (v *view) String() string {
	return fmt.Sprintf("readings %v, ok %v, failures %v", v.seq, v.ok, v.failures)
}

// wsClient and wsPrepare connect the hub to ws, as cmd/sensorcast does.
type wsClient struct{ *ws.Conn }

func (c wsClient) SendPrepared(p Prepared) error { return c.Conn.SendPrepared(p.(*ws.Prepared)) }

func wsPrepare(binary bool, p []byte) (Prepared, error) {
	if binary {
		return ws.NewPrepared(ws.MessageBinary, p)
	}
	return ws.NewPrepared(ws.MessageText, p)
}

// streamHub is a hub of three reading sensors (a, b, c) and one (s) whose
// status flips, behind a ws.Server served from ln.
func streamHub(t *testing.T, ln net.Listener, o *ws.Options) (*Hub, *ws.Server) {
	var h *Hub
	o.OnOpen = func(c *ws.Conn) {
		if err := h.Snapshot(wsClient{c}); err != nil {
			t.Errorf("Snapshot: %v", err)
		}
	}
	srv := ws.NewServer(o)
	h = New(&Options{Device: "pi", Frames: srv, Prepare: wsPrepare, Sensors: []SensorInfo{
		{Name: "a", Interval: time.Millisecond}, {Name: "b", Interval: time.Millisecond},
		{Name: "c", Interval: time.Millisecond}, {Name: "s", Interval: time.Second},
	}})
	hs := &http.Server{Handler: http.NotFoundHandler()}
	go hs.Serve(srv.Intercept(ln, "/ws"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	// s has a status before any client connects, so every snapshot has it.
	h.SetStatus(Status{Sensor: "s", Err: "flip", Failures: 1, Time: t0})
	return h, srv
}

// publisher publishes reading i (of sensor a, b or c in turn, value n = i)
// and flips s's status every 40 readings.
type publisher struct {
	h *Hub
	i int64
	r reading.Reading
}

func (p *publisher) step() {
	p.i++
	sensor := string(rune('a' + p.i%3))
	p.r.Reset("pi", sensor, t0.Add(time.Duration(p.i)*time.Millisecond))
	p.r.Add("n", reading.None, p.i*1000)
	p.h.Publish(&p.r)
	if p.i%40 == 0 {
		f := uint64(p.i/40) + 1
		p.h.SetStatus(Status{Sensor: "s", OK: f%2 == 0, Err: "flip", Failures: f, Time: t0})
	}
}

// endMessage is broadcast by a test, after the hub's last message, to tell
// the clients that they have everything.
const endMessage = `{"type":"end"}`

// readToEnd reads c's messages into v up to endMessage, and checks that v
// then equals the hub's final state.
func readToEnd(c *wstest.Conn, v *view, final <-chan *view) error {
	for {
		p, err := c.ReadText()
		if err != nil {
			return fmt.Errorf("read (view %v): %w", v, err)
		}
		if string(p) == endMessage {
			if want := <-final; !v.equal(want) {
				return fmt.Errorf("final view %v, hub %v", v, want)
			}
			return nil
		}
		if err := v.apply(p); err != nil {
			return err
		}
	}
}

// Point 2 of issue 14: clients connecting at any moment, while readings
// are published at 1 kHz and a status flips, each receive every message
// after their snapshot's state (statuses with no gap, readings in order,
// none twice) and end with the hub's state.
func TestStreamJoinAnyMoment(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, srv := streamHub(t, ln, &ws.Options{})
	url := "ws://" + ln.Addr().String() + "/ws"
	p := &publisher{h: h}

	const clients, every, total = 40, 50, 3000
	finals := make([]chan *view, clients)
	errs := make(chan error, clients)
	var wg, joined sync.WaitGroup
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		p.step()
		if i%every != 0 || i/every >= clients {
			continue
		}
		k := i / every
		finals[k] = make(chan *view, 1)
		joined.Add(1)
		// Each client connects while the publishing goes on.
		wg.Go(func() {
			c, _, err := wstest.Dial(t.Context(), url, nil)
			if err != nil {
				joined.Done()
				errs <- err
				return
			}
			defer c.NetConn().Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			// Snapshot sends hello after the client has joined.
			hello, err := c.ReadText()
			joined.Done()
			if err != nil {
				errs <- fmt.Errorf("client %d: hello: %w", k, err)
				return
			}
			v := newView()
			if err := v.apply(hello); err != nil {
				errs <- err
				return
			}
			if err := readToEnd(c, v, finals[k]); err != nil {
				errs <- fmt.Errorf("client %d: %w", k, err)
			}
		})
	}
	joined.Wait()
	want := hubView(t, h)
	for _, f := range finals {
		f <- want
	}
	srv.BroadcastKey(0, []byte(endMessage))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := srv.Stats(); st.SlowClosed != 0 || st.Accepted != clients {
		t.Errorf("server stats %+v", st)
	}
}

// pipeListener hands out the server ends of net.Pipe connections: no
// kernel buffer between server and client, so a client that does not read
// holds up the server's writes at once.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *pipeListener) dial() net.Conn {
	cli, srv := net.Pipe()
	l.conns <- srv
	return cli
}

// Point 3 of issue 14: a client that reads at a tenth of the publishing
// rate skips superseded readings only; when it catches up it has every
// sensor's latest reading and current status, and it is never cut off.
func TestStreamThrottledClient(t *testing.T) {
	ln := newPipeListener()
	h, srv := streamHub(t, ln, &ws.Options{})
	p := &publisher{h: h}
	nc := ln.dial()
	c, _, err := wstest.Handshake(t.Context(), nc, "ws://pipe/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	v := newView()
	const total = 4000
	for i := range total {
		p.step()
		if i%10 == 0 { // one message read for every ten published
			m, err := c.ReadText()
			if err != nil {
				t.Fatalf("after %d readings: %v", i, err)
			}
			if err := v.apply(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	final := make(chan *view, 1)
	final <- hubView(t, h)
	srv.BroadcastKey(0, []byte(endMessage))
	if err := readToEnd(c, v, final); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.SlowClosed != 0 || st.Conns != 1 {
		t.Errorf("throttled client cut off: %+v", st)
	}
	if st.Superseded == 0 {
		t.Errorf("no reading was superseded: the client was not throttled (%+v)", st)
	}
	t.Logf("%d readings published, client read %d statuses and the latest readings; %d superseded", total, v.failures["s"], st.Superseded)
}

// The moment Snapshot has taken its copy and the client has not read it
// yet: whatever is published then must reach the client after the
// snapshot. The pipe makes the snapshot's first send wait for the client,
// and synctest.Wait makes sure the server is waiting there.
func TestStreamJoinAtSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		h, srv := streamHub(t, ln, &ws.Options{PingInterval: -1})
		p := &publisher{h: h}
		for range 10 {
			p.step()
		}
		nc := ln.dial()
		c, _, err := wstest.Handshake(t.Context(), nc, "ws://pipe/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c.SetDeadline(time.Now().Add(time.Minute)) // a lost message fails, not hangs
		synctest.Wait()                            // OnOpen is blocked sending hello
		for range 100 {
			p.step() // statuses flip twice among them
		}
		final := make(chan *view, 1)
		final <- hubView(t, h)
		srv.BroadcastKey(0, []byte(endMessage))
		if err := readToEnd(c, newView(), final); err != nil {
			t.Fatal(err)
		}
	})
}

// Clients that connect within one history step share one encoded history
// message; the next step encodes a new one.
func TestSharedHistoryPerStep(t *testing.T) {
	h := New(&Options{Device: "pi"})
	h.Publish(at("sim", 0, 1))
	now := t0.Truncate(time.Second)
	a, err := h.sharedHistory(now, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := h.sharedHistory(now.Add(999*time.Millisecond), false)
	if a != b {
		t.Error("two clients in one step got two encodings")
	}
	g1, _ := h.sharedHistory(now.Add(500*time.Millisecond), true)
	g2, _ := h.sharedHistory(now.Add(600*time.Millisecond), true)
	if g1 != g2 || g1 == a {
		t.Error("the gzipped history is not shared within the step")
	}
	h.Publish(at("sim", 1000, 2))
	c, _ := h.sharedHistory(now.Add(time.Second), false)
	if c == a {
		t.Fatal("the next step reuses the old history")
	}
	if n := len(decodeHistory(t, c.Payload()).Sensors[0].T); n != 2 {
		t.Errorf("new history has %d points, want 2", n)
	}
	_ = strconv.Itoa
}
