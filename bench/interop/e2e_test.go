package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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

	"github.com/coder/websocket"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// needTool returns the path of an external program. Where it is missing the
// test is skipped, except in CI (CI=true), where it fails: a missing install
// step must not pass unnoticed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// buildBinary builds the real sensorcast, with the race detector so that a
// data race in the running service fails the test through its exit code.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sensorcast")
	cmd := exec.Command("go", "build", "-race", "-o", bin, "./cmd/sensorcast")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// service is a running sensorcast process.
type service struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	done chan error

	mu     sync.Mutex
	stderr strings.Builder
}

var startedLine = regexp.MustCompile(`msg="sensorcast started".* addr=(127\.0\.0\.1:\d+)`)

// start runs the binary on a free loopback port and waits until it listens.
func start(t *testing.T, bin string, args ...string) *service {
	t.Helper()
	s := &service{done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	// The race detector's default one-second sleep at exit would count
	// against the shutdown deadline.
	s.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait(); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sensorcast stderr:\n%s", s.log())
		}
	})
	select {
	case s.addr = <-addr:
	case err := <-s.done:
		t.Fatalf("sensorcast exited before listening: %v\n%s", err, s.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("sensorcast did not log its address within 20s\n%s", s.log())
	}
	return s
}

func (s *service) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and returns the exit error and how long exiting took.
func (s *service) stop(t *testing.T) (error, time.Duration) {
	t.Helper()
	t0 := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		return err, time.Since(t0)
	case <-time.After(10 * time.Second):
		t.Fatal("sensorcast did not exit within 10s of SIGTERM")
		return nil, 0
	}
}

// message is the union of the documented wire-format messages.
type message struct {
	Type    string `json:"type"`
	Device  string `json:"device"`
	Version string `json:"version"`
	Sensors []struct {
		Sensor     string `json:"sensor"`
		IntervalMS int64  `json:"interval_ms"`
	} `json:"sensors"`
	Sensor string    `json:"sensor"`
	Time   time.Time `json:"time"`
	TS     int64     `json:"ts"`
	Values map[string]struct {
		V    *float64 `json:"v"`
		Unit *string  `json:"unit"`
	} `json:"values"`
}

// checkReading checks that raw is a reading message with every documented
// field, and returns it parsed.
func checkReading(t *testing.T, raw []byte) message {
	t.Helper()
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("message is not JSON: %v: %s", err, raw)
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(raw, &fields)
	for _, f := range []string{"type", "device", "sensor", "time", "ts", "values"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("reading lacks field %q: %s", f, raw)
		}
	}
	if m.Type != "reading" || m.Device == "" || m.Sensor == "" || len(m.Values) == 0 {
		t.Errorf("malformed reading: %s", raw)
	}
	if m.Time.UnixMilli() != m.TS {
		t.Errorf("time %v and ts %d disagree: %s", m.Time, m.TS, raw)
	}
	if d := time.Since(m.Time); d < -time.Second || d > time.Minute {
		t.Errorf("reading time %v is %v from now", m.Time, d)
	}
	for name, v := range m.Values {
		if v.V == nil || v.Unit == nil {
			t.Errorf("value %q lacks v or unit: %s", name, raw)
		}
	}
	return m
}

// simSequence returns the first n values of the simulated sensor with the
// default seed, as the service computes them.
func simSequence(t *testing.T, n int) []map[string]int64 {
	t.Helper()
	sim := sensors.NewSim(&sensors.SimOpts{Seed: 1})
	out := make([]map[string]int64, n)
	for i := range out {
		var r reading.Reading
		r.Reset("d", "sim", time.Now())
		if err := sim.Sense(&r); err != nil {
			t.Fatal(err)
		}
		out[i] = make(map[string]int64)
		for _, v := range r.Values() {
			out[i][v.Name] = v.Milli
		}
	}
	return out
}

// stepOf returns the index of m's values in the predicted sim sequence, or -1.
func stepOf(seq []map[string]int64, m message) int {
	for i, want := range seq {
		ok := len(want) == len(m.Values)
		for name, milli := range want {
			v, found := m.Values[name]
			ok = ok && found && v.V != nil && math.Round(*v.V*1000) == float64(milli)
		}
		if ok {
			return i
		}
	}
	return -1
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	python := "/usr/bin/python3" // Debian's, which python3-websockets serves
	if _, err := os.Stat(python); err != nil {
		python = needTool(t, "python3")
	}
	if err := exec.Command(python, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import websockets (Debian package python3-websockets): %v", python, err)
		}
		t.Skipf("%s cannot import websockets: %v", python, err)
	}

	bin := buildBinary(t)
	svc := start(t, bin)
	base := "http://" + svc.addr

	// The dashboard page.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET / = %d, %.200q", resp.StatusCode, body)
	}

	// The Python client runs alongside, independently, until the server closes.
	pyOut := &lines{}
	py := exec.Command(python, filepath.Join("testdata", "client.py"), "ws://"+svc.addr+"/ws")
	py.Stdout = pyOut
	var pyErr strings.Builder
	py.Stderr = &pyErr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	pyDone := make(chan error, 1)
	go func() { pyDone <- py.Wait() }()
	t.Cleanup(func() { py.Process.Kill() })

	// The Go client: hello first, then readings at the sim's 1 s interval.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+svc.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	typ, raw, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hello message
	if err := json.Unmarshal(raw, &hello); err != nil || typ != websocket.MessageText || hello.Type != "hello" {
		t.Fatalf("first message = %v %s (%v), want a hello text message", typ, raw, err)
	}
	host, _ := os.Hostname()
	if hello.Device != host || len(hello.Sensors) == 0 || hello.Sensors[0].Sensor != "sim" || hello.Sensors[0].IntervalMS != 1000 {
		t.Errorf("hello = %s", raw)
	}

	seq := simSequence(t, 100)
	var sims []message
	var steps []int
	deadline := time.Now().Add(4500 * time.Millisecond)
	for time.Now().Before(deadline) {
		_, raw, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var peek message
		json.Unmarshal(raw, &peek)
		if peek.Type != "reading" {
			continue
		}
		m := checkReading(t, raw)
		if m.Device != host {
			t.Errorf("device %q, want the hostname %q", m.Device, host)
		}
		if m.Sensor == "sim" {
			sims = append(sims, m)
			steps = append(steps, stepOf(seq, m))
			for name, unit := range map[string]string{"temperature": "°C", "humidity": "%", "pressure": "hPa"} {
				if v, ok := m.Values[name]; !ok || *v.Unit != unit {
					t.Errorf("sim reading lacks %s in %s: %+v", name, unit, m.Values)
				}
			}
		}
	}
	// At least one reading per second: over 4.5 s, at least 4 from the sim.
	if len(sims) < 4 {
		t.Fatalf("got %d sim readings in 4.5 s, want at least 4", len(sims))
	}
	for i := 1; i < len(sims); i++ {
		if gap := sims[i].Time.Sub(sims[i-1].Time); gap > 1500*time.Millisecond {
			t.Errorf("readings %d and %d are %v apart, want about 1s", i-1, i, gap)
		}
	}
	// The seeded sim is predictable: each reading is the next step.
	for i, s := range steps {
		if s < 0 {
			t.Errorf("sim reading %d is not in the seed-1 sequence: %+v", i, sims[i].Values)
		} else if i > 0 && steps[i-1] >= 0 && s != steps[i-1]+1 {
			t.Errorf("sim reading %d is step %d, after step %d", i, s, steps[i-1])
		}
	}

	// The Python client got the same kind of stream.
	if err := waitFor(func() bool { return pyOut.count(`"type":"reading"`) >= 2 }, 10*time.Second); err != nil {
		t.Fatalf("python client: %v; stdout:\n%s\nstderr:\n%s", err, pyOut.String(), pyErr.String())
	}
	pyLines := pyOut.all()
	if !strings.Contains(pyLines[0], `"type":"hello"`) {
		t.Errorf("python client's first message = %s, want hello", pyLines[0])
	}
	for _, l := range pyLines[1:] {
		if strings.Contains(l, `"type":"reading"`) {
			checkReading(t, []byte(l))
		}
	}

	// SIGTERM: both clients get 1001 Going Away, the process exits 0 within 2 s.
	// The Go client keeps reading, as a live client does, so it answers the
	// close handshake.
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	exitErr, took := svc.stop(t)
	if exitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", exitErr, svc.log())
	}
	if took > 2*time.Second {
		t.Errorf("exit took %v after SIGTERM, want under 2s", took)
	}
	t.Logf("exited %v after SIGTERM", took)
	closeErr := <-closed
	if code := websocket.CloseStatus(closeErr); code != websocket.StatusGoingAway {
		t.Errorf("Go client: close %v (%v), want 1001 Going Away", code, closeErr)
	}
	select {
	case err := <-pyDone:
		if err != nil {
			t.Errorf("python client: %v\n%s", err, pyErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("python client did not see the close within 10s")
	}
	all := pyOut.all()
	if last := all[len(all)-1]; !strings.HasPrefix(last, "CLOSE 1001") {
		t.Errorf("python client's last line = %q, want CLOSE 1001", last)
	}
}

// lines collects a process's stdout line by line.
type lines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lines) all() []string {
	return strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
}

func (l *lines) count(sub string) int { return strings.Count(l.String(), sub) }

func waitFor(cond func() bool, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return errors.New(fmt.Sprint("condition not met within ", limit))
}
