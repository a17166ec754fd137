// Package sensortest provides fakes for tests of sensors: Script, a
// Source that plays back a list of steps (values, errors, panics, delays),
// and Edges, a GPIO line's edge events with the kernel's times and
// sequence numbers as the test gives them.
package sensortest

import (
	"errors"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// ErrEnd is returned by Sense once a Script that does not Loop has played
// all of its Steps.
var ErrEnd = errors.New("sensortest: script ended")

// Step is what one Sense call of a Script does: sleep for Delay, then panic
// with Panic if it is not nil, else return Err if it is not nil, else add
// Values in order and return nil.
type Step struct {
	Delay  time.Duration // time.Sleep first; fake time under testing/synctest
	Panic  any
	Err    error
	Values []reading.Value
}

// OK returns a Step that adds vals.
func OK(vals ...reading.Value) Step { return Step{Values: vals} }

// Fail returns a Step that returns err.
func Fail(err error) Step { return Step{Err: err} }

// Panic returns a Step that panics with v.
func Panic(v any) Step { return Step{Panic: v} }

// Script is a scripted sensors.Source: its n'th Sense call (from 0) plays
// Steps[n], or Steps[n%len(Steps)] if Loop is set. Set the exported fields
// before the first Sense and do not change them afterwards. A Script is safe
// for concurrent use, and its Sense does not allocate for a Step that adds
// values.
type Script struct {
	Sensor  string // returned by Name
	Steps   []Step
	Loop    bool  // start over after the last Step instead of returning ErrEnd
	HaltErr error // returned by Halt

	mu    sync.Mutex
	calls int
	halts int
}

// Name returns s.Sensor.
func (s *Script) Name() string { return s.Sensor }

// Sense plays the next Step.
func (s *Script) Sense(r *reading.Reading) error {
	s.mu.Lock()
	n := s.calls
	s.calls++
	s.mu.Unlock()
	if len(s.Steps) == 0 || (n >= len(s.Steps) && !s.Loop) {
		return ErrEnd
	}
	step := &s.Steps[n%len(s.Steps)]
	if step.Delay > 0 {
		time.Sleep(step.Delay)
	}
	if step.Panic != nil {
		panic(step.Panic)
	}
	if step.Err != nil {
		return step.Err
	}
	for _, v := range step.Values {
		if err := r.Add(v.Name, v.Unit, v.Milli); err != nil {
			return err
		}
	}
	return nil
}

// Calls returns how many times Sense has been called.
func (s *Script) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Halt records the call and returns s.HaltErr.
func (s *Script) Halt() error {
	s.mu.Lock()
	s.halts++
	s.mu.Unlock()
	return s.HaltErr
}

// Halts returns how many times Halt has been called.
func (s *Script) Halts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.halts
}

var _ sensors.Halter = (*Script)(nil)
var _ sensors.Source = (*Script)(nil)
