package compare

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a goroutine of this package or of the load
// generator outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "compare: leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		var leaked []string
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			if (strings.Contains(g, "bench/compare.") || strings.Contains(g, "bench/loadgen.")) &&
				!strings.Contains(g, "compare.TestMain") && !strings.Contains(g, "compare.leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSmoke runs the whole comparison with tiny counts: every server is
// built, started and must do both jobs correctly (every echo checked, push
// frames delivered, a memory report). No timing is asserted.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	bins, err := Build(".."+string(filepath.Separator), dir, Servers)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cfg := Config{
		Bins: bins, Servers: Servers, IdleConns: 20, PushClients: []int{10}, PushRate: 50,
		HeavyClients: 10, HeavyRate: 200, EchoConns: 4, EchoWindow: 4, EchoSize: 120,
		Warmup: 200 * time.Millisecond, Window: 300 * time.Millisecond, Log: &log,
		ProfileDir: t.TempDir(),
		// Two low steps, no bisection: the mechanics, not the figures.
		Ceiling: Ceiling{Clients: 5, From: 50, To: 75, Factor: 1.5, Warmup: 100 * time.Millisecond,
			Window: 300 * time.Millisecond, LagBound: 100 * time.Millisecond},
	}
	res, err := Run(cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	res.Print(&out, Servers)
	t.Logf("\n%s", out.String())
	for _, metric := range []string{"idle goroutines / conn", "push 10×50: frames/s", "push 10×200: frames/s", "echo 4 conns: msgs/s"} {
		for _, s := range Servers {
			if v, ok := res.Get(metric, s); !ok || v <= 0 {
				t.Errorf("%s of %s = %v, %v; want > 0", metric, s, v, ok)
			}
		}
	}
	for _, s := range Servers {
		for _, run := range []string{"push-10x50", "push-10x200", "echo"} {
			if fi, err := os.Stat(filepath.Join(cfg.ProfileDir, s+"-"+run+".pprof")); err != nil || fi.Size() == 0 {
				t.Errorf("CPU profile of %s %s: %v", s, run, err)
			}
		}
	}
	// The ceiling: the held rate is a step tried, at most the top one;
	// the top step's figures are there whatever it showed.
	for _, s := range Servers {
		top, ok := res.Get("top step 5 clients", s)
		if !ok || top != 50 && top != 75 {
			t.Errorf("top step of %s = %v, %v; want 50 or 75 Hz", s, top, ok)
		}
		if c, ok := res.Get("ceiling 5 clients", s); !ok || c != 0 && c != 50 && c != 75 || c > top {
			t.Errorf("ceiling of %s = %v, %v; want 0, 50 or 75 Hz, at most %v", s, c, ok, top)
		}
		for _, metric := range []string{"frames/s", "sent of offered", "delivered of offered"} {
			if v, ok := res.Get("top step 5 clients: "+metric, s); !ok || v <= 0 {
				t.Errorf("top step %s of %s = %v, %v; want > 0", metric, s, v, ok)
			}
		}
		if _, ok := res.Get("top step 5 clients: latest reading, worst", s); !ok {
			t.Errorf("no latest reading figure for %s", s)
		}
		if !strings.Contains(log.String(), s) || strings.Count(log.String(), "Hz: sent ") < len(Servers) {
			t.Errorf("no step lines in the log:\n%s", log.String())
		}
	}
	if !strings.Contains(out.String(), "ours / best peer") || !strings.Contains(out.String(), "× g") && !strings.Contains(out.String(), "× c") {
		t.Errorf("table without ratios:\n%s", out.String())
	}
}

// TestSmokeEndToEnd runs the real binary with a fast simulated sensor.
func TestSmokeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sensorcast-bin")
	if err := BuildSensorcast(filepath.Join("..", ".."), bin); err != nil {
		t.Fatal(err)
	}
	r, err := EndToEnd(bin, dir, 5, 20*time.Millisecond, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.Readings == 0 || r.IdleRSS <= 0 || r.LoadedRSS <= 0 || r.P99 < r.P50 {
		t.Fatalf("result %+v", r)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Logf("\n%s", out.String())
}

func TestStartServerFails(t *testing.T) {
	if _, err := StartServer("false", "/bin/false", 1, ""); err == nil {
		t.Fatal("StartServer of a program that exits at once succeeded")
	}
}

func TestParseStatCPU(t *testing.T) {
	line := []byte("1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 2 3\n")
	d, err := parseStatCPU(line)
	if err != nil || d != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 x 50 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestParseRSS(t *testing.T) {
	n, err := parseRSS([]byte("Name:\tx\nVmRSS:\t   1024 kB\nThreads:\t3\n"))
	if err != nil || n != 1<<20 {
		t.Fatalf("parseRSS = %d, %v", n, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := parseRSS([]byte(bad)); err == nil {
			t.Errorf("parseRSS(%q) succeeded", bad)
		}
	}
}

func TestJSONInt(t *testing.T) {
	if n, ok := jsonInt([]byte(`{"ts":1795721607120,"x":1}`), `"ts":`); !ok || n != 1795721607120 {
		t.Fatalf("jsonInt = %d %v", n, ok)
	}
	for _, bad := range []string{`{}`, `{"ts":"1"}`, `{"ts":}`} {
		if _, ok := jsonInt([]byte(bad), `"ts":`); ok {
			t.Errorf("jsonInt(%s) ok", bad)
		}
	}
}

func TestPrintMissing(t *testing.T) {
	r := &Result{}
	r.add("spread", "ms", Lower, "a", 2)
	var out bytes.Buffer
	r.Print(&out, []string{"a", "b"})
	if !strings.Contains(out.String(), "|          - |") {
		t.Fatalf("a missing value is not shown as -:\n%s", out.String())
	}
}

func TestRatio(t *testing.T) {
	row := Row{Better: Lower, Values: map[string]float64{"a": 2, "b": 4, "c": 1}}
	if r := row.ratio([]string{"a", "b", "c"}); r != "2.00× c" {
		t.Fatalf("ratio = %q", r)
	}
	row.Better = Higher
	if r := row.ratio([]string{"a", "b", "c"}); r != "0.50× b" {
		t.Fatalf("ratio = %q", r)
	}
	if r := row.ratio([]string{"a"}); r != "" {
		t.Fatalf("ratio with no peer = %q", r)
	}
}

// FuzzParseStatCPU: no stat line makes the parser panic or report a
// negative time.
func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1 (x) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1"))
	f.Add([]byte("1 (a) b) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStatCPU(b); err == nil && d < 0 {
			t.Fatalf("negative CPU %v", d)
		}
	})
}

// FuzzParseRSS: no status file makes the parser panic or report a
// negative size.
func FuzzParseRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t 12 kB\n"))
	f.Add([]byte("VmRSS:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseRSS(b); err == nil && n < 0 {
			t.Fatalf("negative RSS %d", n)
		}
	})
}

func TestParseMachineCPU(t *testing.T) {
	d, err := parseMachineCPU([]byte("cpu  100 5 50 9999 30 7 80 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if want := 165 * clockTick; err != nil || d != want {
		t.Fatalf("parseMachineCPU = %v, %v; want %v", d, err, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 x 3 4 5 6 7 8\n", "intr 1 2 3 4 5 6 7 8\n"} {
		if _, err := parseMachineCPU([]byte(bad)); err == nil {
			t.Errorf("parseMachineCPU(%q) succeeded", bad)
		}
	}
	if _, err := machineCPU(); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseMachineCPU: no /proc/stat makes the parser panic or report a
// negative time.
func FuzzParseMachineCPU(f *testing.F) {
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8 0 0\n"))
	f.Add([]byte("cpu\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseMachineCPU(b); err == nil && d < 0 {
			t.Fatalf("negative CPU %v", d)
		}
	})
}
