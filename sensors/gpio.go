package sensors

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// GPIOOpts configures a GPIO source.
type GPIOOpts struct {
	// Name is the Source's name. Default: the pin's name.
	Name string

	// Pin is the input line, typically from gpioreg.ByName("GPIO17").
	// Required.
	Pin gpio.PinIn

	// Pull is the line's bias: gpio.PullUp for a contact to ground (a
	// button, a reed switch), gpio.PullDown for a PIR's push-pull output.
	// Default: gpio.PullNoChange.
	Pull gpio.Pull

	// Invert reports a low line as 1 (on) and a high one as 0, as for a
	// contact to ground with a pull-up.
	Invert bool

	// Debounce is how long the line must stay quiet after an edge before
	// its level counts. Default: 50ms.
	Debounce time.Duration

	// Value names the reported value. Default: "state".
	Value string
}

// DefaultDebounce is GPIOOpts.Debounce's default.
const DefaultDebounce = 50 * time.Millisecond

// edgeWait bounds one wait for an edge, so that Halt is noticed.
const edgeWait = time.Second

// GPIO is a Source for a digital input: a PIR motion sensor, a door
// contact, a button. It watches the line's edges on a goroutine of its
// own, debounces them, and wakes the Poller (it is a Waker) on each change
// of the debounced level, so a change is published at once; on its
// interval it publishes the current state anyway. Each Sense adds one
// value, 1 (on) or 0 (off), in reading.None.
type GPIO struct {
	name, value string
	pin         gpio.PinIn
	invert      bool
	debounce    time.Duration

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	level gpio.Level // debounced
}

// NewGPIO sets the pin up as an input with edge detection on both edges
// and starts watching it. Halt stops it.
func NewGPIO(o GPIOOpts) (*GPIO, error) {
	if o.Pin == nil {
		return nil, errors.New("sensors: new gpio: no pin")
	}
	if o.Name == "" {
		o.Name = o.Pin.Name()
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Value == "" {
		o.Value = "state"
	}
	if err := o.Pin.In(o.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("sensors: gpio %s: set up as an input with edge detection: %w", o.Pin.Name(), err)
	}
	g := &GPIO{
		name: o.Name, value: o.Value, pin: o.Pin, invert: o.Invert, debounce: o.Debounce,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		level: o.Pin.Read(),
	}
	go g.watch()
	return g, nil
}

// watch waits for edges until Halt. After an edge it waits until the line
// has been quiet for the debounce time, then reads the level.
func (g *GPIO) watch() {
	defer close(g.done)
	for {
		select {
		case <-g.stop:
			return
		default:
		}
		if !g.pin.WaitForEdge(edgeWait) {
			continue
		}
		for g.pin.WaitForEdge(g.debounce) {
			// Still bouncing.
		}
		l := g.pin.Read()
		g.mu.Lock()
		changed := l != g.level
		g.level = l
		g.mu.Unlock()
		if changed {
			select {
			case g.wake <- struct{}{}:
			default: // a wake is already pending
			}
		}
	}
}

// Name returns the GPIO's name.
func (g *GPIO) Name() string { return g.name }

// Sense adds the debounced state.
func (g *GPIO) Sense(r *reading.Reading) error {
	g.mu.Lock()
	l := g.level
	g.mu.Unlock()
	var v int64
	if bool(l) != g.invert {
		v = 1000
	}
	return r.Add(g.value, reading.None, v)
}

// Wake returns the channel on which the GPIO signals a change of state.
func (g *GPIO) Wake() <-chan struct{} { return g.wake }

// Halt stops watching the pin. It does not wait: the watcher notices
// within about a second (a wait for an edge is bounded) and returns,
// leaving the line as it is. Halt must be called only once.
func (g *GPIO) Halt() error {
	close(g.stop)
	return nil
}

// Done returns a channel closed when the watcher has returned after Halt.
func (g *GPIO) Done() <-chan struct{} { return g.done }

var (
	_ Source = (*GPIO)(nil)
	_ Waker  = (*GPIO)(nil)
	_ Halter = (*GPIO)(nil)
)
