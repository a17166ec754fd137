package hub

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// frames records every payload broadcast to it, copying it as a real sink
// must.
type frames struct {
	mu   sync.Mutex
	msgs []string
}

func (f *frames) BroadcastKey(_ uint64, p []byte) int {
	f.mu.Lock()
	f.msgs = append(f.msgs, string(p))
	f.mu.Unlock()
	return 1
}

type readers struct {
	got      []reading.Reading
	statuses []reading.Status
}

func (r *readers) PublishReading(x *reading.Reading) { r.got = append(r.got, *x) }
func (r *readers) PublishStatus(s *reading.Status)   { r.statuses = append(r.statuses, *s) }

var t0 = time.Date(2026, 11, 26, 19, 33, 27, 120e6, time.UTC)

func newReading(sensor string, milli int64) *reading.Reading {
	var r reading.Reading
	r.Reset("pi", sensor, t0)
	r.Add("temperature", reading.Celsius, milli)
	return &r
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	return m
}

func TestPublishFansOutOnce(t *testing.T) {
	f, rs := &frames{}, &readers{}
	h := New(&Options{Device: "pi", Frames: f, Sinks: []Sink{rs}})
	h.Publish(newReading("sim", 21375))
	if len(f.msgs) != 1 || len(rs.got) != 1 {
		t.Fatalf("got %d frames and %d readings, want 1 and 1", len(f.msgs), len(rs.got))
	}
	m := decode(t, f.msgs[0])
	if m["type"] != "reading" || m["sensor"] != "sim" {
		t.Errorf("frame = %s", f.msgs[0])
	}
	v := m["values"].(map[string]any)["temperature"].(map[string]any)
	if v["v"] != 21.375 || v["unit"] != "°C" {
		t.Errorf("temperature = %v", v)
	}
	if got, _ := rs.got[0].Lookup("temperature"); got.Milli != 21375 {
		t.Errorf("reading sink got %v", got)
	}
}

func TestSnapshot(t *testing.T) {
	f := &frames{}
	h := New(&Options{
		Device: "pi", Version: "v1.2.3", Frames: f,
		Sensors: []SensorInfo{{"sim", time.Second, time.Second}, {"host", 5 * time.Second, 0}, {"bme", 2 * time.Second, 2 * time.Second}},
	})
	h.Publish(newReading("host", 1))
	h.Publish(newReading("sim", 2))
	h.Publish(newReading("sim", 3)) // replaces the previous one
	h.SetStatus(Status{Sensor: "bme", Err: "read: i/o timeout", Failures: 3, Time: t0})
	h.SetStatus(Status{Sensor: "host", Err: "boom", Failures: 1, Time: t0})
	h.SetStatus(Status{Sensor: "host", OK: true, Failures: 1, Time: t0}) // recovered

	c := newClient()
	if err := h.Snapshot(c); err != nil {
		t.Fatal(err)
	}
	got := c.msgs
	if len(got) != 6 {
		t.Fatalf("snapshot has %d messages, want 6: %q", len(got), got)
	}
	if m := decode(t, got[1]); m["type"] != "history" {
		t.Errorf("second message = %s, want the history", got[1])
	}
	got = append(got[:1], got[2:]...) // the history is tested in history_test.go
	decode(t, got[0])
	want := `{"type":"hello","device":"pi","version":"v1.2.3","sensors":[{"sensor":"sim","interval_ms":1000,"max_gap_ms":1000},{"sensor":"host","interval_ms":5000,"max_gap_ms":0},{"sensor":"bme","interval_ms":2000,"max_gap_ms":2000}]}`
	if got[0] != want {
		t.Errorf("hello =\n%s\nwant\n%s", got[0], want)
	}
	// Latest readings in hello order: sim, then host.
	if m := decode(t, got[1]); m["sensor"] != "sim" || m["values"].(map[string]any)["temperature"].(map[string]any)["v"] != 0.003 {
		t.Errorf("second message = %s, want sim's latest reading", got[1])
	}
	if m := decode(t, got[2]); m["sensor"] != "host" {
		t.Errorf("third message = %s, want host's reading", got[2])
	}
	wantStatus := `{"type":"status","device":"pi","sensor":"bme","ok":false,"error":"read: i/o timeout","failures":3,"time":"2026-11-26T19:33:27.120Z","ts":` +
		fmt.Sprint(t0.UnixMilli()) + `}`
	// Statuses in hello order; a recovered sensor's goes too, with its
	// failure count.
	if m := decode(t, got[3]); m["sensor"] != "host" || m["ok"] != true || m["failures"] != 1.0 {
		t.Errorf("fourth message = %s, want host's recovered status", got[3])
	}
	if got[4] != wantStatus {
		t.Errorf("status =\n%s\nwant\n%s", got[4], wantStatus)
	}
	// Every status change was broadcast too.
	var statuses int
	for _, m := range f.msgs {
		if strings.Contains(m, `"type":"status"`) {
			statuses++
		}
	}
	if statuses != 3 {
		t.Errorf("broadcast %d status messages, want 3", statuses)
	}
}

func TestSnapshotStopsAtSendError(t *testing.T) {
	h := New(&Options{Device: "pi", Sensors: []SensorInfo{{Name: "sim", Interval: time.Second}}})
	h.Publish(newReading("sim", 1))
	boom := errors.New("queue full")
	c := newClient()
	c.err = boom
	if err := h.Snapshot(c); !errors.Is(err, boom) || !strings.Contains(err.Error(), "hello") {
		t.Fatalf("Snapshot = %v, want %v sending hello", err, boom)
	}
}

func TestConcurrentPublish(t *testing.T) {
	f := &frames{}
	h := New(&Options{Device: "pi", Frames: f})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newReading(fmt.Sprint("s", i), 0)
			for j := range 100 {
				r.Reset("pi", r.Sensor, t0)
				r.Add("n", reading.None, int64(j))
				h.Publish(r)
				h.Snapshot(newClient())
			}
		}()
	}
	wg.Wait()
	if len(f.msgs) != 400 {
		t.Fatalf("broadcast %d, want 400", len(f.msgs))
	}
	for _, m := range f.msgs {
		decode(t, m)
	}
}

type nopFrames struct{}

func (nopFrames) BroadcastKey(uint64, []byte) int { return 0 }

// client records what Snapshot sends it, as text (a gzipped history is
// unpacked), and when it joined.
type client struct {
	gzip     bool
	msgs     []string
	joinedAt int // len(msgs) when Join was called; -1 before
	err      error
}

func newClient() *client { return &client{joinedAt: -1} }

func (c *client) Join() { c.joinedAt = len(c.msgs) }
func (c *client) Send(p []byte) error {
	if c.err != nil {
		return c.err
	}
	c.msgs = append(c.msgs, string(p))
	return nil
}
func (c *client) SendPrepared(p Prepared) error {
	if c.err != nil {
		return c.err
	}
	b := p.Payload()
	if c.gzip {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		if b, err = io.ReadAll(r); err != nil {
			return err
		}
	}
	c.msgs = append(c.msgs, string(b))
	return nil
}
func (c *client) Subprotocol() string {
	if c.gzip {
		return GzipSubprotocol
	}
	return ""
}

func TestNoAllocs(t *testing.T) {
	h := New(&Options{Device: "pi", Frames: nopFrames{}, Sensors: []SensorInfo{{Name: "sim", Interval: time.Second}}})
	r := newReading("sim", 21375)
	h.Publish(r) // grow the sensor's buffer once
	if n := testing.AllocsPerRun(100, func() { h.Publish(r) }); n != 0 {
		t.Errorf("Publish allocates %v times per reading, want 0", n)
	}
	// What /metrics and /healthz read: the latest values and the history
	// held, kept on the publishing path without allocating.
	states := make([]SensorState, 0, 1)
	if n := testing.AllocsPerRun(100, func() { states = h.AppendStates(states[:0]) }); n != 0 {
		t.Errorf("AppendStates allocates %v times, want 0", n)
	}
	if len(states) != 1 || !states[0].HasLatest || !states[0].OK || states[0].Latest.Values()[0].Milli != 21375 {
		t.Errorf("states = %+v", states)
	}
	if st := h.Stats(); st.Sensors != 1 || st.HistoryPoints != 1 || st.HistoryValues != 1 {
		t.Errorf("Stats = %+v, want 1 sensor, 1 point, 1 value (every reading falls in one step)", st)
	}
}

func TestStates(t *testing.T) {
	h := New(&Options{Device: "pi", Sensors: []SensorInfo{{Name: "a"}, {Name: "b"}},
		History: HistoryOptions{Window: 10 * time.Second, Points: 10}})
	base := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		r := newReading("a", int64(1000*i))
		r.Time = base.Add(time.Duration(i) * time.Second)
		h.Publish(r)
	}
	h.SetStatus(Status{Sensor: "b", Err: "no ack", Failures: 2, Consecutive: 2})
	st := h.AppendStates(nil)
	if len(st) != 2 || st[0].Name != "a" || !st[0].HasLatest || st[0].Latest.Values()[0].Milli != 2000 || !st[0].OK ||
		st[1].Name != "b" || st[1].HasLatest || st[1].OK || st[1].Failures != 2 || st[1].Err != "no ack" {
		t.Errorf("states = %+v", st)
	}
	if s := h.Stats(); s.Sensors != 2 || s.HistoryPoints != 3 || s.HistoryValues != 3 {
		t.Errorf("Stats = %+v, want 2 sensors, 3 points, 3 values", s)
	}
}

func BenchmarkPublish(b *testing.B) {
	h := New(&Options{Device: "pi", Frames: nopFrames{}})
	r := newReading("sim", 21375)
	b.ReportAllocs()
	for b.Loop() {
		h.Publish(r)
	}
}
