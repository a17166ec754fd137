package sensors_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sensortest"
)

// pulses queues the kernel's edge events for n pulses at 1 kHz from
// kernel time start, each followed by two bounces within the debounce
// time, as a contact or a long cable gives, and returns the time after
// them.
func pulses(e *sensortest.Edges, start time.Duration, n int) time.Duration {
	var times []time.Duration
	for k := range n {
		t := start + time.Duration(k)*time.Millisecond
		times = append(times, t, t+100*time.Microsecond, t+300*time.Microsecond)
	}
	e.Rising(times...) // at once: the watcher reads them without a pause
	return start + time.Duration(n)*time.Millisecond
}

// counted waits, in a synctest bubble, until the edges queued so far are
// counted: the watcher lets edges gather for PulseGather after a read.
func counted() {
	time.Sleep(sensors.PulseGather)
	synctest.Wait()
}

func pulseValues(t *testing.T, s sensors.Source) map[string]reading.Value {
	t.Helper()
	var r reading.Reading
	if err := s.Sense(&r); err != nil {
		t.Fatal(err)
	}
	m := map[string]reading.Value{}
	for _, v := range r.Values() {
		m[v.Name] = v
	}
	return m
}

// At 1 kHz with bounces, every pulse is counted once; rate and total
// follow scale, unit and per. The edges come in batches of 100, a tenth of
// a second after they happened, as from a reader that wakes up late.
func TestPulse1kHz(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := sensortest.NewEdges("GPIO22")
		p, err := sensors.NewPulse(sensors.PulseOpts{Line: line, Scale: 450, Unit: "L"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Halt()
		if p.Name() != "GPIO22" {
			t.Errorf("name %q", p.Name())
		}
		go func() {
			kernel := 5 * time.Hour // the kernel's clock started long before
			for range 100 {
				time.Sleep(100 * time.Millisecond)
				kernel = pulses(line, kernel, 100)
			}
		}()
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		v := pulseValues(t, p)
		// 10000 pulses in 10.001 s = 59994/min ÷ 450 = 133.320 L/min;
		// 10000 ÷ 450 = 22.222 L.
		if v["rate"] != (reading.Value{Name: "rate", Unit: "L/min", Milli: 133320}) ||
			v["total"] != (reading.Value{Name: "total", Unit: "L", Milli: 22222}) {
			t.Errorf("values %v", v)
		}
		// Nothing since: the rate drops to 0, the total stays.
		time.Sleep(time.Minute)
		v = pulseValues(t, p)
		if v["rate"].Milli != 0 || v["total"].Milli != 22222 {
			t.Errorf("idle: %v", v)
		}
		if p.Lost() != 0 {
			t.Errorf("lost %d", p.Lost())
		}
	})
}

// The debounce is measured between the kernel's timestamps, never by when
// the edges are read: a thousand pulses a millisecond apart read in one go
// are a thousand pulses; an edge within the debounce time of the last
// counted one is a bounce, one at the debounce time is a pulse, and a
// bounce does not extend the dead time.
func TestPulseDebounceKernelTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := sensortest.NewEdges("GPIO22")
		var times []time.Duration
		for k := range 1000 {
			times = append(times, time.Duration(k)*time.Millisecond)
		}
		line.Rising(times...) // all queued before the reader starts
		p, err := sensors.NewPulse(sensors.PulseOpts{Line: line, Debounce: 2 * time.Millisecond, Per: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Halt()
		synctest.Wait()
		// 2 ms debounce: pulses at 0, 2, 4, ... ms.
		if v := pulseValues(t, p); v["total"].Milli != 500_000 {
			t.Fatalf("2 ms debounce over 1000 edges 1 ms apart: %v, want 500 pulses", v)
		}
		ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
		// The last counted pulse was at 998 ms.
		line.Rising(ms(999.9), ms(1000), ms(1001.9), ms(1002))
		counted()
		if v := pulseValues(t, p); v["total"].Milli != 502_000 {
			t.Errorf("edges at 999.9, 1000 (2 ms after 998), 1001.9, 1002 ms: total %v, want 502 pulses", v["total"])
		}
	})
}

// Gaps in the kernel's sequence numbers are edges its full queue lost: they
// are counted, reported once each, and not added to the total.
func TestPulseLostEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		line := sensortest.NewEdges("GPIO22")
		p, err := sensors.NewPulse(sensors.PulseOpts{Name: "meter", Line: line, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Halt()
		line.Lose(2) // before the first edge read
		line.Rising(time.Second)
		line.Lose(3)
		line.Rising(2 * time.Second)
		counted()
		if v := pulseValues(t, p); v["total"].Milli != 2000 || p.Lost() != 5 {
			t.Errorf("total %v, lost %d; want 2 pulses, 5 lost", v["total"], p.Lost())
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "sensor=meter lost=5 lost_total=5") {
			t.Errorf("log %q", logs.String())
		}
		logs.Reset()
		line.Rising(3 * time.Second)
		counted()
		pulseValues(t, p)
		if logs.Len() != 0 {
			t.Errorf("logged again with nothing more lost: %q", logs.String())
		}
		line.Lose(1)
		line.Rising(4 * time.Second)
		counted()
		pulseValues(t, p)
		if p.Lost() != 6 || !strings.Contains(logs.String(), "lost=1 lost_total=6") {
			t.Errorf("lost %d, log %q", p.Lost(), logs.String())
		}
	})
}

// A line that fails (its chip gone) fails every Sense after the pulses it
// delivered, with the cause; Halt still keeps the total.
func TestPulseLineFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "meter.count")
		line := sensortest.NewEdges("GPIO22")
		p, err := sensors.NewPulse(sensors.PulseOpts{Line: line, StateFile: state})
		if err != nil {
			t.Fatal(err)
		}
		pulses(line, 0, 3)
		line.Fail(errors.New("gpio line \"GPIO22\": read edge events: no such device"))
		counted()
		var r reading.Reading
		err = p.Sense(&r)
		if err == nil || !strings.Contains(err.Error(), "no longer counting") || !strings.Contains(err.Error(), "no such device") {
			t.Errorf("Sense: %v", err)
		}
		if err := p.Halt(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(state); string(b) != "3\n" {
			t.Errorf("state after Halt: %q", b)
		}
	})
}

// The total survives a restart, written at most every SaveEvery and on
// Halt; the rate per second.
func TestPulseTotalKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "pulse", "meter.count")
		open := func() (*sensortest.Edges, *sensors.Pulse) {
			line := sensortest.NewEdges("GPIO22")
			p, err := sensors.NewPulse(sensors.PulseOpts{Line: line, Per: time.Second, StateFile: state, SaveEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return line, p
		}
		line, p := open()
		kernel := pulses(line, 0, 500)
		time.Sleep(time.Second)
		synctest.Wait()
		if v := pulseValues(t, p); v["rate"] != (reading.Value{Name: "rate", Unit: "pulses/s", Milli: 500000}) || v["total"].Milli != 500000 {
			t.Errorf("values %v", v)
		}
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state written before SaveEvery: %v", err)
		}
		time.Sleep(time.Hour)
		pulseValues(t, p)
		if b, err := os.ReadFile(state); err != nil || string(b) != "500\n" {
			t.Errorf("state after SaveEvery: %q, %v", b, err)
		}
		pulses(line, kernel+time.Hour, 7)
		counted()
		if err := p.Halt(); err != nil {
			t.Fatal(err)
		}
		if err := p.Halt(); err != nil {
			t.Errorf("second Halt: %v", err)
		}
		if b, _ := os.ReadFile(state); string(b) != "507\n" {
			t.Errorf("state after Halt: %q", b)
		}
		line, p = open()
		defer p.Halt()
		pulses(line, 0, 3) // the kernel's clock restarted with the machine
		time.Sleep(time.Second)
		synctest.Wait()
		if v := pulseValues(t, p); v["total"].Milli != 510000 || v["rate"].Milli != 3000 {
			t.Errorf("after a restart: %v", v)
		}
	})
}

// A damaged state file is an error naming it, and is left alone.
func TestPulseBadState(t *testing.T) {
	for _, content := range []string{"12", "twelve\n", "-3\n", "99999999999999999999\n"} {
		state := filepath.Join(t.TempDir(), "meter.count")
		os.WriteFile(state, []byte(content), 0o644)
		_, err := sensors.NewPulse(sensors.PulseOpts{Line: sensortest.NewEdges("GPIO22"), StateFile: state})
		if err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "not a pulse count") {
			t.Errorf("%q: %v", content, err)
		}
		if b, _ := os.ReadFile(state); string(b) != content {
			t.Errorf("%q: file now %q", content, b)
		}
	}
}

func TestPulseConfig(t *testing.T) {
	c := sensors.Config{Driver: "pulse", Line: "GPIO22", Scale: 1000, Unit: "kWh", Per: "hour", Invert: true}
	if err := c.Validate(); err != nil || c.Interval != time.Minute {
		t.Fatalf("%v %+v", err, c)
	}
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		line := sensortest.NewEdges("GPIO22")
		var asked sensors.EdgeOpts
		hw := &sensors.Hardware{StateDir: dir, Edges: func(name string, o sensors.EdgeOpts) (sensors.EdgeReader, error) {
			if name != "GPIO22" {
				t.Errorf("line %q", name)
			}
			asked = o
			return line, nil
		}}
		src, err := hw.Open(&c)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		var r reading.Reading
		if err := src.Sense(&r); err != nil {
			t.Fatal(err)
		}
		units := map[string]reading.Unit{}
		for _, v := range r.Values() {
			units[v.Name] = v.Unit
		}
		if units["rate"] != "kWh/h" || units["total"] != "kWh" {
			t.Errorf("units %v", units)
		}
		if !asked.Falling || asked.Pull != gpio.PullNoChange {
			t.Errorf("asked for %+v, want falling edges (invert) and the bias as it is", asked)
		}
		line.Rising(time.Second)
		synctest.Wait()
		if err := src.(sensors.Halter).Halt(); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "pulse", "pulse.count")); err != nil || string(b) != "1\n" {
			t.Errorf("state %q, %v", b, err)
		}
	})
	var ke *sensors.KeyError
	for _, tc := range []struct {
		c   sensors.Config
		key string
	}{
		{sensors.Config{Driver: "pulse"}, "line"},
		{sensors.Config{Driver: "pulse", Line: "GPIO22", Per: "day"}, "per"},
		{sensors.Config{Driver: "pulse", Line: "GPIO22", Scale: -1}, "scale"},
		{sensors.Config{Driver: "pulse", Line: "GPIO22", Unit: "L/min"}, "unit"},
		{sensors.Config{Driver: "gpio", Line: "GPIO22", Scale: 2}, "scale"},
	} {
		if err := tc.c.Validate(); !errors.As(err, &ke) || ke.Key != tc.key {
			t.Errorf("%+v: %v, want key %q", tc.c, err, tc.key)
		}
	}
}

// Without a Hardware.Edges hook, a pulse sensor requests its line from the
// GPIO character devices under Root's /dev, and says when there are none.
func TestPulseOpenNoChip(t *testing.T) {
	c := sensors.Config{Driver: "pulse", Name: "water", Line: "GPIO22"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	hw := &sensors.Hardware{Root: root}
	_, err := hw.Open(&c)
	if err == nil || !strings.Contains(err.Error(), `gpio line "GPIO22": no GPIO character device (`+filepath.Join(root, "dev", "gpiochipN")+") found") {
		t.Errorf("%v", err)
	}
}
