package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	var w Writer
	w.Family("x_total", Counter, "Things \\ counted\nby x.")
	w.Uint("x_total", math.MaxUint64, "a", `q"b\c`+"\n", "b", "2")
	w.Family("y", Gauge, "Y.")
	w.Sample("y", 0.25)
	w.Sample("y", math.NaN(), "k", "v")
	w.Sample("y", math.Inf(1), "k", "w")
	w.Sample("y", math.Inf(-1), "k", "x", "odd")
	want := `# HELP x_total Things \\ counted\nby x.
# TYPE x_total counter
x_total{a="q\"b\\c\n",b="2"} 18446744073709551615
# HELP y Y.
# TYPE y gauge
y 0.25
y{k="v"} NaN
y{k="w"} +Inf
y{k="x"} -Inf
`
	if got := string(w.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	w.Reset()
	if len(w.Bytes()) != 0 {
		t.Error("Reset left bytes")
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"temperature": "temperature", "Temperature (°C)": "temperature_c", "µg/m³": "g_m", "--": "", "pm2.5": "pm2_5", "CPU-Temp": "cpu_temp",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	for s, want := range map[string]bool{"a_b:c9": true, "_x": true, "9a": false, "": false, "a-b": false, "é": false} {
		if ValidName(s) != want {
			t.Errorf("ValidName(%q) = %v", s, !want)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	var w Writer
	w.Sample("warm_up", 1, "a", "b")
	if n := testing.AllocsPerRun(100, func() {
		w.Reset()
		w.Family("sensorcast_x_total", Counter, "X.")
		w.Uint("sensorcast_x_total", 42, "reason", "host")
		w.Sample("sensorcast_y", 21.375, "sensor", "sim")
	}); n != 0 {
		t.Errorf("%v allocations per family", n)
	}
}

// A fake /proc: the numbers are a real process's, the command name has a
// space and a parenthesis, as proc(5) allows.
func TestProcess(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "self", "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, fd := range []string{"0", "1", "2"} {
		os.WriteFile(filepath.Join(proc, "self", "fd", fd), nil, 0o644)
	}
	stat := "4242 (sensor cast)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 12345 1234567 200 18446744073709551615\n"
	os.WriteFile(filepath.Join(proc, "self", "stat"), []byte(stat), 0o644)
	os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"), 0o644)
	var w Writer
	if err := w.process(proc); err != nil {
		t.Fatal(err)
	}
	out := string(w.Bytes())
	for _, line := range []string{
		"process_cpu_seconds_total 3\n",
		"process_virtual_memory_bytes 1.234567e+06\n",
		"process_open_fds 3\n",
		"process_start_time_seconds 1.70000012345e+09\n",
		"process_resident_memory_bytes " + string(appendFloat(nil, float64(200*os.Getpagesize()))) + "\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q in\n%s", line, out)
		}
	}

	// A damaged stat file: an error, nothing written.
	os.WriteFile(filepath.Join(proc, "self", "stat"), []byte("4242 (x S 1"), 0o644)
	w.Reset()
	if err := w.process(proc); err == nil || len(w.Bytes()) != 0 {
		t.Errorf("damaged stat: err %v, wrote %q", err, w.Bytes())
	}
	if err := w.process(filepath.Join(proc, "missing")); err == nil {
		t.Error("no /proc: no error")
	}
}

func TestRuntime(t *testing.T) {
	var w Writer
	w.Runtime()
	out := string(w.Bytes())
	for _, s := range []string{"go_goroutines ", "go_info{version=\"go", "go_gc_duration_seconds_count ", "go_memstats_sys_bytes "} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q in\n%s", s, out)
		}
	}
}
