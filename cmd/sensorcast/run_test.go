package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	old := stdout
	stdout = &out
	defer func() { stdout = old }()
	if err := run(context.Background(), []string{"-version"}, &errOut); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "sensorcast "+version+"\n"; got != want {
		t.Errorf("-version printed %q, want %q", got, want)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-listen"}} {
		var errOut bytes.Buffer
		err := run(context.Background(), args, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
		if !strings.Contains(errOut.String(), "-listen") {
			t.Errorf("run(%q) printed no usage: %q", args, errOut.String())
		}
	}
	if err := run(context.Background(), []string{"-h"}, new(bytes.Buffer)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run(-h) = %v, want flag.ErrHelp", err)
	}
}

// A bad config file stops sensorcast before it listens or opens a sensor.
func TestBadConfigStopsBeforeStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte("[[sensor]]\ndriver = \"sim\"\nintervall = \"1s\"\n"), 0o644)
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"-config", path, "-listen", "127.0.0.1:0"}, &errOut)
	if err == nil || !strings.Contains(err.Error(), path+":3: unknown key \"sensor.intervall\"") {
		t.Fatalf("run = %v, want the file, line and key", err)
	}
	if strings.Contains(errOut.String(), "started") {
		t.Errorf("started despite the bad config: %s", errOut.String())
	}
}

// syncBuffer is a log destination safe for the test and run to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var addrRE = regexp.MustCompile(`msg="sensorcast started".* addr=(\S+)`)

// TestRun runs the whole program in-process: the page, the hello and the
// readings on the WebSocket, then a cancelled context closes the client with
// 1001 Going Away and run returns nil.
func TestRun(t *testing.T) {
	p := runInProcess(t, "device = \"bench\"\n[[sensor]]\ndriver = \"sim\"\ninterval = \"50ms\"\nseed = 7\n")
	addr, ctx := p.addr, t.Context()

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	c, _, err := wstest.Dial(dctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var types []string
	for len(types) < 5 {
		p, err := c.ReadText()
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type, Device, Sensor string }
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("invalid JSON %s: %v", p, err)
		}
		if m.Device != "bench" {
			t.Errorf("device %q, want the config's %q", m.Device, "bench")
		}
		types = append(types, m.Type)
	}
	if types[0] != "hello" || types[1] != "history" || types[2] != "reading" || types[4] != "reading" {
		t.Errorf("message types %v, want hello, history, then readings", types)
	}

	p.shutdown(t, c)
}

// inProcess is the whole program run in this process (run), on a loopback
// port chosen at run time.
type inProcess struct {
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// runInProcess starts run with config (TOML text) and waits for its start
// line.
func runInProcess(t *testing.T, config string) *inProcess {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &inProcess{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0"}, p.logs) }()
	for deadline := time.Now().Add(10 * time.Second); p.addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(p.logs.String()); m != nil {
			p.addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no start line in the log:\n%s", p.logs)
		}
	}
	return p
}

// shutdown cancels run, as SIGTERM does, and checks that c is closed with
// 1001 Going Away and that run returns nil within 2 s. It returns how long
// run took to return.
func (p *inProcess) shutdown(t *testing.T, c *wstest.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	p.cancel()
	for {
		if _, _, _, err := c.ReadFrame(); err != nil {
			break
		}
	}
	if code, _, ok := c.CloseCode(); !ok || code != uint16(ws.StatusGoingAway) {
		t.Errorf("close code %d (received: %v), want 1001", code, ok)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("run = %v, want nil after shutdown", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("run did not return within 2s of cancellation:\n%s", p.logs)
	}
	return time.Since(start)
}

// Point 8 of issue 14: shutdown is bounded even while a sensor read is
// stuck (here a DS18B20 whose file is a FIFO that nobody writes, as a bus
// that never answers): every client gets 1001 and run returns nil within
// 2 s of the signal.
func TestShutdownWhileReadStuck(t *testing.T) {
	root := t.TempDir()
	probe := filepath.Join(root, "sys/bus/w1/devices/28-0316a2797aff")
	if err := os.MkdirAll(probe, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(probe, "temperature")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	// The first read (when the source opens) gets a value; every later one
	// blocks until the test ends.
	go func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.WriteString("21375\n")
			f.Close()
		}
	}()
	t.Cleanup(func() {
		// Unblock the stuck read so that its goroutine ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	old := hardwareRoot
	hardwareRoot = root
	t.Cleanup(func() { hardwareRoot = old })

	p := runInProcess(t, `device = "stuck"
[[sensor]]
driver = "sim"
interval = "50ms"
[[sensor]]
name = "probes"
driver = "ds18b20"
interval = "100ms"
`)
	dctx, dcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer dcancel()
	c, _, err := wstest.Dial(dctx, "ws://"+p.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Wait for a sim reading after the probe's first read has started
	// blocking (it is read every 100 ms).
	for range 20 {
		if _, err := c.ReadText(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("shut down in %v with a read stuck", p.shutdown(t, c))
	logs := p.logs
	if !strings.Contains(logs.String(), "probes") {
		t.Errorf("the stuck sensor is not named in the log:\n%s", logs)
	}
}
