package storm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
)

// TestSmoke runs the whole measurement against the checkout's binary with
// tiny numbers, so that the tool cannot rot. It asserts what the run must
// show, never a timing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sensorcast-bin")
	if err := compare.BuildSensorcast(filepath.Join("..", ".."), bin); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	// 20 clients: above the binary's default cap of WebSockets per address.
	o := Options{Clients: 20, Storms: 2, Pause: 100 * time.Millisecond, Interval: 10 * time.Millisecond, Points: 100, Log: &log}
	r, err := Run("after", bin, dir, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if r.History.Version != 2 || r.History.Points["sim"] != 100 || r.History.Points["host"] == 0 {
		t.Errorf("history %+v, want v2 with 100 sim points and host points", r.History)
	}
	if r.History.Gzip <= 0 || r.History.Gzip >= r.History.Text {
		t.Errorf("gzip history %d bytes, text %d", r.History.Gzip, r.History.Text)
	}
	if len(r.Kinds) != 2 {
		t.Fatalf("%d kinds, want 2", len(r.Kinds))
	}
	dash, plain := r.Kinds[0], r.Kinds[1]
	if dash.Agreed != GzipSubprotocol || plain.Agreed != "" {
		t.Errorf("subprotocols agreed %q and %q", dash.Agreed, plain.Agreed)
	}
	for _, k := range r.Kinds {
		if k.Opens != 40 || k.MinBytes <= 0 || k.Bytes < k.MinBytes || k.MaxBytes < k.Bytes || k.OpenMax < k.OpenP50 {
			t.Errorf("%s: %+v", k.Kind.Name, k)
		}
		if k.Storm.Readings == 0 || k.Idle.Readings == 0 || k.Storm.CPU < 0 || k.Idle.CPU < 0 {
			t.Errorf("%s: the watcher or the CPU saw nothing: %+v", k.Kind.Name, k)
		}
	}
	// A page open holds the whole history: the text one more than the
	// text history, the gzipped one more than the gzipped history.
	if plain.MinBytes <= int64(r.History.Text) || dash.MinBytes <= int64(r.History.Gzip) || dash.MaxBytes >= plain.MinBytes {
		t.Errorf("bytes per open: dashboard %d–%d, plain %d–%d, history %d text, %d gzip",
			dash.MinBytes, dash.MaxBytes, plain.MinBytes, plain.MaxBytes, r.History.Text, r.History.Gzip)
	}
	var out bytes.Buffer
	Print(&out, []string{"before", "after"}, Rows([]*Result{r, r}))
	if !strings.Contains(out.String(), "dashboard (gzip offered): bytes per page open") || !strings.Contains(out.String(), "1.000×") {
		t.Errorf("table:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

// TestRunNoStart: a binary that exits at once is reported, with nothing
// left running.
func TestRunNoStart(t *testing.T) {
	if _, err := Run("false", "/bin/false", t.TempDir(), Options{}); !errors.Is(err, ErrNoStart) {
		t.Errorf("Run(/bin/false) = %v, want ErrNoStart", err)
	}
}

func gz(t *testing.T, p string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(p))
	_ = w.Close()
	return b.Bytes()
}

func TestParseHistory(t *testing.T) {
	v1 := `{"type":"history","sensors":[{"sensor":"sim","t":[1,2,3],"values":{"x":{"v":[1,null,3]}}},{"sensor":"host","t":[],"values":{}}]}`
	v2 := `{"type":"history","v":2,"sensors":[{"sensor":"sim","runs":[[0,2],[50,1]],"values":{"x":{"v":[1,2,3]},"y":{"v":[null,null,1]}}}]}`
	for _, tt := range []struct {
		name string
		p    []byte
		gz   bool
		want History
	}{
		{"v1", []byte(v1), false, History{Version: 1, Points: map[string]int{"sim": 3, "host": 0}, Text: len(v1)}},
		{"v2", []byte(v2), false, History{Version: 2, Points: map[string]int{"sim": 3}, Runs: 2, Text: len(v2)}},
		{"v2 gzip", gz(t, v2), true, History{Version: 2, Points: map[string]int{"sim": 3}, Runs: 2, Text: len(v2), Gzip: len(gz(t, v2))}},
	} {
		h, err := parseHistory(tt.p, tt.gz)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if h.Version != tt.want.Version || h.Runs != tt.want.Runs || h.Text != tt.want.Text || h.Gzip != tt.want.Gzip ||
			len(h.Points) != len(tt.want.Points) || h.Points["sim"] != tt.want.Points["sim"] {
			t.Errorf("%s: %+v, want %+v", tt.name, h, tt.want)
		}
	}
	for _, bad := range []struct {
		name string
		p    []byte
		gz   bool
	}{
		{"not json", []byte("{"), false},
		{"not history", []byte(`{"type":"hello"}`), false},
		{"values shorter than times", []byte(`{"type":"history","sensors":[{"sensor":"s","t":[1,2],"values":{"x":{"v":[1]}}}]}`), false},
		{"values longer than runs", []byte(`{"type":"history","v":2,"sensors":[{"sensor":"s","runs":[[0,1]],"values":{"x":{"v":[1,2]}}}]}`), false},
		{"not gzip", []byte(v2), true},
		{"truncated gzip", gz(t, v2)[:20], true},
	} {
		if _, err := parseHistory(bad.p, bad.gz); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: %v, want ErrSnapshot", bad.name, err)
		}
	}
}

// TestPhase: the gap is measured between consecutive arrivals whose later
// one falls in the window, minus the interval; the age from ts.
func TestPhase(t *testing.T) {
	t0 := time.UnixMilli(1_000_000)
	w := &watcher{}
	for _, ms := range []int64{0, 10, 20, 55, 65, 75, 200} {
		w.arrivals = append(w.arrivals, arrival{at: t0.Add(time.Duration(ms) * time.Millisecond), ts: t0.UnixMilli() + ms - 2})
	}
	p := w.phase(t0.Add(15*time.Millisecond), t0.Add(100*time.Millisecond), 10*time.Millisecond)
	if p.Readings != 4 || p.MaxGap != 25*time.Millisecond || p.MaxAge != 2*time.Millisecond || p.Duration != 85*time.Millisecond {
		t.Errorf("phase %+v, want 4 readings, gap 25ms, age 2ms over 85ms", p)
	}
	if p := w.phase(t0.Add(time.Second), t0.Add(2*time.Second), 10*time.Millisecond); p.Readings != 0 || p.MaxGap != 0 {
		t.Errorf("empty phase %+v", p)
	}
}

func TestJSONInt(t *testing.T) {
	if n, ok := jsonInt([]byte(`{"ts":1234,"x":1}`), `"ts":`); !ok || n != 1234 {
		t.Errorf("jsonInt = %d, %v", n, ok)
	}
	for _, p := range []string{`{"x":1}`, `{"ts":"a"}`, `{"ts":`} {
		if _, ok := jsonInt([]byte(p), `"ts":`); ok {
			t.Errorf("jsonInt(%s) ok", p)
		}
	}
}

func TestSummary(t *testing.T) {
	run := func(b, a float64) []Row {
		return []Row{{Name: "x", Values: []float64{b, a}, Ratio: true}, {Name: "y", Values: []float64{b, math.NaN()}, Ratio: true}}
	}
	s := Summary([][]Row{run(100, 10), run(100, 30), run(200, 40)})
	if s[0].Medians[0] != 100 || s[0].Medians[1] != 30 || len(s[0].Ratios) != 3 || median(s[0].Ratios) != 0.2 {
		t.Errorf("summary %+v", s[0])
	}
	if len(s[1].Ratios) != 0 || !math.IsNaN(s[1].Medians[1]) {
		t.Errorf("summary of a metric without ratio %+v", s[1])
	}
	var out bytes.Buffer
	PrintSummary(&out, []string{"before", "after"}, s, 3)
	if !strings.Contains(out.String(), "0.200× (0.100–0.300)") {
		t.Errorf("summary table:\n%s", out.String())
	}
}

// TestStartWithoutHTTPTable: a binary that does not know the [http] table
// (as before the connection caps) is started again without it.
func TestStartWithoutHTTPTable(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake")
	script := "#!/bin/sh\n" +
		"conf=$2\n" +
		"if grep -q '^\\[http\\]' \"$conf\"; then echo 'sensorcast: '$conf':0: unknown key \"http\"' >&2; exit 1; fi\n" +
		"echo 'level=INFO msg=\"sensorcast started\" addr=127.0.0.1:1' >&2\nexec sleep 30\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := start(fake, dir, Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	conf, _ := os.ReadFile(filepath.Join(dir, "storm.toml"))
	if s.addr != "127.0.0.1:1" || bytes.Contains(conf, []byte("[http]")) {
		t.Errorf("addr %q, config:\n%s", s.addr, conf)
	}
}
