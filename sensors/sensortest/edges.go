package sensortest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
)

// Edges is a sensors.EdgeReader that delivers the edges a test queues, as
// the kernel's GPIO character device does: with the times and sequence
// numbers the test gives them, however late they are read. It works under
// testing/synctest.
type Edges struct {
	name  string
	ready chan struct{} // holds a token while edges or an error wait

	mu     sync.Mutex
	queue  []sensors.Edge
	seq    uint32
	err    error // returned once the queue is empty
	closed bool
}

// NewEdges returns an Edges for a line called name.
func NewEdges(name string) *Edges {
	return &Edges{name: name, ready: make(chan struct{}, 1)}
}

// Name returns the line's name.
func (e *Edges) Name() string { return e.name }

// Rising queues a rising edge at each of times (the kernel's clock), with
// the next sequence numbers.
func (e *Edges) Rising(times ...time.Duration) {
	e.mu.Lock()
	for _, t := range times {
		e.seq++
		e.queue = append(e.queue, sensors.Edge{Time: t, Rising: true, Seq: e.seq})
	}
	e.mu.Unlock()
	e.signal()
}

// Lose skips n sequence numbers, as the kernel does for edges it dropped
// from a full queue.
func (e *Edges) Lose(n uint32) {
	e.mu.Lock()
	e.seq += n
	e.mu.Unlock()
}

// Fail makes ReadEdges return err once the edges queued have been read, as
// a line whose chip went away does.
func (e *Edges) Fail(err error) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
	e.signal()
}

func (e *Edges) signal() {
	select {
	case e.ready <- struct{}{}:
	default:
	}
}

// ReadEdges waits until edges are queued, then moves up to len(buf) of
// them to buf.
func (e *Edges) ReadEdges(buf []sensors.Edge) (int, error) {
	for {
		e.mu.Lock()
		switch {
		case e.closed:
			e.mu.Unlock()
			return 0, fmt.Errorf("sensortest: edges %s: %w", e.name, os.ErrClosed)
		case len(e.queue) > 0:
			n := copy(buf, e.queue)
			e.queue = e.queue[n:]
			if len(e.queue) > 0 || e.err != nil {
				e.signal()
			}
			e.mu.Unlock()
			return n, nil
		case e.err != nil:
			err := e.err
			e.mu.Unlock()
			return 0, err
		}
		e.mu.Unlock()
		<-e.ready
	}
}

// Close ends a ReadEdges in progress and every later one.
func (e *Edges) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("sensortest: edges " + e.name + ": closed twice")
	}
	e.closed = true
	e.signal()
	return nil
}

var _ sensors.EdgeReader = (*Edges)(nil)
