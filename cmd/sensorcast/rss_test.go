package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// maxIdleRSS is the budget for the resident memory of an idle release
// binary (no client, simulated sensors), in bytes.
const maxIdleRSS = 12_000_000

// TestIdleRSS runs the release binary (make build) with one simulated
// sensor read every 20 ms, and with the default sensors (simulated and
// host metrics), no client, and checks its resident memory after a few
// seconds against the budget.
func TestIdleRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the release binary")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: resident memory is read from /proc/PID/status")
	}
	makeBin := needTool(t, "make")
	dir := t.TempDir()
	out, err := exec.Command(makeBin, "--no-print-directory", "-C", moduleRoot(t),
		"BINDIR="+dir, "VERSION=v0.0.0-rsstest", "build").CombinedOutput()
	if err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "sensorcast")
	sim := filepath.Join(dir, "sim.toml")
	if err := os.WriteFile(sim, []byte("device = \"rss\"\n\n[[sensor]]\ndriver = \"sim\"\ninterval = \"20ms\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sim-20ms", []string{"-config", sim}},
		{"default-sensors", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rss := idleRSS(t, bin, append(tc.args, "-listen", "127.0.0.1:0", "-state", t.TempDir()))
			t.Logf("idle RSS %d bytes (%.1f MiB)", rss, float64(rss)/(1<<20))
			if rss > maxIdleRSS {
				t.Errorf("idle RSS is %d bytes, budget %d", rss, maxIdleRSS)
			}
		})
	}
}

// idleRSS starts bin with args, waits for its start line and then 3 s,
// and returns its resident memory in bytes.
func idleRSS(t *testing.T, bin string, args []string) int64 {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		ok := false
		for sc.Scan() {
			if !ok && startedRE.MatchString(sc.Text()) {
				ok = true
				started <- true
			}
		}
		if !ok {
			started <- false
		}
	}()
	select {
	case ok := <-started:
		if !ok {
			t.Fatal("sensorcast exited before its start line")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no start line within 20s")
	}
	time.Sleep(3 * time.Second) // the readings flow; the figure is steady from here
	rss, err := vmRSS(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

// vmRSS reads a process's resident memory from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS line %q: %w", l, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
}
