package alert

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// harness runs an engine inside a synctest bubble and records its events.
type harness struct {
	t    *testing.T
	e    *Engine
	mu   sync.Mutex
	evs  []Event
	stop context.CancelFunc
	done chan struct{}
}

func start(t *testing.T, o *Options) *harness {
	t.Helper()
	h := &harness{t: t, done: make(chan struct{})}
	o.OnEvent = func(ev Event) {
		h.mu.Lock()
		h.evs = append(h.evs, ev)
		h.mu.Unlock()
	}
	h.e = New(o)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.e.Run(ctx); close(h.done) }()
	return h
}

func (h *harness) close() {
	h.stop()
	<-h.done
}

// temp publishes a reading of sensor "gh" with temperature v °C.
func (h *harness) temp(v float64) {
	var r reading.Reading
	r.Reset("dev", "gh", time.Now())
	r.Add("temperature", reading.Celsius, reading.Milli(v))
	r.Add("humidity", reading.Percent, 50000)
	h.e.PublishReading(&r)
	synctest.Wait()
}

// states returns the recorded events as "firing"/"resolved" strings.
func (h *harness) states() []string {
	synctest.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for _, ev := range h.evs {
		s = append(s, ev.Rule+" "+ev.State())
	}
	return s
}

func (h *harness) want(want ...string) {
	h.t.Helper()
	got := h.states()
	if len(got) != len(want) {
		h.t.Fatalf("events %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			h.t.Fatalf("events %q, want %q", got, want)
		}
	}
}

func cond(t *testing.T, s string) Cond {
	t.Helper()
	c, err := ParseCond(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ghSensors = []SensorInfo{{Name: "gh", MaxGap: 10 * time.Second}}

func TestFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "frost", When: cond(t, "gh.temperature < 2"), For: 5 * time.Minute}}})
		defer h.close()
		h.temp(1.5)
		time.Sleep(4 * time.Minute)
		h.temp(1.0)
		h.want() // held 4 min: pending
		if s := h.e.Rules()[0]; s.State != "pending" || !s.HasValue || s.Milli != 1000 || s.Unit != "°C" {
			t.Fatalf("rule = %+v", s)
		}
		h.temp(2.5) // stops holding: the 5 min start again
		time.Sleep(4 * time.Minute)
		h.temp(1.0)
		time.Sleep(4*time.Minute + 59*time.Second)
		h.want()
		// No new reading needed: the tick fires it once it has held 5 min.
		time.Sleep(2 * time.Second)
		h.want("frost firing")
		h.mu.Lock()
		ev := h.evs[0]
		h.mu.Unlock()
		if !ev.Has || ev.Milli != 1000 || ev.Unit != "°C" || ev.Value != "temperature" || ev.Sensor != "gh" || ev.When != "gh.temperature < 2" {
			t.Errorf("event = %+v", ev)
		}
	})
}

func TestZeroForFiresAtTheReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "hot", When: cond(t, "gh.temperature > 30")}}})
		defer h.close()
		h.temp(30) // not above
		h.want()
		h.temp(30.001)
		h.want("hot firing") // synctest.Wait only: no time passed
		h.temp(29)
		h.want("hot firing", "hot resolved") // ClearFor 0
	})
}

func TestHysteresis(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clear := cond(t, "gh.temperature > 3")
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "frost", When: cond(t, "gh.temperature < 2"), Clear: &clear}}})
		defer h.close()
		h.temp(1.9)
		h.temp(2.5) // When no longer holds, but not clear yet
		h.temp(1.9)
		h.temp(3.0)
		h.want("frost firing")
		h.temp(3.1)
		h.want("frost firing", "frost resolved")
		h.temp(2.5) // above When: nothing
		h.want("frost firing", "frost resolved")
	})
}

func TestFlappingIsOneEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "frost", When: cond(t, "gh.temperature < 2"), ClearFor: time.Minute}}})
		defer h.close()
		for range 60 { // ten minutes around the threshold
			h.temp(1.9)
			time.Sleep(5 * time.Second)
			h.temp(2.1)
			time.Sleep(5 * time.Second)
		}
		h.want("frost firing")
		// Clear since the last 2.1, 5 s ago: it resolves when that is a minute.
		time.Sleep(50 * time.Second)
		h.temp(2.2)
		h.want("frost firing")
		time.Sleep(6 * time.Second)
		h.want("frost firing", "frost resolved")
		if s := h.e.Rules()[0]; s.State != "ok" || s.Firings != 1 {
			t.Errorf("rule = %+v", s)
		}
	})
}

func TestFailingFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "broken", When: cond(t, "gh failing"), For: 10 * time.Minute}}})
		defer h.close()
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: false, Err: "i2c: no ack", Failures: 1})
		time.Sleep(5 * time.Minute)
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: true})
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: false, Err: "i2c: no ack", Failures: 1})
		time.Sleep(9 * time.Minute)
		h.want()
		time.Sleep(70 * time.Second)
		h.want("broken firing")
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: true})
		h.want("broken firing", "broken resolved")
		if s := h.e.Rules()[0]; s.HasValue || s.Value != "" {
			t.Errorf("a health rule has a value: %+v", s)
		}
	})
}

func TestStaleUsesMaxGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "quiet", When: cond(t, "gh stale")}}})
		defer h.close()
		for range 10 { // a reading every max gap: never stale
			h.temp(20)
			time.Sleep(10 * time.Second)
		}
		h.want()
		time.Sleep(9 * time.Second) // 19 s since the last: still within twice the gap
		h.want()
		time.Sleep(2 * time.Second)
		h.want("quiet firing")
		h.temp(20)
		h.want("quiet firing", "quiet resolved")
	})
}

func TestStaleWithoutMaxGapNever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: []SensorInfo{{Name: "gh"}}, Rules: []Rule{{Name: "quiet", When: cond(t, "gh stale")}}})
		defer h.close()
		time.Sleep(time.Hour)
		h.want()
	})
}

func TestUnknownValueChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: []Rule{{Name: "dry", When: cond(t, "gh.moisture < 10")}}})
		defer h.close()
		h.temp(1)
		time.Sleep(time.Hour)
		h.want()
		if s := h.e.Rules()[0]; s.State != "ok" || s.HasValue {
			t.Errorf("rule = %+v", s)
		}
	})
}

func TestRestartWhileFiring(t *testing.T) {
	dir := t.TempDir()
	rules := []Rule{{Name: "frost", When: cond(t, "gh.temperature < 2")}, {Name: "hot", When: cond(t, "gh.temperature > 30")}}
	var since time.Time
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
		h.temp(1)
		h.want("frost firing")
		since = h.e.Rules()[0].Since
		h.close()
	})
	fi, err := os.Lstat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
		defer h.close()
		if s := h.e.Rules()[0]; s.State != "firing" || !s.Since.Equal(since) {
			t.Fatalf("after the restart: %+v (since %v)", s, since)
		}
		if f := h.e.Firing(); len(f) != 1 || f[0].Rule != "frost" || !f[0].Firing {
			t.Fatalf("Firing() = %+v", f)
		}
		h.temp(1) // still cold: no second firing
		time.Sleep(time.Minute)
		h.want()
		h.temp(5)
		h.want("frost resolved")
	})
	// Resolved is kept too: a third start fires nothing and has nothing to resolve.
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
		defer h.close()
		h.temp(5)
		h.want()
		if s := h.e.Rules()[0]; s.State != "ok" || s.Firings != 1 {
			t.Fatalf("third start: %+v", s)
		}
	})
}

func TestRestoreRefusesBadState(t *testing.T) {
	rules := []Rule{{Name: "frost", When: cond(t, "gh.temperature < 2")}}
	firing := `{"version":1,"rules":[{"name":"frost","when":"gh.temperature < 2","firing":true,"firings":1}]}`
	for _, tc := range []struct {
		name  string
		setup func(dir string)
	}{
		{"garbage", func(dir string) { os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600) }},
		{"readable by others", func(dir string) { os.WriteFile(filepath.Join(dir, StateFile), []byte(firing), 0o644) }},
		{"symlink", func(dir string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, []byte(firing), 0o600)
			os.Symlink(target, filepath.Join(dir, StateFile))
		}},
		{"rule changed", func(dir string) {
			os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version":1,"rules":[{"name":"frost","when":"gh.temperature < 0","firing":true}]}`), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			e := New(&Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
			if s := e.Rules()[0]; s.State != "ok" {
				t.Errorf("restored from a bad state file: %+v", s)
			}
		})
	}
	// The good file, for contrast: it is restored.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte(firing), 0o600)
	if s := New(&Options{Sensors: ghSensors, Rules: rules, StateDir: dir}).Rules()[0]; s.State != "firing" {
		t.Errorf("good state file not restored: %+v", s)
	}
}

// A health rule firing before a restart stays firing while the engine has
// not heard from the sensor yet: no resolved on no news, no second firing
// when the failure is reported again; resolved once it recovers.
func TestRestartWhileHealthRuleFires(t *testing.T) {
	dir := t.TempDir()
	rules := []Rule{
		{Name: "broken", When: cond(t, "gh failing"), ClearFor: time.Minute},
		{Name: "quiet", When: cond(t, "gh stale"), ClearFor: time.Minute},
	}
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: false, Err: "no ack", Failures: 1})
		time.Sleep(21 * time.Second)
		h.want("broken firing", "quiet firing")
		h.close()
	})
	synctest.Test(t, func(t *testing.T) {
		h := start(t, &Options{Sensors: ghSensors, Rules: rules, StateDir: dir})
		defer h.close()
		time.Sleep(5 * time.Minute) // no status, no reading: both still fire
		h.want()
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: false, Err: "no ack", Failures: 1})
		time.Sleep(time.Minute)
		h.want()
		for _, s := range h.e.Rules() {
			if s.State != "firing" {
				t.Errorf("%+v", s)
			}
		}
		h.e.PublishStatus(&reading.Status{Sensor: "gh", OK: true})
		for range 7 { // a reading every max gap for 70 s
			h.temp(20)
			time.Sleep(10 * time.Second)
		}
		h.want("broken resolved", "quiet resolved")
	})
}
