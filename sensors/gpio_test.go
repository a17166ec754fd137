package sensors_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/sensorcast/sensorcast/sensors"
)

// TestGPIOEdges: a door contact to ground with a pull-up, read every 10s.
// Each debounced change is published at once; bounces are not.
func TestGPIOEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newHaltPin(&gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 16)})
		g, err := sensors.NewGPIO(sensors.GPIOOpts{Pin: pin, Pull: gpio.PullUp, Invert: true, Value: "open"})
		if err != nil {
			t.Fatal(err)
		}
		if g.Name() != "GPIO17" || pin.P != gpio.PullUp {
			t.Fatalf("Name %q, pull %v", g.Name(), pin.P)
		}
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading})
		if err := p.Add(g, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(time.Second)
			// The contact closes, pulling the line low (on, inverted),
			// with bounces: low, high, low.
			pin.EdgesChan <- gpio.Low
			time.Sleep(5 * time.Millisecond)
			pin.EdgesChan <- gpio.High
			time.Sleep(5 * time.Millisecond)
			pin.EdgesChan <- gpio.Low
			time.Sleep(3 * time.Second)
			pin.EdgesChan <- gpio.High
			time.Sleep(time.Second)
			// A glitch shorter than the debounce that ends where it began.
			pin.EdgesChan <- gpio.Low
			time.Sleep(10 * time.Millisecond)
			pin.EdgesChan <- gpio.High
		}()
		if err := runFor(t, p, 12*time.Second); err != nil {
			t.Fatalf("Run: %v", err)
		}
		select {
		case <-g.Done(): // Halt interrupted the wait for an edge
		default:
			t.Error("the watcher still runs after Run returned")
		}
		var got []string
		for _, r := range rec.readings {
			got = append(got, r.at.String()+" "+r.values)
		}
		// 0s: the initial state (pulled up: 0). 1.06s: on, after 10ms of
		// bouncing and 50ms of quiet, at once rather than at 10s. 4.06s:
		// off. The 5s glitch changes nothing, and each change restarted
		// the 10s interval, so nothing more before 12s.
		want := []string{"0s open=0", "1.06s open=1", "4.06s open=0"}
		if !slices.Equal(got, want) {
			t.Errorf("published\n%v\nwant\n%v", got, want)
		}
	})
}

func TestGPIOErrors(t *testing.T) {
	if _, err := sensors.NewGPIO(sensors.GPIOOpts{}); err == nil || !strings.Contains(err.Error(), "no pin") {
		t.Errorf("no pin: %v", err)
	}
	// gpiotest refuses edge detection without an edge channel, as a line
	// without interrupt support would.
	_, err := sensors.NewGPIO(sensors.GPIOOpts{Pin: &gpiotest.Pin{N: "GPIO4"}})
	if err == nil || !strings.Contains(err.Error(), "gpio GPIO4: set up as an input with edge detection") {
		t.Errorf("no edges: %v", err)
	}
}

// haltPin is a gpiotest.Pin whose Halt interrupts a wait for an edge, as a
// line of the GPIO character device does.
type haltPin struct {
	*gpiotest.Pin
	once   sync.Once
	halted chan struct{}
}

func newHaltPin(p *gpiotest.Pin) *haltPin { return &haltPin{Pin: p, halted: make(chan struct{})} }

func (p *haltPin) WaitForEdge(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.halted:
		return false
	case <-t.C:
		return false
	case l := <-p.EdgesChan:
		p.Out(l)
		return true
	}
}

func (p *haltPin) Halt() error {
	p.once.Do(func() { close(p.halted) })
	return nil
}

// toggle drives pin at 1 kHz from now until stop is closed: high for
// 100µs at the start of each millisecond, low for the rest.
func toggle(pin *gpiotest.Pin, stop <-chan struct{}) {
	for {
		for _, step := range []struct {
			l gpio.Level
			d time.Duration
		}{{gpio.High, 100 * time.Microsecond}, {gpio.Low, 900 * time.Microsecond}} {
			select {
			case pin.EdgesChan <- step.l:
			case <-stop:
				return
			}
			time.Sleep(step.d)
		}
	}
}

// TestGPIOFastLine: a line toggling at 1 kHz, twenty times faster than its
// 50ms debounce, still reports once it has toggled for ten debounce times,
// and halting the source returns at once, with the watcher stopped, while
// the line still toggles.
func TestGPIOFastLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newHaltPin(&gpiotest.Pin{N: "GPIO27", L: gpio.Low, EdgesChan: make(chan gpio.Level)})
		g, err := sensors.NewGPIO(sensors.GPIOOpts{Pin: pin})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading})
		if err := p.Add(g, time.Minute); err != nil {
			t.Fatal(err)
		}
		stopLine, lineDone := make(chan struct{}), make(chan struct{})
		defer func() { close(stopLine); <-lineDone }()
		go func() {
			defer close(lineDone)
			time.Sleep(time.Second)
			toggle(pin.Pin, stopLine)
		}()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(3 * time.Second)
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		default:
			t.Fatal("Run did not return at once while the line toggles")
		}
		select {
		case <-g.Done():
		default:
			t.Error("the watcher still runs after Halt")
		}
		var got []string
		for _, r := range rec.readings {
			got = append(got, r.at.String()+" "+r.values)
		}
		// 0s: low. The first edge comes at 1s; 500ms later the line is
		// read though it never settled: high, at the edge of 1.5s.
		if len(got) < 2 || got[0] != "0s state=0" || got[1] != "1.5s state=1" {
			t.Errorf("published %v, want 0s state=0 then 1.5s state=1, and more", got)
		}
	})
}

// TestGPIOHaltBounded: on a pin whose Halt does not interrupt a wait for an
// edge, Halt still returns once the watcher has stopped: at the next edge
// of a toggling line, or within a second on a quiet one.
func TestGPIOHaltBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, toggling := range []bool{true, false} {
			pin := &gpiotest.Pin{N: "GPIO22", EdgesChan: make(chan gpio.Level)}
			g, err := sensors.NewGPIO(sensors.GPIOOpts{Pin: pin})
			if err != nil {
				t.Fatal(err)
			}
			stopLine, lineDone := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(lineDone)
				if toggling {
					toggle(pin, stopLine)
				}
			}()
			time.Sleep(2 * time.Second)
			start := time.Now()
			if err := g.Halt(); err != nil {
				t.Errorf("toggling %v: Halt = %v", toggling, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("toggling %v: Halt took %v, want at most a second", toggling, d)
			}
			select {
			case <-g.Done():
			default:
				t.Errorf("toggling %v: the watcher still runs after Halt returned", toggling)
			}
			if err := g.Halt(); err != nil {
				t.Errorf("second Halt = %v", err)
			}
			close(stopLine)
			<-lineDone
		}
	})
}
