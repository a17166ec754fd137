package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// End-to-end tests of the MQTT bridge: the real binary against a real
// mosquitto, counted by a subscriber with a persistent session.

// buildSensorcast builds the binary into a temporary directory.
func buildSensorcast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sensorcast")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is one running sensorcast process.
type node struct {
	cmd *exec.Cmd
	log *os.File
}

// startNode runs bin with a 10 Hz simulated sensor publishing to broker,
// keeping its queue in state.
func startNode(t *testing.T, bin, broker, state string) *node {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sensorcast.toml")
	os.WriteFile(cfg, []byte(`device = "node1"

[[sensor]]
driver = "sim"
name = "sim"
interval = "100ms"
seed = 7

[mqtt]
broker = "`+broker+`"
client_id = "node1"
values = false
reconnect_max = "2s"
`), 0o600)
	lf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-config", cfg, "-state", state)
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, log: lf}
	t.Cleanup(func() {
		n.signal(syscall.SIGKILL)
		lf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(lf.Name())
			t.Logf("sensorcast stderr:\n%s", out)
		}
	})
	return n
}

func (n *node) signal(sig syscall.Signal) {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(sig)
	n.cmd.Wait()
}

// counter is an MQTT subscriber with a persistent session: the broker
// keeps its QoS 1 messages while it is away, and across a broker restart.
type counter struct {
	mu   sync.Mutex
	msgs []simMsg
	c    paho.Client
}

type simMsg struct {
	ts   int64
	vals [3]int64 // temperature, humidity, pressure in milli-units
}

func newCounter(t *testing.T, url, topic string) *counter {
	t.Helper()
	c := &counter{}
	handler := func(_ paho.Client, m paho.Message) {
		var r struct {
			Ts     int64
			Values map[string]struct{ V json.Number }
		}
		d := json.NewDecoder(bytes.NewReader(m.Payload()))
		d.UseNumber()
		if err := d.Decode(&r); err != nil {
			t.Errorf("bad reading %q: %v", m.Payload(), err)
			return
		}
		var sm simMsg
		sm.ts = r.Ts
		for i, k := range []string{"temperature", "humidity", "pressure"} {
			f, _ := r.Values[k].V.Float64()
			sm.vals[i] = reading.Milli(f)
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, sm)
		c.mu.Unlock()
	}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("counter-" + strings.ReplaceAll(t.Name(), "/", "-")).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetOrderMatters(true).
		SetResumeSubs(true).SetDefaultPublishHandler(handler)
	o.SetOnConnectHandler(func(cl paho.Client) { cl.Subscribe(topic, 1, handler) })
	c.c = paho.NewClient(o)
	if tok := c.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("counter connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.c.Disconnect(100) })
	return c
}

func (c *counter) snapshot() []simMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]simMsg(nil), c.msgs...)
}

// waitUntil polls cond every 100 ms for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// simSequence returns the first n readings of the test's Sim, which depend
// only on the seed and the step.
func simSequence(t *testing.T, n int) [][3]int64 {
	sim := sensors.NewSim(&sensors.SimOpts{Name: "sim", Seed: 7})
	out := make([][3]int64, n)
	var r reading.Reading
	for i := range out {
		r.Reset("node1", "sim", time.Time{})
		if err := sim.Sense(&r); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			out[i][j] = r.At(j).Milli
		}
	}
	return out
}

// checkComplete checks that msgs hold, after removing QoS 1 duplicates,
// every reading of each sensorcast run in order: step 0, 1, 2, … of the
// Sim, starting again at step 0 at most runs-1 times (a restart). It
// returns the received readings, without duplicates, of each run.
func checkComplete(t *testing.T, msgs []simMsg, runs int) ([][]simMsg, error) {
	t.Helper()
	want := simSequence(t, len(msgs)+1)
	seen := make(map[int64]bool)
	var out [][]simMsg
	k := 0
	for i, m := range msgs {
		if seen[m.ts] {
			continue // a QoS 1 duplicate, delivered again after a reconnect
		}
		seen[m.ts] = true
		switch {
		case m.vals == want[k]:
			if k == 0 {
				out = append(out, nil)
			}
			k++
		case m.vals == want[0] && len(out) < runs:
			out = append(out, nil)
			k = 1
		default:
			return nil, fmt.Errorf("message %d (ts %d): values %v are not step %d of the sim (%v): a reading was lost or reordered", i, m.ts, m.vals, k, want[k])
		}
		if n := len(out[len(out)-1]); n > 0 && out[len(out)-1][n-1].ts >= m.ts {
			return nil, fmt.Errorf("message %d: ts %d not after %d", i, m.ts, out[len(out)-1][n-1].ts)
		}
		out[len(out)-1] = append(out[len(out)-1], m)
	}
	return out, nil
}

// TestCheckComplete shows that the outage tests' check catches a lost, a
// reordered and a surplus restarted reading, and accepts duplicates.
func TestCheckComplete(t *testing.T) {
	seq := simSequence(t, 10)
	run := func(steps ...int) []simMsg {
		var out []simMsg
		for i, s := range steps {
			out = append(out, simMsg{ts: int64(1000 + i), vals: seq[s]})
		}
		return out
	}
	good := run(0, 1, 2, 3, 4)
	if got, err := checkComplete(t, good, 1); err != nil || len(got) != 1 || len(got[0]) != 5 {
		t.Errorf("complete run: %v, %v", got, err)
	}
	dup := append(run(0, 1, 2), run(0, 1, 2)[2], run(0, 1, 2, 3)[3])
	if got, err := checkComplete(t, dup, 1); err != nil || len(got[0]) != 4 {
		t.Errorf("run with a QoS 1 duplicate: %v, %v", got, err)
	}
	restarted := append(run(0, 1, 2), run(0, 1, 2, 3, 4, 0, 1)[5:]...)
	if got, err := checkComplete(t, restarted, 2); err != nil || len(got) != 2 {
		t.Errorf("two runs: %v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		msgs []simMsg
		runs int
	}{
		"lost":         {run(0, 1, 3, 4), 1},
		"reordered":    {run(0, 2, 1, 3), 1},
		"extra run":    {restarted, 1},
		"lost at join": {append(run(0, 1), run(0, 1, 2, 3, 1)[4:]...), 2},
	} {
		if _, err := checkComplete(t, tc.msgs, tc.runs); err == nil {
			t.Errorf("%s: not caught", name)
		}
	}
}

func TestMQTTOutage(t *testing.T) {
	t.Parallel()
	testOutage(t, 0)
}

func TestMQTTOutageWithRestart(t *testing.T) {
	t.Parallel()
	testOutage(t, syscall.SIGTERM)
}

// TestMQTTOutageWithCrash: even killed with SIGKILL during the outage,
// sensorcast loses no reading it had taken: each is on disk before
// PublishReading returns.
func TestMQTTOutageWithCrash(t *testing.T) {
	t.Parallel()
	testOutage(t, syscall.SIGKILL)
}

// testOutage publishes at 10 Hz, stops the broker for 10 s and starts it
// again; with a signal, sensorcast is also stopped with it 3 s into the
// outage and started again. Every reading must arrive, in order.
func testOutage(t *testing.T, stop syscall.Signal) {
	restart := stop != 0
	if testing.Short() {
		t.Skip("an outage takes 10 s")
	}
	b := mosquittotest.Start(t, nil)
	bin := buildSensorcast(t)
	cnt := newCounter(t, b.URL, "sensorcast/node1/sim")
	state := t.TempDir()
	n := startNode(t, bin, b.URL, state)
	waitUntil(t, 10*time.Second, "readings before the outage", func() bool { return len(cnt.snapshot()) >= 10 })

	killed := time.Now()
	b.Stop()
	if restart {
		time.Sleep(3 * time.Second)
		n.signal(stop)
		if stop == syscall.SIGTERM && !n.cmd.ProcessState.Success() {
			t.Errorf("sensorcast exited with %v", n.cmd.ProcessState)
		}
		n = startNode(t, bin, b.URL, state)
		time.Sleep(7 * time.Second)
	} else {
		time.Sleep(10 * time.Second)
	}
	restarted := time.Now()
	b.Restart()

	// Caught up: readings taken after the broker came back have arrived.
	after := restarted.Add(time.Second).UnixMilli()
	waitUntil(t, 20*time.Second, "readings after the outage", func() bool {
		m := cnt.snapshot()
		return len(m) > 0 && m[len(m)-1].ts > after
	})
	n.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)

	runs := 1
	if restart {
		runs = 2
	}
	got, err := checkComplete(t, cnt.snapshot(), runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != runs {
		t.Fatalf("%d runs of the sim seen, want %d", len(got), runs)
	}
	if last := got[0][len(got[0])-1].ts; restart && last < killed.Add(2*time.Second).UnixMilli() {
		t.Errorf("the first run's readings end %d ms after the broker stopped: those it queued before its restart were lost", last-killed.UnixMilli())
	}
	during := 0
	for _, run := range got {
		for _, m := range run {
			if m.ts > killed.Add(500*time.Millisecond).UnixMilli() && m.ts < restarted.Add(-500*time.Millisecond).UnixMilli() {
				during++
			}
		}
	}
	total := len(got[0])
	if restart {
		total += len(got[1])
	}
	t.Logf("%d readings delivered in order, %d of them taken during the outage", total, during)
	// The completeness check above is the real assertion (no reading of the
	// sim's sequence is missing); this one only makes sure the outage was
	// not empty. 10 Hz over 9 s gives about 90, less a restart; a loaded
	// machine skips late ticks, so the floor is kept well below that.
	if min := 20; during < min {
		t.Errorf("only %d readings from the outage arrived, want at least %d", during, min)
	}
}

// TestMQTTLastWill: a clean stop publishes offline itself; after SIGKILL
// the broker publishes the retained last will, offline.
func TestMQTTLastWill(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	bin := buildSensorcast(t)
	var mu sync.Mutex
	var status []string
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID("lwt-watcher")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("sensorcast/node1/status", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		status = append(status, string(m.Payload()))
		mu.Unlock()
	}).Wait()
	last := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(status) >= n
		}
	}
	state := t.TempDir()

	n := startNode(t, bin, b.URL, state)
	waitUntil(t, 10*time.Second, "online", last(1))
	n.signal(syscall.SIGTERM)
	waitUntil(t, 5*time.Second, "offline after SIGTERM", last(2))

	n = startNode(t, bin, b.URL, state)
	waitUntil(t, 10*time.Second, "online again", last(3))
	n.signal(syscall.SIGKILL)
	waitUntil(t, 5*time.Second, "the last will", last(4))
	mu.Lock()
	got := fmt.Sprint(status)
	mu.Unlock()
	if got != "[online offline online offline]" {
		t.Errorf("status messages = %s", got)
	}

	// Retained: Home Assistant starting now still learns the node is down.
	var retained paho.Message
	done := make(chan struct{})
	c2 := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL).SetClientID("late"))
	c2.Connect().Wait()
	defer c2.Disconnect(100)
	var once sync.Once
	c2.Subscribe("sensorcast/node1/status", 1, func(_ paho.Client, m paho.Message) {
		once.Do(func() { retained = m; close(done) })
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no retained status")
	}
	if !retained.Retained() || string(retained.Payload()) != "offline" {
		t.Errorf("retained status = %q (retained %v), want offline", retained.Payload(), retained.Retained())
	}
}

// TestMQTTConfigErrors: a bad [mqtt] table stops sensorcast before it
// starts, with the file and the problem.
func TestMQTTConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ toml, want string }{
		"bad qos":     {"[mqtt]\nbroker = \"tcp://127.0.0.1:1\"\nqos = 3\n", "[mqtt]: mqtt: qos 3"},
		"no broker":   {"[mqtt]\nprefix = \"x\"\n", "[mqtt]: mqtt: missing broker URL"},
		"unknown key": {"[mqtt]\nbroker = \"tcp://127.0.0.1:1\"\npasword_file = \"x\"\n", `:5: unknown key "mqtt.pasword_file"`},
		"bad scheme":  {"[mqtt]\nbroker = \"http://127.0.0.1:1\"\n", "scheme must be"},
		"wrong type":  {"[mqtt]\nbroker = \"tcp://127.0.0.1:1\"\nqos = \"one\"\n", ":5:"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".toml")
			os.WriteFile(cfg, []byte("[[sensor]]\ndriver = \"sim\"\n"+tc.toml), 0o600)
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"-config", cfg, "-listen", "127.0.0.1:0", "-state", t.TempDir()}, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg) {
				t.Errorf("error %v, want one naming %s and containing %q", err, cfg, tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-mqtt", "udp://x", "-listen", "127.0.0.1:0"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "scheme must be") {
		t.Errorf("-mqtt udp://x: %v", err)
	}
}

// TestNoBridgeWithoutMQTT: with neither [mqtt] nor -mqtt no bridge is
// built and the state directory is not even created.
func TestNoBridgeWithoutMQTT(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	br, err := startBridge(&Config{Device: "pi"}, "", state, "", nil, slog.New(slog.DiscardHandler))
	if br != nil || err != nil {
		t.Fatalf("startBridge without MQTT = %v, %v; want nil, nil", br, err)
	}
	if hubSinks(nil) != nil {
		t.Error("reading sinks without a bridge")
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state directory created without MQTT: %v", err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/sensorcast:/var/lib/other")
	if got, err := defaultStateDir(); got != "/var/lib/sensorcast" || err != nil {
		t.Errorf("with STATE_DIRECTORY: %q, %v", got, err)
	}
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "/home/pi/.state")
	if got, err := defaultStateDir(); got != "/home/pi/.state/sensorcast" || err != nil {
		t.Errorf("with XDG_STATE_HOME: %q, %v", got, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/pi")
	if got, err := defaultStateDir(); got != "/home/pi/.local/state/sensorcast" || err != nil {
		t.Errorf("with HOME only: %q, %v", got, err)
	}
	// None of them: an error, never a directory under /tmp.
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	if got, err := defaultStateDir(); err == nil || got != "" || !strings.Contains(err.Error(), "-state") {
		t.Errorf("with none: %q, %v; want a clear error", got, err)
	}
	var out bytes.Buffer
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("listen = \"127.0.0.1:0\"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // without the check, run would serve until then
	defer cancel()
	err := run(ctx, []string{"-config", cfg}, &out)
	if err == nil || !strings.Contains(err.Error(), "no state directory") {
		t.Errorf("run with no state directory: %v", err)
	}
}
