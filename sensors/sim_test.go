package sensors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// simValues returns the values of n Sense calls of s, as
// [temperature, humidity, pressure] milli-units.
func simValues(t *testing.T, s *sensors.Sim, n int) [][3]int64 {
	t.Helper()
	var r reading.Reading
	out := make([][3]int64, n)
	for i := range out {
		r.Reset("pi", s.Name(), time.Time{})
		if err := s.Sense(&r); err != nil {
			t.Fatal(err)
		}
		if r.Len() != 3 {
			t.Fatalf("Sense %d added %d values, want 3", i, r.Len())
		}
		for j, want := range []reading.Value{
			{Name: "temperature", Unit: reading.Celsius},
			{Name: "humidity", Unit: reading.Percent},
			{Name: "pressure", Unit: reading.HPa},
		} {
			v := r.At(j)
			if v.Name != want.Name || v.Unit != want.Unit {
				t.Fatalf("value %d is %s in %q, want %s in %q", j, v.Name, v.Unit, want.Name, want.Unit)
			}
			out[i][j] = v.Milli
		}
	}
	return out
}

func TestSimDeterministic(t *testing.T) {
	a := simValues(t, sensors.NewSim(&sensors.SimOpts{Seed: 42}), 2000)
	b := simValues(t, sensors.NewSim(&sensors.SimOpts{Seed: 42, Name: "other"}), 2000)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, Sense %d: %v and %v", i, a[i], b[i])
		}
	}
	c := simValues(t, sensors.NewSim(&sensors.SimOpts{Seed: 43}), 2000)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same > len(a)/10 {
		t.Errorf("seeds 42 and 43 gave the same values on %d of %d Sense calls", same, len(a))
	}
	if d, one := simValues(t, sensors.NewSim(nil), 100), simValues(t, sensors.NewSim(&sensors.SimOpts{Seed: 1}), 100); d[99] != one[99] {
		t.Errorf("default seed is not 1: %v vs %v", d[99], one[99])
	}
}

// TestSimGolden pins values of seed 1, so that a change of the model or a
// platform difference is caught.
func TestSimGolden(t *testing.T) {
	vals := simValues(t, sensors.NewSim(nil), 10000)
	for _, tc := range []struct {
		from int
		want string
	}{
		{0, "[[22490 50000 1010120] [22430 49900 1010190] [22450 49700 1010220] [22500 49600 1010110] [22540 49500 1010220]]"},
		{9995, "[[19990 56000 1011390] [19980 55900 1011420] [20040 55600 1011430] [20060 55400 1011520] [20040 55200 1011570]]"},
	} {
		if got := fmt.Sprint(vals[tc.from : tc.from+5]); got != tc.want {
			t.Errorf("seed 1, Sense %d to %d gave\n%s\nwant\n%s", tc.from, tc.from+4, got, tc.want)
		}
	}
}

func TestSimRangeAndSmooth(t *testing.T) {
	const steps = 10000
	limits := [3]struct {
		name          string
		lo, hi, delta int64 // milli-units
		res           int64 // every value is a multiple of res
		minSpan       int64 // max-min over the run must reach this
	}{
		{"temperature", 15000, 30000, 150, 10, 6000},
		{"humidity", 30000, 70000, 500, 100, 15000},
		{"pressure", 990000, 1030000, 250, 10, 3000},
	}
	for seed := int64(1); seed <= 5; seed++ {
		vals := simValues(t, sensors.NewSim(&sensors.SimOpts{Seed: seed}), steps)
		for j, l := range limits {
			lo, hi := vals[0][j], vals[0][j]
			for i, v := range vals {
				x := v[j]
				lo, hi = min(lo, x), max(hi, x)
				if x < l.lo || x > l.hi {
					t.Fatalf("seed %d, Sense %d: %s %d out of [%d, %d]", seed, i, l.name, x, l.lo, l.hi)
				}
				if x%l.res != 0 {
					t.Fatalf("seed %d, Sense %d: %s %d is not a multiple of %d", seed, i, l.name, x, l.res)
				}
				if i > 0 {
					if d := x - vals[i-1][j]; d > l.delta || d < -l.delta {
						t.Fatalf("seed %d, Sense %d: %s jumped by %d milli-units, more than %d", seed, i, l.name, d, l.delta)
					}
				}
			}
			if hi-lo < l.minSpan {
				t.Errorf("seed %d: %s only spans [%d, %d] in %d steps", seed, l.name, lo, hi, steps)
			}
		}
	}
}

func TestSimName(t *testing.T) {
	if n := sensors.NewSim(nil).Name(); n != "sim" {
		t.Errorf("default Name = %q", n)
	}
	if n := sensors.NewSim(&sensors.SimOpts{Name: "greenhouse"}).Name(); n != "greenhouse" {
		t.Errorf("Name = %q", n)
	}
}

func TestSimFullReading(t *testing.T) {
	var r reading.Reading
	for i := range reading.MaxValues - 1 {
		if err := r.Add(fmt.Sprint("v", i), reading.None, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := sensors.NewSim(nil).Sense(&r); err == nil {
		t.Error("Sense into a Reading with room for one value succeeded")
	}
}
