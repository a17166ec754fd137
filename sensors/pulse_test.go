package sensors_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// pulses plays the kernel's edge events for a line pulsed n times at
// 1 kHz, each pulse followed by two bounces within the debounce time, as a
// contact or a long cable gives.
func pulses(pin *gpiotest.Pin, n int) {
	for range n {
		pin.EdgesChan <- gpio.High
		time.Sleep(100 * time.Microsecond)
		pin.EdgesChan <- gpio.High // bounce
		time.Sleep(200 * time.Microsecond)
		pin.EdgesChan <- gpio.High // bounce
		time.Sleep(700 * time.Microsecond)
	}
}

// edgePin records the edge detection asked for.
type edgePin struct {
	*haltPin
	edge gpio.Edge
}

func newEdgePin() *edgePin {
	return &edgePin{haltPin: newHaltPin(&gpiotest.Pin{N: "GPIO22", EdgesChan: make(chan gpio.Level)})}
}

func (p *edgePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.edge = edge
	return p.haltPin.In(pull, edge)
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
// follow scale, unit and per.
func TestPulse1kHz(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newEdgePin()
		p, err := sensors.NewPulse(sensors.PulseOpts{Pin: pin, Pull: gpio.PullUp, Scale: 450, Unit: "L"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Halt()
		if pin.edge != gpio.RisingEdge || pin.P != gpio.PullUp {
			t.Errorf("edge %v, pull %v", pin.edge, pin.P)
		}
		go pulses(pin.Pin, 10000)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		v := pulseValues(t, p)
		// 1000 pulses/s = 60000/min ÷ 450 = 133.333 L/min; 10000 ÷ 450 =
		// 22.222 L.
		if v["rate"] != (reading.Value{Name: "rate", Unit: "L/min", Milli: 133333}) ||
			v["total"] != (reading.Value{Name: "total", Unit: "L", Milli: 22222}) {
			t.Errorf("values %v", v)
		}
		// Nothing since: the rate drops to 0, the total stays.
		time.Sleep(time.Minute)
		v = pulseValues(t, p)
		if v["rate"].Milli != 0 || v["total"].Milli != 22222 {
			t.Errorf("idle: %v", v)
		}
	})
}

// The total survives a restart, written at most every SaveEvery and on
// Halt; per second and a falling edge.
func TestPulseTotalKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "pulse", "meter.count")
		open := func() (*edgePin, *sensors.Pulse) {
			pin := newEdgePin()
			p, err := sensors.NewPulse(sensors.PulseOpts{Pin: pin, Invert: true, Per: time.Second, StateFile: state, SaveEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if pin.edge != gpio.FallingEdge {
				t.Errorf("edge %v", pin.edge)
			}
			return pin, p
		}
		pin, p := open()
		go pulses(pin.Pin, 500)
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
		go pulses(pin.Pin, 7)
		time.Sleep(time.Second)
		synctest.Wait()
		if err := p.Halt(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(state); string(b) != "507\n" {
			t.Errorf("state after Halt: %q", b)
		}
		pin, p = open()
		defer p.Halt()
		go pulses(pin.Pin, 3)
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
		pin := newEdgePin()
		_, err := sensors.NewPulse(sensors.PulseOpts{Pin: pin, StateFile: state})
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
	dir := t.TempDir()
	pin := newEdgePin()
	hw := &sensors.Hardware{StateDir: dir, Pin: func(name string) (gpio.PinIO, error) { return pin, nil }}
	src, err := hw.Open(&c)
	if err != nil {
		t.Fatal(err)
	}
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
	pin.EdgesChan <- gpio.Low
	if err := src.(sensors.Halter).Halt(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "pulse", "pulse.count")); err != nil || string(b) != "1\n" {
		t.Errorf("state %q, %v", b, err)
	}
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
