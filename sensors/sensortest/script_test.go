package sensortest_test

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sensortest"
)

func TestScript(t *testing.T) {
	errX := errors.New("x")
	v := reading.Value{Name: "t", Unit: reading.Celsius, Milli: 1500}
	steps := []sensortest.Step{sensortest.OK(v, v), sensortest.Fail(errX), sensortest.Panic("boom")}
	for _, loop := range []bool{false, true} {
		s := &sensortest.Script{Sensor: "s", Steps: steps, Loop: loop}
		if s.Name() != "s" {
			t.Errorf("Name = %q", s.Name())
		}
		for i := range 7 {
			var r reading.Reading
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				err = s.Sense(&r)
				return false
			}()
			switch k := i % 3; {
			case i >= 3 && !loop:
				if !errors.Is(err, sensortest.ErrEnd) || panicked {
					t.Errorf("loop=%v, call %d: %v, panicked %v; want ErrEnd", loop, i, err, panicked)
				}
			case k == 0:
				if err != nil || r.Len() != 2 || r.At(1) != v {
					t.Errorf("loop=%v, call %d: %v, %v", loop, i, err, r.Values())
				}
			case k == 1:
				if err != errX || r.Len() != 0 {
					t.Errorf("loop=%v, call %d: %v, %v", loop, i, err, r.Values())
				}
			case k == 2:
				if !panicked {
					t.Errorf("loop=%v, call %d did not panic", loop, i)
				}
			}
		}
		if s.Calls() != 7 {
			t.Errorf("Calls = %d, want 7", s.Calls())
		}
	}
}

func TestScriptEmptyAndHalt(t *testing.T) {
	errHalt := errors.New("halt")
	s := &sensortest.Script{Loop: true, HaltErr: errHalt}
	if err := s.Sense(new(reading.Reading)); !errors.Is(err, sensortest.ErrEnd) {
		t.Errorf("Sense of an empty Script = %v", err)
	}
	if err := s.Halt(); err != errHalt || s.Halts() != 1 {
		t.Errorf("Halt = %v, Halts = %d", err, s.Halts())
	}
}

func TestScriptFullReading(t *testing.T) {
	var vals []reading.Value
	for range reading.MaxValues + 1 {
		vals = append(vals, reading.Value{Name: "v"})
	}
	s := &sensortest.Script{Steps: []sensortest.Step{sensortest.OK(vals...)}}
	if err := s.Sense(new(reading.Reading)); err == nil {
		t.Error("adding more than MaxValues succeeded")
	}
}

func TestScriptDelayConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sensortest.Script{Loop: true, Steps: []sensortest.Step{{Delay: time.Second}}}
		start := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := s.Sense(new(reading.Reading)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if d := time.Since(start); d != time.Second || s.Calls() != 4 {
			t.Errorf("4 concurrent Sense calls took %v, Calls = %d; want 1s and 4", d, s.Calls())
		}
	})
}

func TestScriptNoAllocs(t *testing.T) {
	s := &sensortest.Script{Loop: true, Steps: []sensortest.Step{
		sensortest.OK(reading.Value{Name: "a", Milli: 1}, reading.Value{Name: "b", Milli: 2}),
	}}
	var r reading.Reading
	if n := testing.AllocsPerRun(100, func() {
		r.Reset("pi", "s", time.Time{})
		s.Sense(&r)
	}); n != 0 {
		t.Errorf("Sense: %v allocs, want 0", n)
	}
}
