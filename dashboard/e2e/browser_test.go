package e2e

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sensorcast/sensorcast/dashboard"
)

// root is the main module, from this package's directory.
const root = "../.."

// config makes sim fast, so that a few seconds give a history worth
// drawing: one reading every 100 ms, one point per reading for a minute.
const config = `device = "e2e"

[[sensor]]
driver = "sim"
interval = "100ms"
seed = 7

[[sensor]]
driver = "host"
interval = "1s"

[history]
window = "1m"
points = 600
`

func inCI() bool { return os.Getenv("CI") == "true" }

// need skips the test when a program is missing, except in CI.
func need(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if inCI() {
			t.Fatalf("%s is missing; CI must run the browser tests (.ci/run installs it)", path)
		}
		t.Skipf("%s is missing", path)
	}
}

// build compiles sensorcast from the main module into dir.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "sensorcast")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sensorcast")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is a running sensorcast.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the log is drained
	mu   sync.Mutex
	log  strings.Builder
}

var addrRE = regexp.MustCompile(`sensorcast (?:fleet )?started.* addr=(\S+)`)

// start runs bin with args and waits for its start line.
func start(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case s.addr = <-addr:
	case <-s.done:
		s.cmd.Wait()
		t.Fatalf("sensorcast exited before it started:\n%s", s.logs())
	case <-time.After(15 * time.Second):
		s.stop(t)
		t.Fatalf("no start line within 15s:\n%s", s.logs())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for the exit; it is safe to call twice.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { <-s.done; exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("sensorcast exited with %v:\n%s", err, s.logs())
		}
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-exited
		t.Errorf("sensorcast did not exit within 5s of SIGTERM")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// history is a history message in either form: a time per point (T) or,
// with "v":2, runs of points step_ms apart; times gives the times both ways.
type history struct {
	V       int   `json:"v"`
	StepMS  int64 `json:"step_ms"`
	Sensors []struct {
		Sensor string
		T      []int64
		Runs   [][]int64
		Values map[string]struct {
			Unit string
			V    []*float64
		}
	}
}

// times returns the time of each point of sensor i.
func (h *history) times(i int) []int64 {
	s := h.Sensors[i]
	if s.Runs == nil {
		return s.T
	}
	var t []int64
	for _, r := range s.Runs {
		every := h.StepMS
		if len(r) == 3 {
			every = r[2]
		}
		for k := range r[1] {
			t = append(t, r[0]+k*every)
		}
	}
	return t
}

// browser starts chromium headless, isolated from everything but this
// machine, and returns a tab's context and the console errors it collects.
// extra options are added to the defaults.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })

	var mu sync.Mutex
	var errs []string
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "assert" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				errs = append(errs, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			errs = append(errs, fmt.Sprintf("exception: %s at %d:%d", d.Text, d.LineNumber, d.ColumnNumber))
		case *log.EventEntryAdded:
			// Failed loads and CSP violations; a WebSocket refused while the
			// server restarts is expected and filtered by the caller.
			if e.Entry.Level == log.EntryLevelError {
				errs = append(errs, fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	}
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{})
		return err
	}))
	if err == nil {
		err = chromedp.Listen(ctx, listen)
	}
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

const chromium = "/usr/bin/chromium"

// waitJS polls expr in the page every 50 ms until it is true or within runs
// out.
func waitJS(ctx context.Context, t *testing.T, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last error %v)", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eval[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func TestDashboard(t *testing.T) {
	need(t, chromium)
	dir := t.TempDir()
	bin := build(t, dir)
	cfg := filepath.Join(dir, "sensorcast.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := start(t, bin, "-config", cfg, "-listen", "127.0.0.1:0")
	base := "http://" + srv.addr

	// Let the device gather some history before the page opens.
	var h history
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		getJSON(t, base+"/api/history?sensor=sim", &h)
		if len(h.Sensors) == 1 && len(h.times(0)) >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sim has %d points after 10s", len(h.times(0)))
		}
	}

	ctx, consoleErrors := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 5*time.Second, "connection live", `document.getElementById("conn").dataset.phase === "live"`)
	waitJS(ctx, t, 2*time.Second, "two cards", `document.querySelectorAll("#sensors .card").length === 2`)

	charts := dashboard.HasCharts()
	if got := eval[bool](ctx, t, `sensorcast.charts`); got != charts {
		t.Fatalf("page has charts: %v; the binary embeds uPlot: %v", got, charts)
	}
	if !charts && inCI() {
		t.Fatal("the binary has no chart library: make test must run make assets first")
	}

	t.Run("backfilled charts", func(t *testing.T) {
		if !charts {
			t.Skip("built without the chart library (run make assets)")
		}
		// At 10 readings a second the page could not have gathered 20 points
		// by itself this soon: they come from the snapshot's history.
		waitJS(ctx, t, time.Second, "sim's chart drawn",
			`(() => { const c = sensorcast.cards.get("sim"); return c && c.charts.length > 0 && c.charts[0].u.data[0].length >= 20; })()`)
		n := eval[int](ctx, t, `document.querySelectorAll("#sensors .card canvas").length`)
		if n < 2 {
			t.Errorf("%d chart canvases, want one per unit of each sensor", n)
		}
		// Hover shows a value in the legend.
		box := eval[[]float64](ctx, t, `(() => { const r = document.querySelector("#sensors .card .u-over").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`)
		if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0], box[1])); err != nil {
			t.Fatal(err)
		}
		waitJS(ctx, t, 2*time.Second, "legend value on hover",
			`(() => { const v = document.querySelector("#sensors .card .u-legend .u-series:nth-child(2) .u-value"); return v && /\d/.test(v.textContent); })()`)
		legend := eval[string](ctx, t, `document.querySelector("#sensors .card .u-legend .u-series:nth-child(2) .u-value").textContent`)
		t.Logf("legend on hover: %q", legend)
	})

	t.Run("compact gzipped history", func(t *testing.T) {
		// The server agreed to gzip and sent the history in runs: the
		// page's points from before it opened are at whole steps, as many
		// as the server had then, with the server's values.
		if got := eval[string](ctx, t, `sensorcast.conn.protocol`); got != "sensorcast.gzip" {
			t.Errorf("subprotocol %q, want sensorcast.gzip", got)
		}
		if got := eval[string](ctx, t, `sensorcast.state.historyForm`); got != "runs" {
			t.Fatalf("history form %q, want runs", got)
		}
		step := eval[int64](ctx, t, `sensorcast.state.stepMs`)
		if step != h.StepMS {
			t.Errorf("page step %d ms, server %d ms", step, h.StepMS)
		}
		// h is the API's history from before the page opened; its points
		// are all in the page's snapshot, all but the newest (which may
		// have taken another reading since) with the same values.
		ts := h.times(0)
		ts = ts[:len(ts)-1]
		first := ts[0] / step * step
		var page struct {
			T    []int64
			Temp []*float64
		}
		b := eval[string](ctx, t, fmt.Sprintf(`(() => { const h = sensorcast.state.sensors.get("sim").hist; const i = h.t.indexOf(%d); return JSON.stringify({t: h.t.slice(i, i + %d), temp: h.vals.get("temperature").v.slice(i, i + %d)}); })()`, first, len(ts), len(ts)))
		if err := json.Unmarshal([]byte(b), &page); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		if len(page.T) != len(ts) {
			t.Fatalf("the page has %d points from %d on, the API had %d then: %s", len(page.T), first, len(ts), b)
		}
		for i := range ts {
			want := h.Sensors[0].Values["temperature"].V[i]
			got := page.Temp[i]
			if page.T[i]%step != 0 || page.T[i]/step != ts[i]/step || (want == nil) != (got == nil) ||
				(want != nil && math.Abs(*want-*got) > 0.001) {
				t.Fatalf("point %d: page t %d temperature %v, API t %d temperature %v", i, page.T[i], ptr(got), ts[i], ptr(want))
			}
		}
		t.Logf("%d points from the compact history match the API's, step %d ms", len(ts), step)
	})

	t.Run("values update within 2s", func(t *testing.T) {
		first := eval[string](ctx, t, `document.querySelector("#sensors .card dd.value").textContent`)
		waitJS(ctx, t, 2*time.Second, "sim's first value changes",
			fmt.Sprintf(`document.querySelector("#sensors .card dd.value").textContent !== %q`, first))
		// host reads once a second, at the default pace of a real sensor.
		// Its uptime is shown as a duration ("3 d 4 h"), which a second
		// does not change: the reading's time must.
		hostTs := `globalThis.sensorcast.state.sensors.get("host").ts`
		firstTs := eval[float64](ctx, t, hostTs)
		waitJS(ctx, t, 2*time.Second, "host reads again", fmt.Sprintf(`%s > %v`, hostTs, firstTs))
		if got := eval[string](ctx, t, `document.querySelector("#sensors .card").dataset.condition`); got != "ok" {
			t.Errorf("sim card condition %q, want ok", got)
		}
	})

	t.Run("API matches the page", func(t *testing.T) {
		var api struct {
			Device  string
			Sensors []struct {
				Sensor string
				OK     bool
			}
		}
		getJSON(t, base+"/api/sensors", &api)
		names := eval[[]string](ctx, t, `[...document.querySelectorAll("#sensors .card h3")].map(e => e.textContent)`)
		device := eval[string](ctx, t, `document.getElementById("device").textContent`)
		var apiNames []string
		for _, s := range api.Sensors {
			apiNames = append(apiNames, s.Sensor)
		}
		if device != api.Device || strings.Join(names, ",") != strings.Join(apiNames, ",") {
			t.Errorf("page shows %s %v, API says %s %v", device, names, api.Device, apiNames)
		}
		// A settled point of the page's history (not the newest, which may
		// still take readings) is in the API's history, in the same step
		// (a compact history gives a point the start of its step, a live
		// reading its own time), with the same value.
		pt := eval[[]float64](ctx, t, `(() => { const h = sensorcast.state.sensors.get("sim").hist; const i = h.t.length - 3; return [h.t[i], h.vals.get("temperature").v[i], sensorcast.state.stepMs]; })()`)
		step := int64(pt[2])
		var h history
		getJSON(t, fmt.Sprintf("%s/api/history?sensor=sim&since=%d", base, int64(pt[0])/step*step), &h)
		s, ts := h.Sensors[0], h.times(0)
		if len(ts) == 0 || ts[0]/step != int64(pt[0])/step || s.Values["temperature"].V[0] == nil ||
			math.Abs(*s.Values["temperature"].V[0]-pt[1]) > 0.001 {
			t.Errorf("page point %v, API history from it: t %v, temperature %v", pt, ts[:min(3, len(ts))], s.Values["temperature"].V[:min(3, len(ts))])
		}
		// The shown min/max is over the same data.
		res, err := http.Get(base + "/api/history.csv?sensor=sim")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(string(b), "time,ts,temperature (°C),humidity (%),pressure (hPa)\r\n") {
			t.Errorf("CSV: %d %.100q", res.StatusCode, b)
		}
		if href := eval[string](ctx, t, `document.querySelector("#sensors .card a.csv").href`); href != base+"/api/history.csv?sensor=sim" {
			t.Errorf("CSV link %q", href)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		out := filepath.Join("artifacts")
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"light", "dark"} {
			for _, vp := range []struct {
				name          string
				width, height int64
				mobile        bool
			}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
				err := chromedp.Do(ctx,
					chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
						_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
							Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
						})
						return err
					}),
					chromedp.EmulateViewport(vp.width, vp.height, func(p *emulation.SetDeviceMetricsOverrideParams, s *emulation.SetTouchEmulationEnabledParams) {
						p.Mobile = vp.mobile
						p.DeviceScaleFactor = 1
					}),
					chromedp.Sleep(400*time.Millisecond), // a render and the charts' resize
				)
				if err != nil {
					t.Fatal(err)
				}
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Join(out, fmt.Sprintf("dashboard-%s-%s.png", scheme, vp.name))
				if err := os.WriteFile(name, png, 0o644); err != nil {
					t.Fatal(err)
				}
				// On a phone nothing may overflow sideways.
				if vp.mobile {
					if w := eval[float64](ctx, t, `document.documentElement.scrollWidth`); w > float64(vp.width) {
						t.Errorf("%s %s: the page is %v px wide, wider than the %d px screen", scheme, vp.name, w, vp.width)
					}
				}
				if charts {
					bg := eval[string](ctx, t, `getComputedStyle(document.body).backgroundColor`)
					if (scheme == "dark") != (bg == "rgb(17, 20, 24)") {
						t.Errorf("%s: body background %s", scheme, bg)
					}
				}
			}
		}
		chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		}))
	})

	t.Run("recovers after a restart", func(t *testing.T) {
		srv.stop(t)
		waitJS(ctx, t, 5*time.Second, "disconnected shown", `document.getElementById("conn").dataset.phase !== "live"`)
		if got := eval[string](ctx, t, `document.getElementById("conn-state").textContent`); !strings.Contains(got, "Disconnected") && !strings.Contains(got, "Connecting") {
			t.Errorf("connection state while down: %q", got)
		}
		start(t, bin, "-config", cfg, "-listen", srv.addr)
		waitJS(ctx, t, 10*time.Second, "live again", `document.getElementById("conn").dataset.phase === "live"`)
		// The new process has a fresh history; the page resyncs to it.
		waitJS(ctx, t, 3*time.Second, "history resynced",
			`(() => { const h = sensorcast.state.sensors.get("sim").hist; return h.t.length > 0 && h.t.length < 100; })()`)
		if charts {
			waitJS(ctx, t, 2*time.Second, "charts show the new history",
				`(() => { const c = sensorcast.cards.get("sim").charts[0].u; return c.data[0] === sensorcast.state.sensors.get("sim").hist.t && c.data[0].length < 100; })()`)
		}
		first := eval[string](ctx, t, `document.querySelector("#sensors .card dd.value").textContent`)
		waitJS(ctx, t, 2*time.Second, "values update after the restart",
			fmt.Sprintf(`document.querySelector("#sensors .card dd.value").textContent !== %q`, first))
	})

	var unexpected []string
	for _, e := range consoleErrors() {
		// While the server was down the page's reconnect attempts fail.
		if strings.Contains(e, "WebSocket") || strings.Contains(e, "ERR_CONNECTION_REFUSED") {
			continue
		}
		unexpected = append(unexpected, e)
	}
	if len(unexpected) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(unexpected, "\n"))
	}
}

func ptr(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
