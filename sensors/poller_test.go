package sensors_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sensortest"
)

func val(name string, milli int64) reading.Value {
	return reading.Value{Name: name, Unit: reading.Celsius, Milli: milli}
}

// recorder collects what a Poller reports. Its methods are safe to call
// from several source goroutines at once.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	readings []got
	statuses []sensors.Status
}

// got is one reading as seen by OnReading.
type got struct {
	device, sensor string
	at             time.Duration // since start
	values         string
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (rec *recorder) onReading(r *reading.Reading) {
	var vals []string
	for _, v := range r.Values() {
		vals = append(vals, v.Name+"="+string(reading.AppendMilli(nil, v.Milli)))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.readings = append(rec.readings, got{r.Device, r.Sensor, r.Time.Sub(rec.start), strings.Join(vals, ",")})
}

func (rec *recorder) onStatus(s sensors.Status) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.statuses = append(rec.statuses, s)
}

// times returns when sensor's readings were taken.
func (rec *recorder) times(sensor string) []time.Duration {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ts []time.Duration
	for _, g := range rec.readings {
		if g.sensor == sensor {
			ts = append(ts, g.at)
		}
	}
	return ts
}

func seconds(s ...float64) []time.Duration {
	ds := make([]time.Duration, len(s))
	for i, f := range s {
		ds[i] = time.Duration(f * float64(time.Second))
	}
	return ds
}

// runFor runs p for d of fake time, cancels it and checks that Run returns
// at once. It must be called inside a synctest bubble.
func runFor(t *testing.T, p *sensors.Poller, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(d)
	cancel()
	synctest.Wait()
	select {
	case err := <-done:
		return err
	default:
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

// logBuffer returns a Logger that writes text lines without times to buf.
func logBuffer(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func TestPollerIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{Device: "pi", OnReading: rec.onReading})
		fast := &sensortest.Script{Sensor: "fast", Loop: true, Steps: []sensortest.Step{
			sensortest.OK(val("t", 1)), sensortest.OK(val("t", 2)),
		}}
		// slow takes a second to answer; that must not delay fast.
		slow := &sensortest.Script{Sensor: "slow", Loop: true, Steps: []sensortest.Step{
			{Delay: time.Second, Values: []reading.Value{val("h", 3), val("p", -4)}},
		}}
		if err := p.Add(fast, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(slow, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := runFor(t, p, 10500*time.Millisecond); err != nil {
			t.Fatalf("Run: %v", err)
		}

		if got, want := rec.times("fast"), seconds(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10); !slices.Equal(got, want) {
			t.Errorf("fast read at %v, want %v", got, want)
		}
		if got, want := rec.times("slow"), seconds(0, 3, 6, 9); !slices.Equal(got, want) {
			t.Errorf("slow read at %v, want %v", got, want)
		}
		for _, g := range rec.readings {
			want := "t=0.001"
			switch {
			case g.sensor == "slow":
				want = "h=0.003,p=-0.004"
			case g.at/time.Second%2 == 1:
				want = "t=0.002"
			}
			if g.device != "pi" || g.values != want {
				t.Errorf("reading %+v: want device pi, values %s", g, want)
			}
		}
		stats := p.Stats()
		if len(stats) != 2 || stats[0].Name != "fast" || stats[0].Reads != 11 || stats[0].Interval != time.Second ||
			stats[1].Name != "slow" || stats[1].Reads != 4 || stats[1].Interval != 3*time.Second {
			t.Errorf("Stats = %+v", stats)
		}
		// Fake time: slow's four reads take a second each, fast's none.
		if stats[0].ReadTime != 0 || stats[1].ReadTime != 4*time.Second {
			t.Errorf("ReadTime fast %v, slow %v; want 0, 4s", stats[0].ReadTime, stats[1].ReadTime)
		}
		if !stats[1].LastOK.Equal(rec.start.Add(9 * time.Second)) {
			t.Errorf("slow LastOK = %v, want start+9s", stats[1].LastOK.Sub(rec.start))
		}
	})
}

func TestPollerFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		var logs bytes.Buffer
		p := sensors.NewPoller(&sensors.PollerOptions{
			Device:    "pi",
			Logger:    logBuffer(&logs),
			OnReading: rec.onReading,
			OnStatus:  rec.onStatus,
		})
		errBus := errors.New("i2c: no ack")
		flaky := &sensortest.Script{Sensor: "flaky", Steps: []sensortest.Step{
			sensortest.OK(val("t", 1000)),
			sensortest.Fail(errBus),
			// A value added before a failure must not leak into a reading.
			{Values: []reading.Value{val("t", 9999)}, Err: errBus},
			sensortest.Panic("boom"),
			sensortest.OK(val("t", 2000)),
		}}
		steady := &sensortest.Script{Sensor: "steady", Loop: true, Steps: []sensortest.Step{sensortest.OK(val("t", 5))}}
		for _, s := range []*sensortest.Script{flaky, steady} {
			if err := p.Add(s, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		// flaky: OK at 0s, fails at 1s, retried 1s later (2s), then 2s
		// later (4s), then 4s later (8s) where it recovers.
		if err := runFor(t, p, 8500*time.Millisecond); err != nil {
			t.Fatalf("Run: %v", err)
		}

		if got, want := rec.times("steady"), seconds(0, 1, 2, 3, 4, 5, 6, 7, 8); !slices.Equal(got, want) {
			t.Errorf("steady read at %v, want %v: a failing source disturbed another", got, want)
		}
		if got, want := rec.times("flaky"), seconds(0, 8); !slices.Equal(got, want) {
			t.Errorf("flaky emitted readings at %v, want %v", got, want)
		}
		for _, g := range rec.readings {
			if g.sensor == "flaky" && g.values != "t=1" && g.values != "t=2" {
				t.Errorf("flaky reading %+v", g)
			}
		}
		if flaky.Calls() != 5 {
			t.Errorf("flaky Sense called %d times, want 5 (retried with backoff)", flaky.Calls())
		}

		wantStatus := []sensors.Status{
			{Sensor: "flaky", Err: "i2c: no ack", Failures: 1, Consecutive: 1, Time: rec.start.Add(time.Second)},
			{Sensor: "flaky", OK: true, Failures: 3, Time: rec.start.Add(8 * time.Second)},
		}
		if !slices.Equal(rec.statuses, wantStatus) {
			t.Errorf("OnStatus got\n%+v\nwant\n%+v", rec.statuses, wantStatus)
		}

		st := p.Stats()[0]
		if st.Reads != 2 || st.Failures != 3 || st.Consecutive != 0 || !st.LastOK.Equal(rec.start.Add(8*time.Second)) {
			t.Errorf("flaky Stats = %+v", st)
		}
		if want := `sensors: sense "flaky": panic: boom`; st.LastErr != want {
			t.Errorf("LastErr = %q, want %q", st.LastErr, want)
		}

		wantLogs := []string{
			`level=WARN msg="sensor failing" sensor=flaky err="i2c: no ack" consecutive=1 failures=1`,
			`level=INFO msg="sensor recovered" sensor=flaky failures=3`,
		}
		if got := strings.Split(strings.TrimSpace(logs.String()), "\n"); !slices.Equal(got, wantLogs) {
			t.Errorf("logs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLogs, "\n"))
		}
	})
}

func TestPollerPanicError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBad := errors.New("bad state")
		p := sensors.NewPoller(nil)
		if err := p.Add(&sensortest.Script{Sensor: "x", Steps: []sensortest.Step{sensortest.Panic(errBad)}}, time.Second); err != nil {
			t.Fatal(err)
		}
		var status sensors.Status
		p2 := sensors.NewPoller(&sensors.PollerOptions{OnStatus: func(s sensors.Status) { status = s }})
		if err := p2.Add(&sensortest.Script{Sensor: "y", Steps: []sensortest.Step{sensortest.Panic(errBad)}}, time.Second); err != nil {
			t.Fatal(err)
		}
		var r reading.Reading
		p2.PollOnce("y", &r)
		if status.OK || !strings.Contains(status.Err, "panic: bad state") {
			t.Errorf("status after a panic with an error: %+v", status)
		}
		if err := runFor(t, p, 1500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats()[0]; st.Failures != 2 || st.Consecutive != 2 || st.Reads != 0 {
			t.Errorf("Stats after panic then end = %+v", st)
		}
	})
}

func TestPollerLogRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var statuses int
		p := sensors.NewPoller(&sensors.PollerOptions{
			Logger:     logBuffer(&logs),
			OnStatus:   func(sensors.Status) { statuses++ },
			MaxBackoff: time.Second, // no backoff: retried every tick
		})
		dead := &sensortest.Script{Sensor: "dead"} // no steps: always ErrEnd
		if err := p.Add(dead, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := runFor(t, p, 130500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		var consecutive []string
		for _, l := range lines {
			_, c, _ := strings.Cut(l, "consecutive=")
			c, _, _ = strings.Cut(c, " ")
			consecutive = append(consecutive, c)
		}
		if want := []string{"1", "60", "120"}; !slices.Equal(consecutive, want) {
			t.Errorf("logged at consecutive failures %v, want %v; logs:\n%s", consecutive, want, logs.String())
		}
		if statuses != 1 {
			t.Errorf("OnStatus called %d times for one failing streak, want 1", statuses)
		}
		if st := p.Stats()[0]; st.Failures != 131 || st.Consecutive != 131 || st.LastErr != sensortest.ErrEnd.Error() || !st.LastOK.IsZero() {
			t.Errorf("Stats = %+v", st)
		}
	})
}

func TestPollerHalt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errHalt := errors.New("bus busy")
		a := &sensortest.Script{Sensor: "a", Loop: true, Steps: []sensortest.Step{sensortest.OK()}}
		b := &sensortest.Script{Sensor: "b", Loop: true, Steps: []sensortest.Step{sensortest.OK()}, HaltErr: errHalt}
		sim := sensors.NewSim(nil) // not a Halter
		p := sensors.NewPoller(nil)
		for _, s := range []sensors.Source{a, b, sim} {
			if err := p.Add(s, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		err := runFor(t, p, 2500*time.Millisecond)
		if !errors.Is(err, errHalt) || !strings.Contains(err.Error(), `halt "b"`) {
			t.Errorf("Run = %v, want the halt error of b", err)
		}
		if a.Halts() != 1 || b.Halts() != 1 {
			t.Errorf("Halt called %d and %d times, want once each", a.Halts(), b.Halts())
		}
		if err := p.Run(t.Context()); err == nil {
			t.Error("second Run succeeded")
		}
		if err := p.Add(&sensortest.Script{Sensor: "late"}, time.Second); err == nil {
			t.Error("Add after Run succeeded")
		}
	})
}

func TestPollerCancelledBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sensortest.Script{Sensor: "a", Loop: true, Steps: []sensortest.Step{sensortest.OK()}}
		p := sensors.NewPoller(nil)
		if err := p.Add(s, time.Second); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Calls() != 0 || s.Halts() != 1 {
			t.Errorf("after Run with a done context: %d Sense calls, %d Halt calls; want 0 and 1", s.Calls(), s.Halts())
		}
	})
}

func TestPollerAddErrors(t *testing.T) {
	p := sensors.NewPoller(nil)
	if err := p.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "no sources") {
		t.Errorf("Run with no sources = %v", err)
	}
	p = sensors.NewPoller(nil)
	ok := &sensortest.Script{Sensor: "a"}
	if err := p.Add(ok, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src      sensors.Source
		interval time.Duration
		want     string
	}{
		{nil, time.Second, "nil Source"},
		{&sensortest.Script{Sensor: "b"}, 0, "not positive"},
		{&sensortest.Script{Sensor: "b"}, -time.Second, "not positive"},
		{&sensortest.Script{Sensor: ""}, time.Second, "empty name"},
		{&sensortest.Script{Sensor: "a"}, 2 * time.Second, `"a": duplicate name`},
	} {
		if err := p.Add(tc.src, tc.interval); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%v, %v) = %v, want an error containing %q", tc.src, tc.interval, err, tc.want)
		}
	}
	if n := len(p.Stats()); n != 1 {
		t.Errorf("%d sources after rejected Adds, want 1", n)
	}
}

func TestPollerDefaultDevice(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no hostname")
	}
	var device string
	p := sensors.NewPoller(&sensors.PollerOptions{OnReading: func(r *reading.Reading) { device = r.Device }})
	if err := p.Add(sensors.NewSim(nil), time.Second); err != nil {
		t.Fatal(err)
	}
	p.PollOnce("sim", new(reading.Reading))
	if device != host {
		t.Errorf("default Device = %q, want hostname %q", device, host)
	}
}

// TestPollerOptionsCopied checks that NewPoller does not keep the caller's
// options.
func TestPollerOptionsCopied(t *testing.T) {
	var calls int
	o := &sensors.PollerOptions{Device: "pi", OnReading: func(*reading.Reading) { calls++ }}
	p := sensors.NewPoller(o)
	o.Device, o.OnReading = "other", nil
	if err := p.Add(&sensortest.Script{Sensor: "a", Loop: true, Steps: []sensortest.Step{sensortest.OK()}}, time.Second); err != nil {
		t.Fatal(err)
	}
	r := new(reading.Reading)
	p.PollOnce("a", r)
	if calls != 1 || r.Device != "pi" {
		t.Errorf("after changing the options: %d OnReading calls, device %q; want 1 and pi", calls, r.Device)
	}
}

func TestPollerNoAllocs(t *testing.T) {
	var sink int
	p := sensors.NewPoller(&sensors.PollerOptions{Device: "pi", OnReading: func(r *reading.Reading) { sink += r.Len() }})
	script := &sensortest.Script{Sensor: "script", Loop: true, Steps: []sensortest.Step{
		sensortest.OK(val("a", 1), val("b", 2), val("c", 3)),
	}}
	for _, s := range []sensors.Source{script, sensors.NewSim(nil)} {
		if err := p.Add(s, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r := new(reading.Reading)
	for _, name := range []string{"script", "sim"} {
		if n := testing.AllocsPerRun(1000, func() { p.PollOnce(name, r) }); n != 0 {
			t.Errorf("one tick of %s: %v allocs, want 0", name, n)
		}
	}
	if sink == 0 {
		t.Error("OnReading was not called")
	}
}

func BenchmarkPollerTick(b *testing.B) {
	var buf []byte
	p := sensors.NewPoller(&sensors.PollerOptions{
		Device:    "pi",
		OnReading: func(r *reading.Reading) { buf = r.AppendJSON(buf[:0]) },
	})
	if err := p.Add(sensors.NewSim(nil), time.Second); err != nil {
		b.Fatal(err)
	}
	r := new(reading.Reading)
	b.ReportAllocs()
	for b.Loop() {
		p.PollOnce("sim", r)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		interval    time.Duration
		consecutive uint64
		max, want   time.Duration
	}{
		{time.Second, 0, time.Minute, time.Second},
		{time.Second, 1, time.Minute, time.Second},
		{time.Second, 2, time.Minute, 2 * time.Second},
		{time.Second, 3, time.Minute, 4 * time.Second},
		{time.Second, 6, time.Minute, 32 * time.Second},
		{time.Second, 7, time.Minute, time.Minute},
		{time.Second, 1 << 62, time.Minute, time.Minute},     // no overflow
		{10 * time.Second, 5, time.Second, 10 * time.Second}, // cap below interval
		{3 * time.Second, 2, 5 * time.Second, 5 * time.Second},
	} {
		if got := sensors.Backoff(tc.interval, tc.consecutive, tc.max); got != tc.want {
			t.Errorf("Backoff(%v, %d, %v) = %v, want %v", tc.interval, tc.consecutive, tc.max, got, tc.want)
		}
	}
}

// TestPollerBackoffRecovers: a device that vanishes is retried ever more
// rarely, up to the cap, and is back on its interval as soon as it answers.
func TestPollerBackoffRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{
			OnReading:  rec.onReading,
			OnStatus:   rec.onStatus,
			MaxBackoff: 4 * time.Second,
		})
		gone := errors.New("i2c: no such device")
		steps := []sensortest.Step{sensortest.OK(val("t", 1))}
		for range 5 {
			steps = append(steps, sensortest.Fail(gone))
		}
		steps = append(steps, sensortest.OK(val("t", 2)), sensortest.OK(val("t", 3)))
		s := &sensortest.Script{Sensor: "s", Steps: steps}
		if err := p.Add(s, time.Second); err != nil {
			t.Fatal(err)
		}
		// OK 0; fail 1, 2 (+1), 4 (+2), 8 (+4), 12 (+4 cap); OK 16 (+4), OK 17.
		if err := runFor(t, p, 17500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if got, want := rec.times("s"), seconds(0, 16, 17); !slices.Equal(got, want) {
			t.Errorf("readings at %v, want %v", got, want)
		}
		want := []sensors.Status{
			{Sensor: "s", Err: gone.Error(), Failures: 1, Consecutive: 1, Time: rec.start.Add(time.Second)},
			{Sensor: "s", OK: true, Failures: 5, Time: rec.start.Add(16 * time.Second)},
		}
		if !slices.Equal(rec.statuses, want) {
			t.Errorf("statuses\n%+v\nwant\n%+v", rec.statuses, want)
		}
	})
}

// slowSource takes delays[i] of fake time for its i'th read.
type slowSource struct {
	delays []time.Duration
	n      int
}

func (s *slowSource) Name() string { return "slow" }
func (s *slowSource) Sense(r *reading.Reading) error {
	if s.n < len(s.delays) {
		time.Sleep(s.delays[s.n])
	}
	s.n++
	return r.Add("t", reading.Celsius, 1)
}

// TestPollerSchedule: reads keep to the schedule of a ticker. A late read
// is followed at once by the next scheduled one, and the schedule goes on
// (skipping a read due less than half an interval after it); a read more
// than an interval late drops the missed ones.
func TestPollerSchedule(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		want  []time.Duration
	}{
		// The read at 1s ends at 2.5s: the one due at 2s starts then,
		// and the next at 3s as scheduled.
		{"late", 1500 * time.Millisecond, seconds(0, 1, 2.5, 3, 4, 5)},
		// The read at 1s ends at 2.9995s: the one due at 2s starts then,
		// and the one due at 3s, half a millisecond later, is dropped.
		{"almost an interval late", 1999500 * time.Microsecond, seconds(0, 1, 2.9995, 4, 5)},
		// The read at 1s ends at 3.5s: 2s and 3s are dropped; the
		// schedule restarts from 3.5s.
		{"far behind", 2500 * time.Millisecond, seconds(0, 1, 3.5, 4.5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder()
				p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading})
				if err := p.Add(&slowSource{delays: []time.Duration{0, tc.delay}}, time.Second); err != nil {
					t.Fatal(err)
				}
				if err := runFor(t, p, 5200*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				if got := rec.times("slow"); !slices.Equal(got, tc.want) {
					t.Errorf("reads started at %v, want %v", got, tc.want)
				}
			})
		})
	}
}

// stuckSource is a Halter whose Sense blocks until release is closed, as
// a read of a 1-Wire bus with many probes or a stuck I²C transfer does.
type stuckSource struct {
	name    string
	release chan struct{}
	haltErr error

	mu            sync.Mutex
	senses, halts int
}

func (s *stuckSource) Name() string { return s.name }

func (s *stuckSource) Sense(r *reading.Reading) error {
	s.mu.Lock()
	s.senses++
	s.mu.Unlock()
	<-s.release
	return r.Add("t", reading.Celsius, 1)
}

func (s *stuckSource) Halt() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.halts++
	return s.haltErr
}

func (s *stuckSource) counts() (senses, halts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.senses, s.halts
}

// TestPollerStopsWhileReadStuck: once its context is done, Run returns
// after StopWait even though a Sense is stuck; the other Sources are halted
// by then. The stuck Sense's result is dropped when it returns, its Source
// is halted then, and that Halt's error is logged.
func TestPollerStopsWhileReadStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{Logger: logBuffer(&logs), OnReading: rec.onReading, OnStatus: rec.onStatus})
		stuck := &stuckSource{name: "w1", release: make(chan struct{}), haltErr: errors.New("bus busy")}
		errHalt := errors.New("close failed")
		ok := &sensortest.Script{Sensor: "ok", Loop: true, Steps: []sensortest.Step{sensortest.OK(val("t", 2))}, HaltErr: errHalt}
		for _, s := range []sensors.Source{stuck, ok} {
			if err := p.Add(s, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(2500 * time.Millisecond)
		cancel()
		stopped := time.Now()
		err := <-done
		if waited := time.Since(stopped); waited != sensors.DefaultStopWait {
			t.Errorf("Run returned %v after cancel, want after StopWait (%v)", waited, sensors.DefaultStopWait)
		}
		if !errors.Is(err, errHalt) || errors.Is(err, stuck.haltErr) {
			t.Errorf("Run = %v, want the halt error of ok only", err)
		}
		if senses, halts := stuck.counts(); senses != 1 || halts != 0 {
			t.Errorf("stuck source: %d senses, %d halts when Run returned; want 1 and 0", senses, halts)
		}
		if ok.Halts() != 1 {
			t.Errorf("ok halted %d times, want 1", ok.Halts())
		}
		n := len(rec.readings)

		close(stuck.release) // the read finally returns
		synctest.Wait()
		if _, halts := stuck.counts(); halts != 1 {
			t.Errorf("stuck source halted %d times after its read returned, want 1", halts)
		}
		if len(rec.readings) != n || len(rec.statuses) != 0 {
			t.Errorf("after Run returned: %d more readings, statuses %+v; want none", len(rec.readings)-n, rec.statuses)
		}
		for _, want := range []string{
			`level=WARN msg="sensor not stopped at shutdown: left to finish its read and halt on its own" sensor=w1 waited=500ms`,
			`level=WARN msg="sensor halt failed" sensor=ok err="close failed"`,
			`level=WARN msg="sensor halt failed" sensor=w1 err="bus busy"`,
		} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs:\n%s\nwant a line with\n%s", logs.String(), want)
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

// A sensor that keeps failing and recovering (a loose wire) is logged once
// per minute at most, failing and recovered, and the next failing line
// says how many episodes went unlogged.
func TestPollerFlappingLogsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		p := sensors.NewPoller(&sensors.PollerOptions{Logger: logBuffer(&logs)})
		flap := &sensortest.Script{Sensor: "flap", Loop: true, Steps: []sensortest.Step{
			sensortest.OK(val("t", 1)),
			sensortest.Fail(errors.New("i2c: no ack")),
		}}
		if err := p.Add(flap, time.Second); err != nil {
			t.Fatal(err)
		}
		// A failure every 2 s for 130 s: 65 episodes.
		if err := runFor(t, p, 130500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSpace(logs.String()), "\n")
		var failing, recovered int
		var suppressed []string
		for _, l := range got {
			switch {
			case strings.Contains(l, `msg="sensor failing"`):
				failing++
				if _, s, ok := strings.Cut(l, "suppressed="); ok {
					suppressed = append(suppressed, s)
				}
			case strings.Contains(l, `msg="sensor recovered"`):
				recovered++
			}
		}
		// Failing lines at 1 s, 61 s and 121 s; each of the later two
		// counts the 29 episodes in between.
		if failing != 3 || recovered != 3 || strings.Join(suppressed, " ") != "29 29" {
			t.Errorf("%d failing and %d recovered lines, suppressed %v; want 3, 3, [29 29]:\n%s", failing, recovered, suppressed, logs.String())
		}
	})
}
