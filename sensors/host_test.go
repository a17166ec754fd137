package sensors_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// senseJSON runs one Sense of h and returns the reading's values as JSON.
func senseJSON(t *testing.T, h *sensors.Host) (string, error) {
	t.Helper()
	var r reading.Reading
	r.Reset("pi", h.Name(), time.Unix(0, 0))
	err := h.Sense(&r)
	js := string(r.AppendJSON(nil))
	_, values, _ := strings.Cut(js, `"values":`)
	return strings.TrimSuffix(values, "}"), err
}

// newHost returns a Host on a tree under testdata/host and its log lines.
func newHost(t *testing.T, root string) (*sensors.Host, []string, error) {
	t.Helper()
	var logs bytes.Buffer
	h, err := sensors.NewHost(&sensors.HostOpts{Root: root, Logger: logBuffer(&logs)})
	if h != nil {
		t.Cleanup(func() {
			if err := h.Halt(); err != nil {
				t.Errorf("Halt: %v", err)
			}
		})
	}
	var lines []string
	if s := strings.TrimSpace(logs.String()); s != "" {
		lines = strings.Split(s, "\n")
	}
	return h, lines, err
}

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		tree   string
		values string
		logs   []string // a substring of each expected log line, in order
	}{
		{
			tree: "pi",
			values: `{"cpu_temp":{"v":48.312,"unit":"°C"},` +
				`"load1":{"v":0.52,"unit":""},"load5":{"v":0.58,"unit":""},"load15":{"v":0.59,"unit":""},` +
				`"mem_used":{"v":22.461,"unit":"%"},"mem_available":{"v":2941.743,"unit":"MiB"},` +
				`"uptime":{"v":12345.67,"unit":"s"}}`,
		},
		{
			// The unreadable cpu-thermal zone3 is skipped for x86_pkg_temp.
			tree: "x86",
			values: `{"cpu_temp":{"v":51,"unit":"°C"},` +
				`"load1":{"v":1,"unit":""},"load5":{"v":0.5,"unit":""},"load15":{"v":0.25,"unit":""},` +
				`"mem_used":{"v":75,"unit":"%"},"mem_available":{"v":244.141,"unit":"MiB"},` +
				`"uptime":{"v":5,"unit":"s"}}`,
		},
		{
			// No CPU zone: the lowest-numbered zone, 2 rather than 10.
			tree:   "nocpu",
			values: `{"cpu_temp":{"v":-2.5,"unit":"°C"}}`,
			logs: []string{
				`metrics=load1,load5,load15 err="open testdata/host/nocpu/proc/loadavg: no such file or directory"`,
				`metrics=mem_used,mem_available err="open testdata/host/nocpu/proc/meminfo: no such file or directory"`,
				`metrics=uptime err="open testdata/host/nocpu/proc/uptime: no such file or directory"`,
			},
		},
		{
			// The first interface listed, with the kernel's trailing dots.
			tree: "wifi",
			values: `{"cpu_temp":{"v":48.312,"unit":"°C"},` +
				`"load1":{"v":0.52,"unit":""},"load5":{"v":0.58,"unit":""},"load15":{"v":0.59,"unit":""},` +
				`"mem_used":{"v":22.461,"unit":"%"},"mem_available":{"v":2941.743,"unit":"MiB"},` +
				`"uptime":{"v":12345.67,"unit":"s"},"wifi_signal":{"v":-52,"unit":"dBm"},"wifi_link":{"v":58,"unit":""}}`,
		},
		{
			// Wi-Fi hardware but no interface up: skipped without a word.
			tree: "wifidown",
			values: `{"cpu_temp":{"v":48.312,"unit":"°C"},` +
				`"load1":{"v":0.52,"unit":""},"load5":{"v":0.58,"unit":""},"load15":{"v":0.59,"unit":""},` +
				`"mem_used":{"v":22.461,"unit":"%"},"mem_available":{"v":2941.743,"unit":"MiB"},` +
				`"uptime":{"v":12345.67,"unit":"s"}}`,
		},
		{
			tree: "wifibad",
			values: `{"cpu_temp":{"v":48.312,"unit":"°C"},` +
				`"load1":{"v":0.52,"unit":""},"load5":{"v":0.58,"unit":""},"load15":{"v":0.59,"unit":""},` +
				`"mem_used":{"v":22.461,"unit":"%"},"mem_available":{"v":2941.743,"unit":"MiB"},` +
				`"uptime":{"v":12345.67,"unit":"s"}}`,
			logs: []string{`metrics=wifi_signal,wifi_link err="sensors: host: parse testdata/host/wifibad/proc/net/wireless: bad signal level \"loud\""`},
		},
		{
			tree:   "partial",
			values: `{"uptime":{"v":77.5,"unit":"s"}}`,
			logs: []string{
				`metrics=cpu_temp err="no thermal zones in testdata/host/partial/sys/class/thermal"`,
				`metrics=load1,load5,load15 err="open testdata/host/partial/proc/loadavg: no such file or directory"`,
				`metrics=mem_used,mem_available err="sensors: host: parse testdata/host/partial/proc/meminfo: no MemAvailable line"`,
			},
		},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			h, logs, err := newHost(t, filepath.Join("testdata/host", tc.tree))
			if err != nil {
				t.Fatal(err)
			}
			if len(logs) != len(tc.logs) {
				t.Fatalf("%d log lines, want %d:\n%s", len(logs), len(tc.logs), strings.Join(logs, "\n"))
			}
			for i, want := range tc.logs {
				if !strings.Contains(logs[i], want) || !strings.Contains(logs[i], `msg="host metric unavailable" source=host`) {
					t.Errorf("log line %d:\n%s\nwant it to contain\n%s", i, logs[i], want)
				}
			}
			for range 2 { // files are reread from the start each time
				got, err := senseJSON(t, h)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.values {
					t.Errorf("values:\n%s\nwant\n%s", got, tc.values)
				}
			}
		})
	}
}

func TestHostNothing(t *testing.T) {
	dir := t.TempDir()
	h, logs, err := newHost(t, dir)
	if err == nil || h != nil || !strings.Contains(err.Error(), "no metrics available under "+dir) {
		t.Errorf("NewHost on an empty tree = %v, %v", h, err)
	}
	if len(logs) != 4 {
		t.Errorf("%d log lines, want one per metric group (4):\n%s", len(logs), strings.Join(logs, "\n"))
	}
}

// TestHostChanges rewrites the files of a copied tree between Sense calls:
// new values are picked up, and a malformed or vanished file makes Sense
// fail, naming the file.
func TestHostChanges(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/host/pi")); err != nil {
		t.Fatal(err)
	}
	h, _, err := newHost(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/uptime", "99.999 1.0\n")
	write("sys/class/thermal/thermal_zone0/temp", "50000\n")
	got, err := senseJSON(t, h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"uptime":{"v":99.999,`) || !strings.Contains(got, `"cpu_temp":{"v":50,`) {
		t.Errorf("after rewriting: %s", got)
	}

	for _, tc := range []struct{ file, content, want string }{
		{"proc/loadavg", "0.1 zero 0.3\n", `parse ` + dir + `/proc/loadavg: bad load average "zero"`},
		{"proc/loadavg", "0.1 0.2\n", `parse ` + dir + `/proc/loadavg: want 3 load averages, got 2`},
		{"proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 200 kB\n", `parse ` + dir + `/proc/meminfo: MemAvailable 200 kB exceeds MemTotal 100 kB`},
		{"proc/meminfo", "MemTotal: 0 kB\nMemAvailable: 0 kB\n", `MemTotal is 0`},
		{"proc/meminfo", "MemTotal: 12 MB\nMemAvailable: 1 kB\n", `bad MemTotal line "MemTotal: 12 MB"`},
		{"proc/uptime", "", `parse ` + dir + `/proc/uptime: empty`},
		{"proc/uptime", "-5.0 3\n", `bad uptime "-5.0"`},
		{"sys/class/thermal/thermal_zone0/temp", "48.5\n", `parse ` + dir + `/sys/class/thermal/thermal_zone0/temp: bad temperature "48.5\n"`},
	} {
		orig, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		write(tc.file, tc.content)
		_, err = senseJSON(t, h)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sensors: host: ") {
			t.Errorf("%s = %q: Sense error %v, want one containing %q", tc.file, tc.content, err, tc.want)
		}
		write(tc.file, string(orig))
		if _, err := senseJSON(t, h); err != nil {
			t.Errorf("after restoring %s: %v", tc.file, err)
		}
	}
}

// TestHostWifiVanishes: wlan0 going away after start drops the Wi-Fi values
// only; CPU temperature, load, memory, uptime and disk keep coming, and
// the Wi-Fi values come back with the interface. An interface that comes
// up after start is reported too.
func TestHostWifiVanishes(t *testing.T) {
	for _, tree := range []string{"wifi", "wifidown"} {
		t.Run(tree, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata/host", tree))); err != nil {
				t.Fatal(err)
			}
			wireless := filepath.Join(dir, "proc/net/wireless")
			up, err := os.ReadFile("testdata/host/wifi/proc/net/wireless")
			if err != nil {
				t.Fatal(err)
			}
			down, err := os.ReadFile("testdata/host/wifidown/proc/net/wireless")
			if err != nil {
				t.Fatal(err)
			}
			h, err := sensors.NewHost(&sensors.HostOpts{Root: dir, Disk: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Halt()
			for i, wifi := range []bool{tree == "wifi", !(tree == "wifi"), tree == "wifi"} {
				content := down
				if wifi {
					content = up
				}
				if err := os.WriteFile(wireless, content, 0o644); err != nil {
					t.Fatal(err)
				}
				got, err := senseJSON(t, h)
				if err != nil {
					t.Fatalf("read %d, Wi-Fi %v: %v", i, wifi, err)
				}
				for _, name := range []string{"cpu_temp", "load1", "load15", "mem_used", "mem_available", "uptime", "disk_used", "disk_free"} {
					if !strings.Contains(got, `"`+name+`":`) {
						t.Errorf("read %d, Wi-Fi %v: no %s in %s", i, wifi, name, got)
					}
				}
				if has := strings.Contains(got, `"wifi_signal":{"v":-52,`) && strings.Contains(got, `"wifi_link":{"v":58,`); has != wifi {
					t.Errorf("read %d, Wi-Fi %v: values %s", i, wifi, got)
				}
			}
		})
	}
}

// TestHostLongMeminfo checks that a file longer than the Host's buffer is
// cut at a line boundary: the half line at the end is not parsed.
func TestHostLongMeminfo(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/host/pi")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("MemTotal: 1000 kB\n")
	for b.Len() < 4000 {
		b.WriteString("Filler: 1 kB\n")
	}
	// The 4096-byte buffer ends inside the last line, after "MemAvailable: 5".
	b.WriteString(strings.Repeat("X", 4096-len("\nMemAvailable: 5")-b.Len()) + "\nMemAvailable: 500 kB\n")
	if !strings.HasSuffix(b.String()[:4096], "\nMemAvailable: 5") {
		t.Fatal("bad test file")
	}
	if err := os.WriteFile(filepath.Join(dir, "proc/meminfo"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, logs, err := newHost(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "no MemAvailable line") {
		t.Errorf("logs %q, want one saying MemAvailable is missing", logs)
	}
}

func TestHostNoAllocs(t *testing.T) {
	h, _, err := newHost(t, "testdata/host/pi")
	if err != nil {
		t.Fatal(err)
	}
	var r reading.Reading
	n := testing.AllocsPerRun(100, func() {
		r.Reset("pi", "host", time.Time{})
		if err := h.Sense(&r); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Host.Sense: %v allocs, want 0", n)
	}
}

// TestHostReal reads this machine's own /proc and /sys, when it is Linux.
func TestHostReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("not Linux")
	}
	var logs bytes.Buffer
	h, err := sensors.NewHost(&sensors.HostOpts{Logger: logBuffer(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Halt()
	t.Logf("skipped on this machine:\n%s", logs.String())
	var lastUptime int64
	for i := range 2 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond) // uptime has 10 ms resolution
		}
		var r reading.Reading
		if err := h.Sense(&r); err != nil {
			t.Fatal(err)
		}
		v, ok := r.Lookup("uptime")
		if !ok || v.Milli <= lastUptime {
			// The kept-open file must be rendered afresh by each read at offset 0.
			t.Errorf("uptime = %v, %v after %d ms", v, ok, lastUptime)
		}
		lastUptime = v.Milli
		if v, ok := r.Lookup("mem_used"); ok && (v.Milli <= 0 || v.Milli > 100_000) {
			t.Errorf("mem_used = %v", v)
		}
		t.Logf("%s", r.AppendJSON(nil))
	}
}

func BenchmarkHostSense(b *testing.B) {
	h, err := sensors.NewHost(&sensors.HostOpts{Root: "testdata/host/pi"})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Halt()
	var r reading.Reading
	b.ReportAllocs()
	for b.Loop() {
		r.Reset("pi", "host", time.Time{})
		if err := h.Sense(&r); err != nil {
			b.Fatal(err)
		}
	}
}
