package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

func requireMosquitto(t *testing.T) {
	t.Helper()
	for _, p := range []string{Mosquitto, MosquittoSub} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI: %v", p, err)
			}
			t.Skipf("%s not installed: %v", p, err)
		}
	}
}

// TestSmoke runs a tiny fleet step and its floor against the checkout's
// binary and a real Mosquitto, so that the tool cannot rot. It asserts
// what the run must show, never a timing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	requireMosquitto(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sensorcast-bin")
	if err := compare.BuildSensorcast(filepath.Join("..", ".."), bin); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	o := Options{Bin: bin, Nodes: 6, Sensors: 2, Interval: 200 * time.Millisecond, Clients: 3, Conns: 2,
		Warmup: 500 * time.Millisecond, Window: 2 * time.Second, Grace: time.Second, Log: &log}
	for _, mode := range []Mode{ModeFleet, ModeFloor} {
		o.Mode = mode
		d := filepath.Join(dir, string(mode))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := Run(d, o)
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, log.String())
		}
		wantRecv := o.Clients
		if mode == ModeFloor {
			wantRecv = 1
		}
		// 6 nodes × 2 sensors × 5 per second for 2 s: about 120.
		if r.Published == 0 || r.Receivers != wantRecv || r.Received == 0 || r.Latency.Count() != uint64(r.Received) {
			t.Errorf("%s: published %d, %d receivers got %d (%d latencies)", mode, r.Published, r.Receivers, r.Received, r.Latency.Count())
		}
		if r.Late.Count() == 0 || len(r.Trend) == 0 || r.CPU < 0 || r.BrokerCPU < 0 {
			t.Errorf("%s: %+v", mode, r)
		}
		if mode == ModeFleet && (r.RSS0 <= 0 || r.RSS <= 0) {
			t.Errorf("fleet RSS %d → %d", r.RSS0, r.RSS)
		}
		t.Logf("%s: published %d, delivered %.4f, p50 %v p99 %v, CPU %v, behind %v %s", mode, r.Published,
			r.Delivered(), r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.CPU, r.Behind, r.Why)
	}
}

func TestRunBadOptions(t *testing.T) {
	for _, o := range []Options{{Mode: "nope"}, {Mode: ModeFleet}, {Mode: ModeFloor, QoS: 2}} {
		if _, err := Run(t.TempDir(), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Run(%+v) = %v, want ErrBadOptions", o, err)
		}
	}
}

func TestStartFleetFails(t *testing.T) {
	if _, _, err := startFleet("/bin/false", t.TempDir(), "127.0.0.1:1", "sensorcast", 1); !errors.Is(err, ErrNoStart) {
		t.Fatalf("startFleet of a program that exits at once: %v", err)
	}
}

func TestHist(t *testing.T) {
	var h, o Hist
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram not 0")
	}
	for ms := int64(1); ms <= 100; ms++ {
		h.Record(ms)
	}
	o.Record(5000) // a coarse bin
	o.Record(-3)   // a clock step: bin 0
	o.Record(1 << 40)
	h.Add(&o)
	if h.Count() != 103 {
		t.Fatalf("count %d", h.Count())
	}
	if q := h.Quantile(0.5); q != 51*time.Millisecond {
		t.Errorf("p50 %v, want 51ms", q)
	}
	if q := h.Quantile(0.99); q != 5000*time.Millisecond {
		t.Errorf("p99 %v, want 5s (the coarse bin)", q)
	}
	if q := h.Quantile(1); q != time.Duration(lowMS(histBins-1))*time.Millisecond {
		t.Errorf("p100 %v, want the overflow bin", q)
	}
	if h.Max() != (1<<40)*time.Millisecond {
		t.Errorf("max %v", h.Max())
	}
	if binOf(2049) != fineBins || lowMS(fineBins+1) != fineBins+coarseStep {
		t.Error("coarse bins misplaced")
	}
}

func TestTsOf(t *testing.T) {
	var r reading.Reading
	s := sensorsOf(7)
	p := appendReading(nil, &r, 3, &s[6], time.UnixMilli(1795721607120), 9)
	ts, ok := tsOf(p)
	if !ok || ts != 1795721607120 {
		t.Fatalf("tsOf(%s) = %d, %v", p, ts, ok)
	}
	var m struct {
		Device, Sensor string
		Values         map[string]struct{ V float64 }
	}
	if err := json.Unmarshal(p, &m); err != nil || m.Device != "node-00003" || m.Sensor != "ds18b20_1" || len(m.Values) != 1 {
		t.Fatalf("reading %s: %+v %v", p, m, err)
	}
	for _, bad := range []string{`{"type":"device","ts":5}`, `{"type":"reading","ts":x}`, `{"type":"reading"}`, `{"type":"reading","ts":0}`, ``} {
		if _, ok := tsOf([]byte(bad)); ok {
			t.Errorf("tsOf(%s) ok", bad)
		}
	}
}

func TestInfoPayload(t *testing.T) {
	var in struct {
		Type, Device string
		Sensors      []struct {
			Sensor     string
			IntervalMS int64 `json:"interval_ms"`
			Values     []struct{ Name, Unit string }
		}
	}
	if err := json.Unmarshal(infoPayload(12, sensorsOf(5), time.Second), &in); err != nil {
		t.Fatal(err)
	}
	if in.Type != "info" || in.Device != "node-00012" || len(in.Sensors) != 5 || in.Sensors[0].IntervalMS != 1000 || len(in.Sensors[4].Values) != 4 {
		t.Fatalf("info %+v", in)
	}
}

func TestJudge(t *testing.T) {
	ok := &Result{Published: 100, MinReceived: 100, Trend: []time.Duration{1, 2, 3, 4}}
	ok.Latency.Record(3)
	if b, why := judge(ok); b {
		t.Fatalf("a step that kept up judged behind: %s", why)
	}
	for name, r := range map[string]*Result{
		"lost":   {Published: 100, MinReceived: 90},
		"slow":   {Published: 100, MinReceived: 100, Trend: []time.Duration{0, 0, time.Second, time.Second}},
		"closed": {Published: 100, MinReceived: 100, Closed: 1},
		"none":   {},
	} {
		if b, _ := judge(r); !b {
			t.Errorf("%s: not judged behind", name)
		}
	}
	late := &Result{Published: 100, MinReceived: 100}
	late.Latency.Record(5000)
	if b, _ := judge(late); !b {
		t.Error("p99 of 5 s not judged behind")
	}
}
