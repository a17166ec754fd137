package sensors_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sensortest"
)

func ptr[T any](v T) *T { return &v }

// runFilter feeds the raw milli values of "t" (and a constant "u") one per
// second through f and returns what each Sense published: the filtered
// value of "t", or -1 for ErrUnchanged.
func runFilter(t *testing.T, f sensors.Filter, raw []int64) []int64 {
	t.Helper()
	var steps []sensortest.Step
	for _, v := range raw {
		steps = append(steps, sensortest.OK(val("t", v), val("u", 7)))
	}
	src := &sensortest.Script{Sensor: "s", Steps: steps}
	fs, err := sensors.NewFiltered(src, map[string]sensors.Filter{"t": f})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []int64
	var r reading.Reading
	for i := range raw {
		r.Reset("pi", "s", start.Add(time.Duration(i)*time.Second))
		err := fs.Sense(&r)
		switch {
		case errors.Is(err, sensors.ErrUnchanged):
			out = append(out, -1)
		case err != nil:
			t.Fatal(err)
		default:
			v, _ := r.Lookup("t")
			if u, _ := r.Lookup("u"); u.Milli != 7 {
				t.Fatalf("unfiltered value changed to %d", u.Milli)
			}
			out = append(out, v.Milli)
		}
	}
	return out
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    sensors.Filter
		raw  []int64
		want []int64
	}{
		{"none", sensors.Filter{}, []int64{1, 21375, -5}, []int64{1, 21375, -5}},
		{"offset", sensors.Filter{Offset: -0.5}, []int64{21375, 0}, []int64{20875, -500}},
		{"scale", sensors.Filter{Scale: ptr(2.5)}, []int64{1000, -400}, []int64{2500, -1000}},
		{"scale and offset", sensors.Filter{Scale: ptr(0.1), Offset: 1}, []int64{5000}, []int64{1500}},
		// Two-point: raw 0.2 reads true 0, raw 99.5 reads true 100.
		{"calibrate", sensors.Filter{Calibrate: [][]float64{{0.2, 0}, {99.5, 100}}}, []int64{200, 99500, 49850}, []int64{0, 100000, 50000}},
		{"median 3", sensors.Filter{Median: 3}, []int64{10, 1000, 20, 30, 5}, []int64{10, 505, 20, 30, 20}},
		{"average 2", sensors.Filter{Average: 2}, []int64{10, 20, 31, -31}, []int64{10, 15, 26, 0}},
		{"average rounds half away", sensors.Filter{Average: 2}, []int64{-1, -2}, []int64{-1, -2}},
		{"round 1", sensors.Filter{Round: ptr(1)}, []int64{21375, 21349, -21350}, []int64{21400, 21300, -21400}},
		{"round 0", sensors.Filter{Round: ptr(0)}, []int64{1499, 1500}, []int64{1000, 2000}},
		{"round 3", sensors.Filter{Round: ptr(3)}, []int64{1499}, []int64{1499}},
		{"delta", sensors.Filter{Delta: 0.5}, []int64{20000, 20400, 20499, 20500, 20100, 19999}, []int64{20000, -1, -1, 20500, -1, 19999}},
		// Heartbeat 3s: published at 0s, then 3s later though unchanged.
		{"heartbeat", sensors.Filter{Delta: 1, Heartbeat: 3 * time.Second}, []int64{5, 5, 5, 5, 5, 5, 5}, []int64{5, -1, -1, 5, -1, -1, 5}},
		{"chain", sensors.Filter{Offset: 1, Average: 2, Round: ptr(0)}, []int64{1000, 2000}, []int64{2000, 3000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runFilter(t, tc.f, tc.raw); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		f    sensors.Filter
		want string
	}{
		{sensors.Filter{Scale: ptr(2.0), Calibrate: [][]float64{{0, 0}, {1, 1}}}, `"scale" and "calibrate" exclude each other`},
		{sensors.Filter{Offset: 1, Calibrate: [][]float64{{0, 0}, {1, 1}}}, `"offset" and "calibrate" exclude each other`},
		{sensors.Filter{Median: 3, Average: 3}, `"median" and "average" exclude each other`},
		{sensors.Filter{Median: -1}, `"median" = -1 out of range`},
		{sensors.Filter{Average: 1001}, `"average" = 1001 out of range`},
		{sensors.Filter{Delta: -1}, `"delta" = -1 must be a number ≥ 0`},
		{sensors.Filter{Heartbeat: time.Second}, `"heartbeat" needs "delta"`},
		{sensors.Filter{Delta: 1, Heartbeat: -time.Second}, `"heartbeat" = -1s must not be negative`},
		{sensors.Filter{Round: ptr(4)}, `"round" = 4 out of range`},
		{sensors.Filter{Calibrate: [][]float64{{0, 0}}}, `"calibrate" must be two [raw, true] points`},
		{sensors.Filter{Calibrate: [][]float64{{0, 0}, {1}}}, `"calibrate" must be two [raw, true] points`},
		{sensors.Filter{Calibrate: [][]float64{{1, 0}, {1, 5}}}, `the two raw values are both 1`},
	} {
		err := tc.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.f, err, tc.want)
		}
		if _, err := sensors.NewFiltered(&sensortest.Script{Sensor: "s"}, map[string]sensors.Filter{"t": tc.f}); err == nil || !strings.Contains(err.Error(), `filter "t" of "s"`) {
			t.Errorf("NewFiltered error = %v", err)
		}
	}
}

func TestFilteredPassesErrorsAndHalts(t *testing.T) {
	errBus := errors.New("bus down")
	src := &sensortest.Script{Sensor: "s", Steps: []sensortest.Step{sensortest.Fail(errBus)}, HaltErr: errBus}
	fs, err := sensors.NewFiltered(src, map[string]sensors.Filter{"t": {Delta: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Name() != "s" {
		t.Errorf("Name = %q", fs.Name())
	}
	var r reading.Reading
	if err := fs.Sense(&r); !errors.Is(err, errBus) {
		t.Errorf("Sense = %v, want %v", err, errBus)
	}
	if err := fs.Halt(); !errors.Is(err, errBus) {
		t.Errorf("Halt = %v, want %v", err, errBus)
	}
}

// TestPollerUnchanged: ErrUnchanged is a success without a Reading.
func TestPollerUnchanged(t *testing.T) {
	rec := newRecorder()
	p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading, OnStatus: rec.onStatus})
	src := &sensortest.Script{Sensor: "s", Steps: []sensortest.Step{
		sensortest.Fail(errors.New("gone")),
		sensortest.Fail(sensors.ErrUnchanged),
	}}
	if err := p.Add(src, time.Second); err != nil {
		t.Fatal(err)
	}
	var r reading.Reading
	p.PollOnce("s", &r)
	p.PollOnce("s", &r)
	if len(rec.readings) != 0 {
		t.Errorf("readings %+v, want none", rec.readings)
	}
	if len(rec.statuses) != 2 || !rec.statuses[1].OK {
		t.Errorf("statuses %+v, want failing then recovered", rec.statuses)
	}
	if st := p.Stats()[0]; st.Failures != 1 || st.Consecutive != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// BenchmarkFiltered measures one filtered Sense: calibration, a median of
// 15 and rounding on one value, a moving average on another.
func BenchmarkFiltered(b *testing.B) {
	src := sensors.NewSim(&sensors.SimOpts{Seed: 1})
	fs, err := sensors.NewFiltered(src, map[string]sensors.Filter{
		"temperature": {Scale: ptr(1.01), Offset: -0.3, Median: 15, Round: ptr(1)},
		"pressure":    {Average: 10},
	})
	if err != nil {
		b.Fatal(err)
	}
	var r reading.Reading
	t0 := time.Unix(0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Reset("pi", "sim", t0.Add(time.Duration(i)*time.Second))
		if err := fs.Sense(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConfigMaxGap(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    sensors.Config
		want time.Duration
	}{
		{"no filter", sensors.Config{Driver: "sim", Interval: 2 * time.Second}, 2 * time.Second},
		{"default interval", sensors.Config{Driver: "ds18b20"}, 10 * time.Second},
		{"filters without delta", sensors.Config{Driver: "sim", Interval: time.Second, Filter: map[string]sensors.Filter{
			"temperature": {Median: 3}, "humidity": {Round: ptr(0)},
		}}, time.Second},
		{"delta with heartbeat", sensors.Config{Driver: "sim", Interval: time.Second, Filter: map[string]sensors.Filter{
			"temperature": {Delta: 0.1, Heartbeat: time.Minute},
		}}, time.Minute + time.Second},
		{"longest heartbeat", sensors.Config{Driver: "host", Interval: 2 * time.Second, Filter: map[string]sensors.Filter{
			"cpu_temp": {Delta: 0.5, Heartbeat: time.Minute}, "wifi_rssi": {Delta: 2, Heartbeat: 5 * time.Minute}, "load1": {Average: 3},
		}}, 5*time.Minute + 2*time.Second},
		{"delta without heartbeat", sensors.Config{Driver: "sim", Interval: time.Second, Filter: map[string]sensors.Filter{
			"temperature": {Delta: 0.1, Heartbeat: time.Minute}, "humidity": {Delta: 1},
		}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.MaxGap(); got != tc.want {
				t.Errorf("MaxGap = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMaxGapHolds reads a Filtered Source whose values never change once
// per interval and checks that the gaps between published readings come
// within one interval of MaxGap but never pass it, also when the value
// with the shorter heartbeat is missing from the readings.
func TestMaxGapHolds(t *testing.T) {
	c := sensors.Config{Driver: "sim", Interval: 3 * time.Second, Filter: map[string]sensors.Filter{
		"t": {Delta: 1, Heartbeat: 10 * time.Second},
		"u": {Delta: 1, Heartbeat: 7 * time.Second},
	}}
	// "u" never comes: its 7s heartbeat never fires, "t"'s 10s does.
	src := &sensortest.Script{Sensor: "s", Loop: true, Steps: []sensortest.Step{sensortest.OK(val("t", 5))}}
	fs, err := sensors.NewFiltered(src, c.Filter)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var r reading.Reading
	var last time.Time
	var longest time.Duration
	for i := range 100 {
		now := start.Add(time.Duration(i) * c.Interval)
		r.Reset("pi", "s", now)
		switch err := fs.Sense(&r); {
		case errors.Is(err, sensors.ErrUnchanged):
		case err != nil:
			t.Fatal(err)
		default:
			if !last.IsZero() {
				longest = max(longest, now.Sub(last))
			}
			last = now
		}
	}
	if gap := c.MaxGap(); longest > gap || longest <= gap-c.Interval {
		t.Errorf("longest gap %v, MaxGap %v: want within one interval below it", longest, gap)
	}
}
