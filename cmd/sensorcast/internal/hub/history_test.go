package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

type historyMsg struct {
	Type     string `json:"type"`
	Device   string `json:"device"`
	WindowMS int64  `json:"window_ms"`
	StepMS   int64  `json:"step_ms"`
	Sensors  []struct {
		Sensor string    `json:"sensor"`
		Runs   [][]int64 `json:"runs"`
		T      []int64   `json:"-"` // the runs expanded
		Values map[string]struct {
			Unit string     `json:"unit"`
			V    []*float64 `json:"v"`
		} `json:"values"`
	} `json:"sensors"`
}

func decodeHistory(t *testing.T, b []byte) historyMsg {
	t.Helper()
	var m historyMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid history JSON %s: %v", b, err)
	}
	for i := range m.Sensors {
		s := &m.Sensors[i]
		for _, r := range s.Runs {
			every := m.StepMS
			if len(r) == 3 {
				every = r[2]
			}
			if len(r) < 2 || len(r) > 3 || r[0]%m.StepMS != 0 || r[1] <= 0 || every%m.StepMS != 0 || every <= 0 {
				t.Fatalf("run %v with step %d in %s", r, m.StepMS, b)
			}
			for k := range r[1] {
				s.T = append(s.T, r[0]+k*every)
			}
		}
		for name, v := range s.Values {
			if len(v.V) != len(s.T) {
				t.Fatalf("%s.%s has %d values for %d points", s.Sensor, name, len(v.V), len(s.T))
			}
		}
	}
	return m
}

func at(sensor string, ms int64, vals ...int64) *reading.Reading {
	var r reading.Reading
	r.Reset("pi", sensor, t0.Add(time.Duration(ms)*time.Millisecond))
	for i, v := range vals {
		r.Add(fmt.Sprint("v", i), reading.Celsius, v)
	}
	return &r
}

func floats(p []*float64) []any {
	out := make([]any, len(p))
	for i, x := range p {
		if x == nil {
			out[i] = nil
		} else {
			out[i] = *x
		}
	}
	return out
}

// The ring keeps the newest Points points, oldest first.
func TestHistoryRingWraps(t *testing.T) {
	h := New(&Options{Device: "pi", Sensors: []SensorInfo{{Name: "sim", Interval: time.Second}},
		History: HistoryOptions{Window: 5 * time.Second, Points: 5}})
	for i := range 8 {
		h.Publish(at("sim", int64(i)*1000, int64(i)*1000))
	}
	m := decodeHistory(t, h.AppendHistory(nil, "", time.Time{}))
	if m.Type != "history" || m.Device != "pi" || m.WindowMS != 5000 || m.StepMS != 1000 || len(m.Sensors) != 1 {
		t.Fatalf("history = %+v", m)
	}
	s := m.Sensors[0]
	base := t0.UnixMilli() / 1000 * 1000 // each point at the start of its step
	want := []int64{base + 3000, base + 4000, base + 5000, base + 6000, base + 7000}
	if fmt.Sprint(s.T) != fmt.Sprint(want) {
		t.Errorf("t = %v, want %v", s.T, want)
	}
	if len(s.Runs) != 1 {
		t.Errorf("runs = %v, want one run of consecutive steps", s.Runs)
	}
	if got := fmt.Sprint(floats(s.Values["v0"].V)); got != "[3 4 5 6 7]" {
		t.Errorf("v0 = %s, want [3 4 5 6 7]", got)
	}
	if s.Values["v0"].Unit != "°C" {
		t.Errorf("unit = %q", s.Values["v0"].Unit)
	}
}

// Readings closer together than Window/Points share one point: their mean,
// shown at the start of its step.
func TestHistoryDownsamples(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Window: time.Minute, Points: 6}}) // 10 s a point
	for i, v := range []int64{1000, 2000, 6000, 10000, 20000} {
		h.Publish(at("sim", int64(i)*3000, v))
	}
	m := decodeHistory(t, h.AppendHistory(nil, "sim", time.Time{}))
	s := m.Sensors[0]
	base := t0.UnixMilli() - 7120
	// t0 is 27.120 s into its minute, so the steps start at 20 s and 30 s:
	// 27.12 s falls into the first, 30.12, 33.12, 36.12 and 39.12 s into the
	// second.
	if fmt.Sprint(s.T) != fmt.Sprint([]int64{base, base + 10000}) {
		t.Errorf("t = %v (base %d)", s.T, base)
	}
	if got := fmt.Sprint(floats(s.Values["v0"].V)); got != "[1 9.5]" {
		t.Errorf("v0 = %s, want [1 9.5]: 1, then the mean of 2, 6, 10, 20", got)
	}
}

// Points in steps that are not consecutive start a new run.
func TestHistoryRuns(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Window: time.Minute, Points: 60}})
	for _, ms := range []int64{0, 1000, 2000, 10000, 11000, 30000} {
		h.Publish(at("s", ms, ms))
	}
	b := h.AppendHistory(nil, "s", time.Time{})
	base := t0.UnixMilli() / 1000 * 1000
	want := fmt.Sprintf(`"runs":[[%d,3],[%d,2],[%d,1]]`, base, base+10000, base+30000)
	if !strings.Contains(string(b), want) {
		t.Fatalf("history %s\nwant %s", b, want)
	}
	s := decodeHistory(t, b).Sensors[0]
	if got := fmt.Sprint(floats(s.Values["v0"].V)); got != "[0 1 2 10 11 30]" {
		t.Errorf("v0 = %s", got)
	}
}

// A sensor read every few steps makes runs with a stride, not one run per
// point.
func TestHistoryRunStride(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Window: time.Minute, Points: 60}})
	for _, ms := range []int64{0, 2000, 4000, 6000, 8000, 9000, 20000, 23000} {
		h.Publish(at("s", ms, ms))
	}
	b := h.AppendHistory(nil, "s", time.Time{})
	base := t0.UnixMilli() / 1000 * 1000
	// Greedy: a run takes the stride of its first two points.
	want := fmt.Sprintf(`"runs":[[%d,5,2000],[%d,2,11000],[%d,1]]`, base, base+9000, base+23000)
	if !strings.Contains(string(b), want) {
		t.Fatalf("history %s\nwant %s", b, want)
	}
	s := decodeHistory(t, b).Sensors[0]
	if got, want := fmt.Sprint(s.T), fmt.Sprint([]int64{base, base + 2000, base + 4000, base + 6000, base + 8000, base + 9000, base + 20000, base + 23000}); got != want {
		t.Errorf("times %s, want %s", got, want)
	}
}

// A value missing from a reading is null at that point; a value that
// appears later is null before it.
func TestHistoryMissingValues(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Window: 10 * time.Second, Points: 10}})
	h.Publish(at("s", 0, 1000))
	h.Publish(at("s", 1000, 2000, 5000))
	h.Publish(at("s", 2000))
	s := decodeHistory(t, h.AppendHistory(nil, "s", time.Time{})).Sensors[0]
	if got := fmt.Sprint(floats(s.Values["v0"].V)); got != "[1 2 <nil>]" {
		t.Errorf("v0 = %s", got)
	}
	if got := fmt.Sprint(floats(s.Values["v1"].V)); got != "[<nil> 5 <nil>]" {
		t.Errorf("v1 = %s", got)
	}
}

func TestHistorySinceAndSensor(t *testing.T) {
	h := New(&Options{Device: "pi", Sensors: []SensorInfo{{Name: "a", Interval: time.Second}, {Name: "b", Interval: time.Second}, {Name: "idle", Interval: time.Second}}})
	for i := range 10 {
		h.Publish(at("a", int64(i)*1000, int64(i)))
		h.Publish(at("b", int64(i)*1000, int64(-i)))
	}
	m := decodeHistory(t, h.AppendHistory(nil, "b", t0.Add(7*time.Second)))
	if len(m.Sensors) != 1 || m.Sensors[0].Sensor != "b" || len(m.Sensors[0].T) != 3 {
		t.Fatalf("b since +7s = %+v", m.Sensors)
	}
	all := decodeHistory(t, h.AppendHistory(nil, "", t0.Add(time.Hour)))
	if len(all.Sensors) != 3 || len(all.Sensors[0].T) != 0 || all.Sensors[2].Sensor != "idle" {
		t.Fatalf("all since +1h = %+v", all.Sensors)
	}
	if !h.Has("idle") || h.Has("nope") {
		t.Error("Has is wrong")
	}
}

func TestHistoryCSV(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Window: 10 * time.Second, Points: 10}})
	var r reading.Reading
	r.Reset("pi", "s", t0)
	r.Add("temperature", reading.Celsius, 21375)
	r.Add("load1", reading.None, -5)
	r.Add("=cmd,x", reading.Unit(`"q"`), 1000)
	h.Publish(&r)
	r.Reset("pi", "s", t0.Add(time.Second))
	r.Add("temperature", reading.Celsius, 21500)
	h.Publish(&r)
	got, ok := h.AppendHistoryCSV(nil, "s", time.Time{})
	if !ok {
		t.Fatal("AppendHistoryCSV reports an unknown sensor")
	}
	ms := t0.UnixMilli()
	want := "time,ts,temperature (°C),load1,\"'=cmd,x (\"\"q\"\")\"\r\n" +
		fmt.Sprintf("2026-11-26T19:33:27.120Z,%d,21.375,-0.005,1\r\n", ms) +
		fmt.Sprintf("2026-11-26T19:33:28.120Z,%d,21.5,,\r\n", ms+1000)
	if string(got) != want {
		t.Errorf("CSV =\n%q\nwant\n%q", got, want)
	}
	if b, ok := h.AppendHistoryCSV([]byte("x"), "nope", time.Time{}); ok || string(b) != "x" {
		t.Errorf("unknown sensor: %q, %v", b, ok)
	}
}

func TestHistoryOff(t *testing.T) {
	h := New(&Options{Device: "pi", History: HistoryOptions{Off: true}})
	h.Publish(at("s", 0, 1))
	m := decodeHistory(t, h.AppendHistory(nil, "", time.Time{}))
	if len(m.Sensors) != 1 || len(m.Sensors[0].T) != 0 {
		t.Errorf("history with Off = %+v", m.Sensors)
	}
}

func TestAppendSensors(t *testing.T) {
	h := New(&Options{Device: "pi", Version: "v1", Sensors: []SensorInfo{{Name: "sim", Interval: time.Second}, {Name: "bme", Interval: 2 * time.Second}}})
	h.Publish(newReading("sim", 21375))
	h.SetStatus(Status{Sensor: "bme", Err: "read: i/o timeout", Failures: 3, Time: t0})
	var m struct {
		Device, Version string
		Sensors         []struct {
			Sensor     string
			IntervalMS int64 `json:"interval_ms"`
			OK         bool
			Error      string
			Failures   uint64
			Latest     *struct {
				Type   string
				Values map[string]struct{ V float64 }
			}
		}
	}
	b := h.AppendSensors(nil)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if m.Device != "pi" || m.Version != "v1" || len(m.Sensors) != 2 {
		t.Fatalf("sensors = %s", b)
	}
	sim, bme := m.Sensors[0], m.Sensors[1]
	if sim.Sensor != "sim" || sim.IntervalMS != 1000 || !sim.OK || sim.Latest == nil || sim.Latest.Values["temperature"].V != 21.375 {
		t.Errorf("sim = %+v", sim)
	}
	if bme.OK || bme.Error != "read: i/o timeout" || bme.Failures != 3 || bme.Latest != nil {
		t.Errorf("bme = %+v", bme)
	}
}

// The snapshot's history is the same message AppendHistory returns.
func TestSnapshotSendsHistory(t *testing.T) {
	h := New(&Options{Device: "pi", Sensors: []SensorInfo{{Name: "sim", Interval: time.Second}}})
	for i := range 30 {
		h.Publish(at("sim", int64(i)*1000, int64(i)))
	}
	c := newClient()
	if err := h.Snapshot(c); err != nil {
		t.Fatal(err)
	}
	got := c.msgs
	if len(got) != 3 || got[1] != string(h.AppendHistory(nil, "", time.Time{})) {
		t.Fatalf("snapshot = %q", got)
	}
	gz := newClient()
	gz.gzip = true
	if err := h.Snapshot(gz); err != nil {
		t.Fatal(err)
	}
	if len(gz.msgs) != 3 || gz.msgs[1] != got[1] {
		t.Fatalf("gzipped history differs: %q", gz.msgs)
	}
	if n := len(decodeHistory(t, []byte(got[1])).Sensors[0].T); n != 30 {
		t.Errorf("history has %d points, want 30", n)
	}
	if !strings.HasPrefix(got[2], `{"type":"reading"`) {
		t.Errorf("third message = %s", got[2])
	}
}

// Recording history allocates nothing once the rings exist, including when
// the ring wraps and when points are merged.
func TestHistoryNoAllocs(t *testing.T) {
	h := New(&Options{Device: "pi", Frames: nopFrames{}, History: HistoryOptions{Window: 10 * time.Second, Points: 10}})
	r := at("sim", 0, 1, 2, 3)
	h.Publish(r)
	ts := r.Time
	if n := testing.AllocsPerRun(100, func() {
		ts = ts.Add(700 * time.Millisecond)
		r.Time = ts
		h.Publish(r)
	}); n != 0 {
		t.Errorf("Publish with history allocates %v times per reading, want 0", n)
	}
}

func BenchmarkPublishHistory(b *testing.B) {
	h := New(&Options{Device: "pi", Frames: nopFrames{}})
	r := at("sim", 0, 1, 2, 3)
	b.ReportAllocs()
	for b.Loop() {
		r.Time = r.Time.Add(time.Second)
		h.Publish(r)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	h := New(&Options{Device: "pi", Frames: nopFrames{}})
	r := at("sim", 0, 21375, 45200, 1013250)
	for range DefaultHistoryPoints {
		r.Time = r.Time.Add(time.Second)
		h.Publish(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Snapshot(newClient())
	}
}
