package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// TestSoak (make soak; SOAK=60s in make test) runs the real binary for SOAK
// under load and checks, at the end, that nothing grew, nothing was lost
// and nothing unexpected was logged:
//
//   - sensors at 20 Hz: sim (seed 7) and host, plus one I²C sensor on a
//     missing bus that fails for good (a status every client must show);
//   - 200 WebSocket clients: 150 churn (connect, read 0.5–5 s at full speed,
//     disconnect cleanly or abruptly, reconnect), 30 read one message every
//     50 ms, 20 never read (the server may cut those off);
//   - GET /api/history in a loop;
//   - the Mosquitto broker restarted every minute (every third of SOAK
//     when that is shorter), with an MQTT subscriber on a persistent QoS 1
//     session counting the sim's readings.
//
// At the end the clients stop churning and read at full speed; then:
//
//   - RSS, goroutines, threads and open files are flat after warm-up: the
//     maximum over the last third of the load is within max(+25 %, +4 MiB)
//     (RSS), max(+25 %, +50) (goroutines, open files) or max(+25 %, +4)
//     (threads) of the maximum over the middle third, the first third being
//     warm-up; and with every client gone, goroutines and open files are back
//     within 20 of their count before the first client came;
//   - every connected client's final view equals the hub's (GET
//     /api/sensors): each sensor's latest reading, byte for byte, and its
//     status; and every client saw its readings in order, none twice;
//   - the subscriber has every reading of the sim's seeded sequence, from
//     step 0 to the hub's latest, in order (QoS 1 duplicates aside);
//   - stderr holds no ERROR line and no WARN line outside soakAllowed;
//   - SIGTERM ends the process with status 0.
//
// The goroutine count comes from a hook built only into this test's binary
// (soak_hook.go, build tag soakhook).
func TestSoak(t *testing.T) {
	env := os.Getenv("SOAK")
	if env == "" {
		t.Skip("the soak test runs only with SOAK set to a duration: make soak (30m), or SOAK=60s go test -run TestSoak ./cmd/sensorcast")
	}
	d, err := time.ParseDuration(env)
	if err != nil || d < 30*time.Second {
		t.Fatalf("SOAK=%q: want a duration of at least 30s (e.g. 60s, 30m)", env)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < d+5*time.Minute {
		t.Fatalf("go test's -timeout leaves %v, SOAK=%v needs at least 5 minutes more", time.Until(dl).Round(time.Second), d)
	}
	restartEvery := min(time.Minute, d/3)
	window := min(max(d/4, 15*time.Second), 5*time.Minute)

	b := mosquittotest.Start(t, nil)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sensorcast")
	if out, err := exec.Command("go", "build", "-tags", "soakhook", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cnt := newCounter(t, b.URL, "sensorcast/soak/sim")

	cfg := filepath.Join(dir, "soak.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`device = "soak"

[history]
window = "%v"
points = %d

[[sensor]]
driver = "sim"
name = "sim"
interval = "50ms"
seed = 7

[[sensor]]
driver = "host"
name = "host"
interval = "50ms"

[[sensor]]
driver = "bme280"
name = "absent"
bus = "/dev/i2c-97"
interval = "1s"

[mqtt]
broker = "%s"
client_id = "soak"
values = false
reconnect_max = "2s"
`, window, int(window/time.Second), b.URL)), 0o600)

	p := startSoakProcess(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"))
	base := "http://" + p.addr
	waitUntil(t, 20*time.Second, "the first readings over MQTT", func() bool { return len(cnt.snapshot()) >= 5 })
	time.Sleep(2 * time.Second)
	idle := p.sample(t)
	t.Logf("before the clients: %s", idle)

	// Load: WebSocket clients and the history loop.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var final atomic.Bool
	var clients []*soakClient
	for i := range 200 {
		mode := soakChurn
		switch {
		case i < 20:
			mode = soakNever
		case i < 50:
			mode = soakSlow
		}
		c := &soakClient{id: i, mode: mode, url: "ws://" + p.addr + "/ws", final: &final}
		clients = append(clients, c)
		wg.Go(func() { c.run(ctx) })
	}
	hl := &soakHistoryLoop{url: base + "/api/history"}
	hctx, stopHistory := context.WithCancel(ctx)
	wg.Go(func() { hl.run(hctx) })

	var samples []soakSample
	start := time.Now()
	end := start.Add(d)
	nextRestart := start.Add(restartEvery)
	restarts := 0
	for now := time.Now(); now.Before(end); now = time.Now() {
		if p.exited() {
			t.Fatalf("sensorcast exited during the soak: %v", p.waitErr())
		}
		if !now.Before(nextRestart) {
			b.Stop()
			time.Sleep(time.Second)
			b.Restart()
			restarts++
			nextRestart = nextRestart.Add(restartEvery)
		}
		s := p.sample(t)
		s.at = time.Since(start)
		samples = append(samples, s)
		time.Sleep(min(2*time.Second, time.Until(end)))
	}
	loadEnd := time.Since(start)

	// Final phase: no more churn, everyone reads at full speed.
	final.Store(true)
	stopHistory()
	waitFor(30*time.Second, func() bool { // every reading client connected
		for _, c := range clients {
			if _, _, live, _, _ := c.snapshot(); c.mode != soakNever && !live {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second) // slow clients catch up
	hub := getSoakSensors(t, base+"/api/sensors")

	// Every client reaches the hub's latest readings...
	var stragglers []string
	waitFor(40*time.Second, func() bool {
		stragglers = stragglers[:0]
		for _, c := range clients {
			latest, _, live, _, _ := c.snapshot()
			if c.mode == soakNever || !live {
				continue
			}
			for name, h := range hub.latest {
				if latest[name].ts < h.ts {
					stragglers = append(stragglers, fmt.Sprintf("client %d (%s): %s at ts %d, hub at %d", c.id, c.mode, name, latest[name].ts, h.ts))
				}
			}
		}
		return len(stragglers) == 0
	})
	// ...and then its view at those times must be the hub's.
	compared, mismatches := 0, 0
	var protoErrs []string
	for _, c := range clients {
		if c.mode == soakNever {
			continue
		}
		_, status, live, errs, why := c.snapshot()
		for _, e := range errs {
			protoErrs = append(protoErrs, fmt.Sprintf("client %d (%s): %s", c.id, c.mode, e))
		}
		if !live {
			t.Errorf("client %d (%s) lost its connection in the final phase: %s", c.id, c.mode, why)
			continue
		}
		compared++
		bad := false
		for name, h := range hub.latest {
			got, ok := c.readingAt(name, h.ts)
			switch {
			case !ok:
				t.Errorf("client %d (%s) never received the hub's latest reading of %s (ts %d)", c.id, c.mode, name, h.ts)
				bad = true
			case !jsonEqual(got, h.raw):
				t.Errorf("client %d (%s): reading of %s at ts %d is\n%s\nthe hub's is\n%s", c.id, c.mode, name, h.ts, got, h.raw)
				bad = true
			}
		}
		for name, h := range hub.status {
			got, ok := status[name]
			if !ok { // no status message: healthy since the connection opened
				if !h.OK || h.Error != "" {
					t.Errorf("client %d (%s): no status for %s, the hub has %+v", c.id, c.mode, name, h)
					bad = true
				}
				continue
			}
			if got != h {
				t.Errorf("client %d (%s): status of %s %+v, the hub's %+v", c.id, c.mode, name, got, h)
				bad = true
			}
		}
		if bad {
			mismatches++
		}
	}
	for i, e := range protoErrs {
		if i == 20 {
			t.Errorf("… and %d more such errors", len(protoErrs)-i)
			break
		}
		t.Error(e)
	}
	if len(stragglers) > 0 {
		t.Errorf("%d clients never caught up with the hub, e.g. %s", len(stragglers), stragglers[0])
	}

	// The MQTT subscriber has the sim's whole sequence up to the hub's latest.
	simLatest, ok := hub.latest["sim"]
	if !ok {
		t.Fatal("the hub has no sim reading")
	}
	waitFor(60*time.Second, func() bool {
		m := cnt.snapshot()
		return len(m) > 0 && m[len(m)-1].ts >= simLatest.ts
	})
	msgs := cnt.snapshot()
	mqttReadings, mqttLatest, err := soakComplete(t, msgs)
	if err != nil {
		t.Errorf("MQTT: %v", err)
		t.Errorf("MQTT: %s", soakGaps(t, msgs))
	} else if !containsReading(msgs, simLatest.raw) {
		t.Errorf("MQTT: the hub's latest sim reading (ts %d) is not among the %d readings received (last ts %d)", simLatest.ts, mqttReadings, mqttLatest)
	}

	// Every client leaves; the process goes back to its idle state.
	cancel()
	for _, c := range clients {
		c.close()
	}
	wg.Wait()
	var after soakSample
	waitFor(15*time.Second, func() bool {
		after = p.sample(t)
		return after.goroutines <= idle.goroutines+20 && after.fds <= idle.fds+20
	})
	if after.goroutines > idle.goroutines+20 {
		t.Errorf("goroutines: %d with every client gone, %d before the first one came", after.goroutines, idle.goroutines)
	}
	if after.fds > idle.fds+20 {
		t.Errorf("open files: %d with every client gone, %d before the first one came", after.fds, idle.fds)
	}

	if err := p.stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}

	// Flat after warm-up.
	warm, mid := loadEnd/3, 2*loadEnd/3
	check := func(what string, get func(soakSample) int64, rel float64, abs int64, unit string) string {
		var ref, last, first int64
		for _, s := range samples {
			v := get(s)
			switch {
			case s.at < warm:
				first = max(first, v)
			case s.at < mid:
				ref = max(ref, v)
			default:
				last = max(last, v)
			}
		}
		bound := max(ref+int64(float64(ref)*rel), ref+abs)
		if ref == 0 || last == 0 {
			t.Errorf("%s: too few samples (%d) to judge", what, len(samples))
		} else if last > bound {
			t.Errorf("%s grew after warm-up: max %d%s over the last third, %d%s over the middle third (bound %d%s)", what, last, unit, ref, unit, bound, unit)
		}
		return fmt.Sprintf("%s max %d%s (warm-up) / %d%s (middle third) / %d%s (last third), bound %d%s", what, first, unit, ref, unit, last, unit, bound, unit)
	}
	kib := func(s soakSample) int64 { return s.rss >> 10 }
	figures := []string{
		check("RSS", kib, 0.25, 4<<10, " KiB"),
		check("goroutines", func(s soakSample) int64 { return s.goroutines }, 0.25, 50, ""),
		check("threads", func(s soakSample) int64 { return s.threads }, 0.25, 4, ""),
		check("open files", func(s soakSample) int64 { return s.fds }, 0.25, 50, ""),
	}

	// The log.
	badLines, counts := p.logReport()
	for _, l := range badLines {
		t.Errorf("unexpected log line: %s", l)
	}

	// Figures for BENCHMARKS.md.
	var sessions, cutOff, dialErrs, churned, wsMsgs, twice, reordered, sameMilli int64
	for _, c := range clients {
		sameMilli += c.sameMilli.Load()
		twice += c.twice.Load()
		reordered += c.reordered.Load()
		sessions += c.sessions.Load()
		cutOff += c.cutOff.Load()
		dialErrs += c.dialErrs.Load()
		churned += c.churned.Load()
		wsMsgs += c.msgs.Load()
	}
	if twice+reordered > 0 {
		t.Errorf("WebSocket: %d readings received twice and %d after a newer one of their sensor, over %d connections", twice, reordered, sessions)
	}
	if dialErrs > 0 {
		t.Errorf("%d WebSocket dials failed", dialErrs)
	}
	hl.mu.Lock()
	histOK, histErrs := hl.ok, hl.errs
	hl.mu.Unlock()
	for _, e := range histErrs {
		t.Errorf("/api/history: %s", e)
	}
	var rssFirst, rssLast, rssMax int64
	if len(samples) > 0 {
		rssFirst, rssLast = samples[0].rss, samples[len(samples)-1].rss
		for _, s := range samples {
			rssMax = max(rssMax, s.rss)
		}
	}
	t.Logf("soak %v (SOAK=%s): %d samples, broker restarted %d times, history window %v", loadEnd.Round(time.Second), env, len(samples), restarts, window)
	t.Logf("idle before: %s; after the clients left: %s", idle, after)
	t.Logf("RSS first %.1f MiB, last %.1f MiB, max %.1f MiB", mib(rssFirst), mib(rssLast), mib(rssMax))
	for _, f := range figures {
		t.Log(f)
	}
	t.Logf("WebSocket: %d connections, %d churned, %d cut off by the server, %d messages read; %d clients compared with the hub, %d differ",
		sessions, churned, cutOff, wsMsgs, compared, mismatches)
	t.Logf("WebSocket: %d readings had the ts of the one before them (two reads of a sensor in one millisecond)", sameMilli)
	t.Logf("/api/history: %d answers", histOK)
	t.Logf("MQTT: %d sim readings in sequence (%d messages with QoS 1 duplicates), hub's latest sim ts %d, subscriber's %d", mqttReadings, len(msgs), simLatest.ts, mqttLatest)
	t.Logf("log lines by level and message: %s", counts)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// waitFor polls cond every 200 ms for up to d and reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// jsonEqual reports whether a and b are the same JSON text but for
// insignificant white space.
func jsonEqual(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// containsReading reports whether run holds the sim reading raw (the
// message of /api/sensors' latest).
func containsReading(run []simMsg, raw []byte) bool {
	var r struct {
		Ts     int64
		Values map[string]struct{ V json.Number }
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&r) != nil {
		return false
	}
	var vals [3]int64
	for i, k := range []string{"temperature", "humidity", "pressure"} {
		f, _ := r.Values[k].V.Float64()
		vals[i] = reading.Milli(f)
	}
	return slices.Contains(run, simMsg{r.Ts, vals})
}

// soakComplete checks that msgs hold, after removing QoS 1 duplicates
// (same ts and values), steps 0, 1, 2, … of the sim's sequence in order,
// and returns how many and the last one's ts. Unlike checkComplete it does
// not take two readings with one ts for a duplicate: a late poll can take
// two readings in one millisecond.
func soakComplete(t *testing.T, msgs []simMsg) (n int, last int64, err error) {
	want := simSequence(t, len(msgs)+1)
	seen := make(map[simMsg]bool)
	for i, m := range msgs {
		if seen[m] {
			continue
		}
		seen[m] = true
		if m.vals != want[n] {
			return n, last, fmt.Errorf("message %d (ts %d): values %v are not step %d of the sim (%v): a reading was lost or reordered", i, m.ts, m.vals, n, want[n])
		}
		if m.ts < last {
			return n, last, fmt.Errorf("message %d: ts %d before %d", i, m.ts, last)
		}
		n++
		last = m.ts
	}
	return n, last, nil
}

// soakGaps describes how msgs differ from the sim's sequence: the steps
// missing and the messages that match no step near where they should be.
func soakGaps(t *testing.T, msgs []simMsg) string {
	want := simSequence(t, len(msgs)+200)
	seen := make(map[simMsg]bool)
	var missing, stray []string
	next := 0 // the step expected next
	for i, m := range msgs {
		if seen[m] {
			continue
		}
		seen[m] = true
		j := next
		for j < len(want) && j < next+200 && want[j] != m.vals {
			j++
		}
		if j == len(want) || j == next+200 {
			stray = append(stray, fmt.Sprintf("message %d (ts %d) %v", i, m.ts, m.vals))
			continue
		}
		if j > next {
			missing = append(missing, fmt.Sprintf("steps %d–%d before message %d (ts %d)", next, j-1, i, m.ts))
		}
		next = j + 1
	}
	return fmt.Sprintf("%d distinct readings up to step %d; missing: %v; out of place: %v", len(seen), next-1, missing, stray)
}

// soakHubState is the hub's view, from GET /api/sensors.
type soakHubState struct {
	latest map[string]soakReading
	status map[string]soakStatus
}

func getSoakSensors(t *testing.T, url string) soakHubState {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET /api/sensors: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Sensors []struct {
			Sensor string          `json:"sensor"`
			Latest json.RawMessage `json:"latest"`
			soakStatus
		} `json:"sensors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/sensors: %d, %v", resp.StatusCode, err)
	}
	st := soakHubState{latest: make(map[string]soakReading), status: make(map[string]soakStatus)}
	for _, s := range body.Sensors {
		st.status[s.Sensor] = s.soakStatus
		if len(s.Latest) > 0 && string(s.Latest) != "null" {
			ts, err := strconv.ParseInt(jsonNumberField(s.Latest, "ts"), 10, 64)
			if err != nil {
				t.Fatalf("/api/sensors: latest of %s has no ts: %s", s.Sensor, s.Latest)
			}
			st.latest[s.Sensor] = soakReading{ts, []byte(s.Latest)}
		}
	}
	if _, ok := st.status["absent"]; !ok || st.status["absent"].OK {
		t.Errorf("/api/sensors: the sensor on the missing bus is not failing: %+v", st.status)
	}
	return st
}

// soakHistoryLoop requests /api/history again and again.
type soakHistoryLoop struct {
	url  string
	mu   sync.Mutex
	ok   int
	errs []string
}

func (h *soakHistoryLoop) run(ctx context.Context) {
	c := &http.Client{Timeout: 15 * time.Second}
	for ctx.Err() == nil {
		err := h.once(ctx, c)
		h.mu.Lock()
		if err == nil {
			h.ok++
		} else if ctx.Err() == nil && len(h.errs) < 5 {
			h.errs = append(h.errs, err.Error())
		}
		h.mu.Unlock()
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (h *soakHistoryLoop) once(ctx context.Context, c *http.Client) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var m struct {
		Type    string            `json:"type"`
		Sensors []json.RawMessage `json:"sensors"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &m) != nil || m.Type != "history" || len(m.Sensors) == 0 {
		return fmt.Errorf("status %d, body %.200s", resp.StatusCode, body)
	}
	return nil
}

// soakSample is one reading of the process's resources.
type soakSample struct {
	at                       time.Duration
	rss                      int64 // bytes
	goroutines, threads, fds int64
}

func (s soakSample) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d goroutines, %d threads, %d open files", mib(s.rss), s.goroutines, s.threads, s.fds)
}

// soakAllowed are the log lines a soak may produce: the broker's restarts
// and the clients that never read.
var soakAllowed = []*regexp.Regexp{
	regexp.MustCompile(`level=WARN msg="mqtt: connection lost"`),
	regexp.MustCompile(`level=WARN msg="mqtt: cannot connect; retrying"`),
	regexp.MustCompile(`level=WARN msg="mqtt: publish failed; will retry"`),
	regexp.MustCompile(`level=WARN msg="sensor failing" .*\bsensor=absent `),
	regexp.MustCompile(`level=WARN msg="ws: closing slow consumer"`),
	regexp.MustCompile(`level=WARN msg="ws: closing stalled client"`),
}

var (
	soakLevelRE = regexp.MustCompile(`^time=\S+ level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)`)
	soakGorRE   = regexp.MustCompile(`^soak-goroutines (\d+)$`)
)

// soakProcess is the running binary.
type soakProcess struct {
	cmd  *exec.Cmd
	addr string
	gor  chan int64 // answers to SIGUSR1

	done    chan struct{}
	waitRes error

	mu     sync.Mutex
	lines  []string // every log line, for a failed test
	bad    []string // unexpected ones
	counts map[string]int
}

func startSoakProcess(t *testing.T, bin string, args ...string) *soakProcess {
	t.Helper()
	p := &soakProcess{cmd: exec.Command(bin, args...), gor: make(chan int64, 1), done: make(chan struct{}), counts: make(map[string]int)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.line(sc.Text(), addrc)
		}
	}()
	go func() {
		<-scanned
		p.waitRes = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			lines := p.lines
			if len(lines) > 200 {
				lines = append(lines[:100:100], append([]string{"…"}, lines[len(lines)-100:]...)...)
			}
			t.Logf("sensorcast stderr (%d lines):\n%s", len(p.lines), strings.Join(lines, "\n"))
			p.mu.Unlock()
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("sensorcast exited before its start line: %v", p.waitRes)
	case <-time.After(30 * time.Second):
		t.Fatal("no start line within 30s")
	}
	return p
}

func (p *soakProcess) line(l string, addrc chan<- string) {
	if m := soakGorRE.FindStringSubmatch(l); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		select {
		case p.gor <- n:
		default:
		}
		return
	}
	if m := startedRE.FindStringSubmatch(l); m != nil {
		select {
		case addrc <- m[1]:
		default:
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, l)
	m := soakLevelRE.FindStringSubmatch(l)
	if m == nil {
		p.bad = append(p.bad, l) // not a log line: a panic, a race report, a stray print
		p.counts["other"]++
		return
	}
	p.counts[m[1]+" "+m[2]]++
	if m[1] != "WARN" && m[1] != "ERROR" {
		return
	}
	for _, re := range soakAllowed {
		if re.MatchString(l) {
			return
		}
	}
	p.bad = append(p.bad, l)
}

func (p *soakProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *soakProcess) waitErr() error { <-p.done; return p.waitRes }

// sample reads the process's RSS, threads and open files from /proc and
// asks it for its goroutine count.
func (p *soakProcess) sample(t *testing.T) soakSample {
	t.Helper()
	var s soakSample
	pid := p.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.rss = kb << 10
		}
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			s.threads, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = int64(len(fds))
	}
	select { // a late answer to an earlier signal
	case <-p.gor:
	default:
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case s.goroutines = <-p.gor:
	case <-time.After(5 * time.Second):
		t.Fatal("sample: no goroutine count within 5s of SIGUSR1")
	}
	return s
}

// stop sends SIGTERM and waits up to 10 s for a clean exit.
func (p *soakProcess) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitRes != nil {
			return fmt.Errorf("exit: %v", p.waitRes)
		}
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("still running 10s after SIGTERM")
	}
}

// logReport returns the unexpected lines and a count of every kind.
func (p *soakProcess) logReport() (bad []string, counts string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "\n\t%6d %s", p.counts[k], k)
	}
	return append([]string(nil), p.bad...), sb.String()
}
