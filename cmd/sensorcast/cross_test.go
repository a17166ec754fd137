package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// maxArm64Size is the budget for the stripped arm64 binary, in bytes.
// Issue 9 set 7 MB at 6.9 MB; issue 16 held the metrics to 7.5 MB (a
// hand-written exposition, 7.34 MB). The features that followed need more,
// which issue 20 allows with a reason: HTTPS (crypto/tls's server side and
// certificate creation, about 100 kB), an HTTP client for alert webhooks
// and the fleet's backfill (net/http's Transport, about 95 kB), e-mail
// alerts (net/smtp, net/mail), the fleet and the alert engine: 8.19 MB
// in all. The file grows in 64 KiB steps (segment alignment).
const maxArm64Size = 8_500_000

// crossVersion is stamped into the test builds.
const crossVersion = "v0.0.0-crosstest"

var (
	crossOnce sync.Once
	crossDir  string
	crossErr  error
	crossOut  []byte
)

// moduleRoot is the repository's top folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// crossBuild builds the three Pi binaries once per test run with the
// Makefile's own targets (make arm64 armv7 armv6) and returns their folder.
func crossBuild(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("cross-compiles three binaries")
	}
	makeBin := needTool(t, "make")
	root := moduleRoot(t)
	crossOnce.Do(func() {
		crossDir, crossErr = os.MkdirTemp("", "sensorcast-cross-")
		if crossErr != nil {
			return
		}
		cmd := exec.Command(makeBin, "--no-print-directory", "-C", root,
			"BINDIR="+crossDir, "VERSION="+crossVersion, "arm64", "armv7", "armv6")
		crossOut, crossErr = cmd.CombinedOutput()
	})
	if crossErr != nil {
		t.Fatalf("make arm64 armv7 armv6: %v\n%s", crossErr, crossOut)
	}
	return crossDir
}

func TestMain(m *testing.M) {
	// sensorcast keeps its access token in the state directory: the runs
	// of these tests (and the binaries they start) keep theirs in a
	// directory of their own, not in the user's.
	state, err := os.MkdirTemp("", "sensorcast-test-state-")
	if err != nil {
		panic(err)
	}
	os.Unsetenv("STATE_DIRECTORY")
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	if crossDir != "" {
		os.RemoveAll(crossDir)
	}
	os.Exit(code)
}

// TestCrossBuild checks each Pi binary — architecture, static, stripped,
// build settings, size — and runs it with -version under qemu-user.
func TestCrossBuild(t *testing.T) {
	dir := crossBuild(t)
	for _, tc := range []struct {
		file, qemu string
		machine    elf.Machine
		settings   []string
	}{
		{"sensorcast-linux-arm64", "qemu-aarch64-static", elf.EM_AARCH64, []string{"GOARCH=arm64"}},
		{"sensorcast-linux-armv7", "qemu-arm-static", elf.EM_ARM, []string{"GOARCH=arm", "GOARM=7"}},
		{"sensorcast-linux-armv6", "qemu-arm-static", elf.EM_ARM, []string{"GOARCH=arm", "GOARM=6"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			bin := filepath.Join(dir, tc.file)
			fi, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes (%.2f MiB)", tc.file, fi.Size(), float64(fi.Size())/(1<<20))
			if tc.machine == elf.EM_AARCH64 && fi.Size() > maxArm64Size {
				t.Errorf("arm64 binary is %d bytes, budget is %d", fi.Size(), maxArm64Size)
			}

			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("ELF machine %v, want %v", f.Machine, tc.machine)
			}
			if f.Section(".symtab") != nil {
				t.Error("binary is not stripped: it has a .symtab")
			}
			if f.Section(".interp") != nil {
				t.Error("binary is dynamically linked: it has an .interp")
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			var settings []string
			for _, s := range info.Settings {
				settings = append(settings, s.Key+"="+s.Value)
			}
			for _, want := range append(tc.settings, "CGO_ENABLED=0", "-trimpath=true", "-tags=nethttpomithttp2") {
				if !strings.Contains(" "+strings.Join(settings, " ")+" ", " "+want+" ") {
					t.Errorf("build setting %s missing; settings: %v", want, settings)
				}
			}

			qemu := needTool(t, tc.qemu)
			out, err := exec.Command(qemu, bin, "-version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s -version: %v\n%s", tc.qemu, tc.file, err, out)
			}
			if got, want := string(out), "sensorcast "+crossVersion+"\n"; got != want {
				t.Errorf("-version printed %q, want %q", got, want)
			}
		})
	}
}

var startedRE = regexp.MustCompile(`msg="sensorcast started".* addr=(\S+)`)

// TestArm64ServesUnderEmulation runs the arm64 binary under qemu-user with
// the default sensors for a few seconds: the dashboard and /ws answer, a
// reading arrives, and SIGTERM ends it with status 0.
func TestArm64ServesUnderEmulation(t *testing.T) {
	dir := crossBuild(t)
	qemu := needTool(t, "qemu-aarch64-static")
	cmd := exec.Command(qemu, filepath.Join(dir, "sensorcast-linux-arm64"), "-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var logMu sync.Mutex
	var logs strings.Builder
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := startedRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	dumpLogs := func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatalf("no start line within 30s under emulation:\n%s", dumpLogs())
	}

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("GET / = %d %.100q", resp.StatusCode, page)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var sawHello, sawSim bool
	for !sawSim {
		p, err := c.ReadText()
		if err != nil {
			t.Fatalf("after hello=%v: %v\n%s", sawHello, err, dumpLogs())
		}
		var m struct{ Type, Sensor string }
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("invalid JSON %s", p)
		}
		sawHello = sawHello || m.Type == "hello"
		sawSim = m.Type == "reading" && m.Sensor == "sim"
	}
	if !sawHello {
		t.Error("no hello before the first reading")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, _, err := c.ReadFrame(); err != nil {
			break
		}
	}
	if code, _, ok := c.CloseCode(); !ok || code != 1001 {
		t.Errorf("close code %d (received %v), want 1001", code, ok)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, dumpLogs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM under emulation")
	}
}
