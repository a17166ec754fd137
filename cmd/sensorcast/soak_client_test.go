package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// The soak test's WebSocket clients. Each keeps the view of the node that
// its current connection's messages give: hello, history, then the latest
// reading and the status of every sensor.

// soakMode is how a soak client behaves until the final phase.
type soakMode int

const (
	soakChurn soakMode = iota // reads at full speed, disconnects after 0.5–5 s and reconnects
	soakSlow                  // reads one message every 50 ms (about half the stream's rate)
	soakNever                 // connects and never reads; excluded from the final comparison
)

func (m soakMode) String() string {
	return [...]string{"churn", "slow", "never"}[m]
}

// soakReading is a reading as a client saw it: its time and its message.
type soakReading struct {
	ts  int64
	raw []byte
}

// soakStatus is a status message's fields that the hub's state holds too.
type soakStatus struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Failures uint64 `json:"failures"`
}

// soakView is what one connection has received.
type soakView struct {
	msgs     int
	hello    bool
	history  bool
	latest   map[string]soakReading
	status   map[string]soakStatus
	recorded map[string]map[int64][]byte // in the final phase: every reading, by sensor and ts
	errs     []string                    // protocol violations: order, types, bad JSON (the first few)

	twice, reordered int // readings received twice, or after a newer one of their sensor
	sameMilli        int // readings with the same ts as the one before, but other values
}

func newSoakView() *soakView {
	return &soakView{latest: make(map[string]soakReading), status: make(map[string]soakStatus)}
}

func (v *soakView) fail(format string, args ...any) {
	if len(v.errs) < 5 {
		v.errs = append(v.errs, fmt.Sprintf(format, args...))
	}
}

// add applies one message to the view; record keeps every reading.
func (v *soakView) add(p []byte, record bool) {
	v.msgs++
	typ := jsonStringField(p, "type")
	switch {
	case v.msgs == 1 && typ != "hello":
		v.fail("first message is %q, not hello", typ)
	case v.msgs == 2 && typ != "history":
		v.fail("second message is %q, not history", typ)
	}
	switch typ {
	case "hello":
		if v.msgs != 1 {
			v.fail("hello as message %d", v.msgs)
		}
		v.hello = true
	case "history":
		if v.msgs != 2 {
			v.fail("history as message %d", v.msgs)
		}
		v.history = true
	case "reading":
		sensor := jsonStringField(p, "sensor")
		ts, err := strconv.ParseInt(jsonNumberField(p, "ts"), 10, 64)
		if sensor == "" || err != nil {
			v.fail("reading without sensor or ts: %.200s", p)
			return
		}
		prev, ok := v.latest[sensor]
		switch {
		case ok && ts == prev.ts && sensor == "sim" && bytes.Equal(p, prev.raw):
			// The sim's values change at nearly every step, so a repeat in
			// one millisecond is a duplicate; two reads of the host sensor
			// in one millisecond may well be identical.
			v.twice++
			v.fail("reading of %s at ts %d received twice (message %d)", sensor, ts, v.msgs)
		case ok && ts == prev.ts:
			v.sameMilli++ // two readings taken in one millisecond: in order, not (known to be) a duplicate
		case ok && ts < prev.ts:
			v.reordered++
			v.fail("reading of %s at ts %d after one at ts %d (message %d): out of order", sensor, ts, prev.ts, v.msgs)
		}
		raw := bytes.Clone(p)
		v.latest[sensor] = soakReading{ts, raw}
		if record {
			if v.recorded == nil {
				v.recorded = make(map[string]map[int64][]byte)
			}
			if v.recorded[sensor] == nil {
				v.recorded[sensor] = make(map[int64][]byte)
			}
			v.recorded[sensor][ts] = raw
		}
	case "status":
		var s struct {
			Sensor string `json:"sensor"`
			soakStatus
		}
		if err := json.Unmarshal(p, &s); err != nil || s.Sensor == "" {
			v.fail("bad status %.200s: %v", p, err)
			return
		}
		v.status[s.Sensor] = s.soakStatus
	default:
		v.fail("unknown message type %q: %.200s", typ, p)
	}
}

// jsonStringField returns the value of the first "key":"value" in p, for
// the hub's flat, escape-free names; "" if absent.
func jsonStringField(p []byte, key string) string {
	pat := `"` + key + `":"`
	i := bytes.Index(p, []byte(pat))
	if i < 0 {
		return ""
	}
	rest := p[i+len(pat):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// jsonNumberField returns the digits of the first "key":digits in p.
func jsonNumberField(p []byte, key string) string {
	pat := `"` + key + `":`
	i := bytes.Index(p, []byte(pat))
	if i < 0 {
		return ""
	}
	rest := p[i+len(pat):]
	j := 0
	for j < len(rest) && (rest[j] >= '0' && rest[j] <= '9' || j == 0 && rest[j] == '-') {
		j++
	}
	return string(rest[:j])
}

// soakClient is one of the soak test's WebSocket clients.
type soakClient struct {
	id   int
	mode soakMode
	url  string

	final *atomic.Bool // the final phase: no more churn, everyone reads at full speed

	mu   sync.Mutex
	conn *wstest.Conn // the current connection, nil between connections
	view *soakView    // the current connection's view
	dead bool         // the current connection ended in the final phase
	end  string       // why it ended

	// Counters for the report.
	sessions, cutOff, dialErrs, churned atomic.Int64
	twice, reordered, sameMilli         atomic.Int64 // over every connection
	msgs                                atomic.Int64
	firstErrs                           []string // protocol violations of every connection, the first few
}

// run connects again and again until ctx is done.
func (c *soakClient) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(uint64(c.id), 99))
	for ctx.Err() == nil {
		if c.mode == soakNever && c.final.Load() {
			return // never-readers leave when the final phase starts
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		conn, _, err := wstest.Dial(dctx, c.url, nil)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.dialErrs.Add(1)
				c.noteErr("dial: %v", err)
				sleepCtx(ctx, 500*time.Millisecond)
			}
			continue
		}
		c.sessions.Add(1)
		v := newSoakView()
		c.mu.Lock()
		c.conn, c.view, c.dead, c.end = conn, v, false, ""
		c.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { conn.NetConn().Close() })
		why := c.session(ctx, conn, v, rng)
		stop()
		conn.NetConn().Close()
		c.mu.Lock()
		c.conn = nil
		c.end = why
		if c.final.Load() && why != "churn" {
			c.dead = true
		}
		c.twice.Add(int64(v.twice))
		c.reordered.Add(int64(v.reordered))
		c.sameMilli.Add(int64(v.sameMilli))
		for _, e := range v.errs {
			if len(c.firstErrs) < 5 {
				c.firstErrs = append(c.firstErrs, e)
			}
		}
		c.mu.Unlock()
		if c.final.Load() && c.mode != soakNever && why != "churn" {
			return // a connection lost in the final phase is reported, not replaced
		}
		sleepCtx(ctx, time.Duration(100+rng.IntN(400))*time.Millisecond)
	}
}

func (c *soakClient) noteErr(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.firstErrs) < 5 {
		c.firstErrs = append(c.firstErrs, fmt.Sprintf(format, args...))
	}
}

// session reads one connection until it ends, and says why it ended.
func (c *soakClient) session(ctx context.Context, conn *wstest.Conn, v *soakView, rng *rand.Rand) string {
	if c.mode == soakNever {
		for !c.final.Load() && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
		}
		return "final phase"
	}
	churnAt := time.Time{}
	if c.mode == soakChurn {
		churnAt = time.Now().Add(time.Duration(500+rng.IntN(4500)) * time.Millisecond)
	}
	for {
		final := c.final.Load()
		dl := time.Now().Add(30 * time.Second) // nothing legitimate is silent this long
		if !final && !churnAt.IsZero() {
			dl = churnAt
		}
		conn.SetDeadline(dl)
		p, err := conn.ReadText()
		if err != nil {
			var ne net.Error
			if !final && !churnAt.IsZero() && errors.As(err, &ne) && ne.Timeout() {
				c.churned.Add(1)
				if rng.IntN(2) == 0 {
					conn.SetDeadline(time.Now().Add(5 * time.Second))
					conn.Close(1000, "churn")
				}
				return "churn"
			}
			if code, _, ok := conn.CloseCode(); ok {
				c.cutOff.Add(1)
				return fmt.Sprintf("closed by the server with %d: %v", code, err)
			}
			return err.Error()
		}
		c.msgs.Add(1)
		c.mu.Lock()
		v.add(p, final)
		c.mu.Unlock()
		if c.mode == soakSlow && !final {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// snapshot returns a copy of the current connection's view, and whether
// that connection is still open, with the protocol violations seen and why
// the last connection ended.
func (c *soakClient) snapshot() (latest map[string]soakReading, status map[string]soakStatus, live bool, errs []string, end string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view == nil {
		return nil, nil, false, append([]string(nil), c.firstErrs...), "never connected"
	}
	latest = make(map[string]soakReading, len(c.view.latest))
	for k, r := range c.view.latest {
		latest[k] = r
	}
	status = make(map[string]soakStatus, len(c.view.status))
	for k, s := range c.view.status {
		status[k] = s
	}
	live = c.conn != nil && !c.dead && c.view.hello && c.view.history
	return latest, status, live, append(append([]string(nil), c.firstErrs...), c.view.errs...), c.end
}

// readingAt returns the reading of sensor at ts that the current
// connection received in the final phase.
func (c *soakClient) readingAt(sensor string, ts int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view == nil {
		return nil, false
	}
	p, ok := c.view.recorded[sensor][ts]
	return p, ok
}

// close ends the current connection.
func (c *soakClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.NetConn().Close()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// TestSoakChecks shows that the soak test's checks can fail: a client view
// catches a duplicate, a reading out of order and a wrong first message,
// and soakComplete a lost, a reordered and a foreign reading, while it
// accepts QoS 1 duplicates and two readings in one millisecond.
func TestSoakChecks(t *testing.T) {
	msg := func(sensor string, ts int64, v int) []byte {
		return fmt.Appendf(nil, `{"type":"reading","device":"soak","sensor":%q,"time":"x","ts":%d,"values":{"temperature":{"v":%d,"unit":"°C"}}}`, sensor, ts, v)
	}
	start := [][]byte{[]byte(`{"type":"hello","device":"soak"}`), []byte(`{"type":"history","device":"soak"}`)}
	for name, tc := range map[string]struct {
		msgs                       [][]byte
		twice, reordered, sameMill int
		errs                       int
	}{
		"good":       {append(start[:2:2], msg("sim", 1, 1), msg("sim", 2, 2), msg("host", 2, 1)), 0, 0, 0, 0},
		"twice":      {append(start[:2:2], msg("sim", 1, 1), msg("sim", 1, 1)), 1, 0, 0, 1},
		"reordered":  {append(start[:2:2], msg("sim", 2, 1), msg("sim", 1, 2)), 0, 1, 0, 1},
		"same milli": {append(start[:2:2], msg("sim", 1, 1), msg("sim", 1, 2), msg("host", 3, 1), msg("host", 3, 1)), 0, 0, 2, 0},
		"no hello":   {[][]byte{start[1], msg("sim", 1, 1)}, 0, 0, 0, 3},
		"bad status": {append(start[:2:2], []byte(`{"type":"status","ok":`)), 0, 0, 0, 1},
		"unknown":    {append(start[:2:2], []byte(`{"type":"gossip"}`)), 0, 0, 0, 1},
		"no ts":      {append(start[:2:2], []byte(`{"type":"reading","sensor":"sim"}`)), 0, 0, 0, 1},
	} {
		v := newSoakView()
		for _, m := range tc.msgs {
			v.add(m, true)
		}
		if v.twice != tc.twice || v.reordered != tc.reordered || v.sameMilli != tc.sameMill || len(v.errs) != tc.errs {
			t.Errorf("%s: twice %d, reordered %d, same millisecond %d, errors %q", name, v.twice, v.reordered, v.sameMilli, v.errs)
		}
	}
	v := newSoakView()
	v.add(start[0], false)
	v.add(start[1], false)
	v.add([]byte(`{"type":"status","device":"soak","sensor":"absent","ok":false,"error":"gone","failures":3}`), false)
	if got := v.status["absent"]; got != (soakStatus{OK: false, Error: "gone", Failures: 3}) {
		t.Errorf("status %+v", got)
	}

	seq := simSequence(t, 6)
	run := func(steps ...int) []simMsg {
		var out []simMsg
		for i, s := range steps {
			out = append(out, simMsg{ts: int64(100 + i), vals: seq[s]})
		}
		return out
	}
	good := run(0, 1, 2, 3)
	good = append(good, good[2])                       // a QoS 1 duplicate
	good = append(good, simMsg{ts: 103, vals: seq[4]}) // step 4 in the millisecond of step 3
	if n, last, err := soakComplete(t, good); err != nil || n != 5 || last != 103 {
		t.Errorf("complete: %d readings up to %d, %v", n, last, err)
	}
	for name, msgs := range map[string][]simMsg{
		"lost":      run(0, 1, 3),
		"reordered": run(0, 2, 1),
		"foreign":   append(run(0, 1), simMsg{ts: 200, vals: [3]int64{1, 2, 3}}),
		"restarted": run(0, 1, 0),
	} {
		if _, _, err := soakComplete(t, msgs); err == nil {
			t.Errorf("%s: not caught", name)
		}
	}
	if !containsReading(run(0, 1), fmt.Appendf(nil, `{"ts":101,"values":{"temperature":{"v":%g},"humidity":{"v":%g},"pressure":{"v":%g}}}`,
		float64(seq[1][0])/1000, float64(seq[1][1])/1000, float64(seq[1][2])/1000)) {
		t.Error("containsReading misses a reading that is there")
	}
}
