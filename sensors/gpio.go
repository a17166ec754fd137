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
	// its level counts. A line that keeps toggling faster than that is read
	// anyway once it has toggled for settleDebounces debounce times, so a
	// chattering contact still reports. Default: 50ms.
	Debounce time.Duration

	// Value names the reported value. Default: "state".
	Value string
}

// DefaultDebounce is GPIOOpts.Debounce's default.
const DefaultDebounce = 50 * time.Millisecond

// edgeWait bounds one wait for an edge, so that Halt is noticed even where
// halting the pin does not interrupt the wait.
const edgeWait = time.Second

// settleDebounces bounds the wait for a line to settle, in debounce times.
const settleDebounces = 10

// haltWait bounds how long Halt waits for the watcher to return.
const haltWait = 2 * edgeWait

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

	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

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
// has been quiet for the debounce time, or has kept toggling for
// settleDebounces debounce times, then reads the level.
func (g *GPIO) watch() {
	defer close(g.done)
	for !g.stopped() {
		if !g.pin.WaitForEdge(edgeWait) {
			continue
		}
		if !g.settle() {
			return
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

// settle waits, after an edge, until the line has been quiet for the
// debounce time or settleDebounces debounce times have passed. It returns
// false if Halt was called meanwhile. No wait is longer than edgeWait.
func (g *GPIO) settle() bool {
	start := time.Now()
	quiet := start
	for {
		if g.stopped() {
			return false
		}
		now := time.Now()
		left := g.debounce - now.Sub(quiet)
		if left <= 0 || now.Sub(start) >= settleDebounces*g.debounce {
			return true
		}
		if g.pin.WaitForEdge(min(left, edgeWait)) {
			quiet = time.Now() // still bouncing
		}
	}
}

func (g *GPIO) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
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

// Halt stops watching the pin: it halts the pin, which interrupts a wait
// for an edge where the driver supports it, and waits for the watcher to
// return, which it does within edgeWait in any case, leaving the line as it
// is. It fails if the watcher has not returned after haltWait. Calling
// Halt again does no harm.
func (g *GPIO) Halt() error {
	g.stopOnce.Do(func() { close(g.stop) })
	err := g.pin.Halt()
	t := time.NewTimer(haltWait)
	defer t.Stop()
	select {
	case <-g.done:
	case <-t.C:
		return fmt.Errorf("sensors: gpio %s: watcher still running %v after Halt", g.pin.Name(), haltWait)
	}
	if err != nil {
		return fmt.Errorf("sensors: gpio %s: halt: %w", g.pin.Name(), err)
	}
	return nil
}

// Done returns a channel closed when the watcher has returned after Halt.
func (g *GPIO) Done() <-chan struct{} { return g.done }

var (
	_ Source = (*GPIO)(nil)
	_ Waker  = (*GPIO)(nil)
	_ Halter = (*GPIO)(nil)
)
