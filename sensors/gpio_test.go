package sensors_test

import (
	"slices"
	"strings"
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
		pin := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 16)}
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
		<-g.Done() // the watcher returns once its wait for an edge times out
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
