package sensors

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// ErrUnchanged is returned by a Source's Sense when it read its device
// successfully but has nothing new to publish, as a Filtered Source does
// when every value is within its Delta. The Poller counts it as a success
// (a failing Source recovers) but emits no Reading.
var ErrUnchanged = errors.New("sensors: unchanged")

// Filter is the processing applied to one named value of a Source, in the
// spirit of ESPHome's sensor filters. The steps run in this order:
//
//  1. calibration: Calibrate if given, else Scale (default 1) then Offset;
//  2. smoothing: Median or Average over the last N samples (while fewer
//     than N have been seen, over those there are);
//  3. Round to a number of decimals;
//  4. publishing: when any value of the Source has a Delta, a Reading is
//     emitted only when one of those values moved by at least its Delta
//     since it was last emitted, or its Heartbeat has passed since then;
//     the other values ride along.
//
// The zero Filter changes nothing. The toml tags are the keys of a
// [sensor.filter.<value>] table in the configuration file.
type Filter struct {
	Offset    float64       `toml:"offset"`    // added after Scale
	Scale     *float64      `toml:"scale"`     // multiplies the raw value
	Calibrate [][]float64   `toml:"calibrate"` // two [raw, true] points: a linear map through both
	Median    int           `toml:"median"`    // median of the last N samples, N ≥ 1
	Average   int           `toml:"average"`   // moving average of the last N samples, N ≥ 1
	Delta     float64       `toml:"delta"`     // publish only on a change of at least this much
	Heartbeat time.Duration `toml:"heartbeat"` // with Delta: publish at least this often anyway
	Round     *int          `toml:"round"`     // decimals to keep, 0 to 3
}

// MaxGap returns the longest gap between two Readings that c's Source
// legitimately leaves while it is healthy, so that a sensor that is merely
// quiet is not taken for a stale one:
//
//   - c.Interval when no value has a Delta filter: every read publishes;
//   - the longest Heartbeat among the Delta filters plus c.Interval, when
//     every Delta has a Heartbeat: a heartbeat is checked only when the
//     Source is read, so it can fire up to one interval late. The longest,
//     not the shortest, because a value can be missing from a reading (the
//     host's Wi-Fi values while the interface is gone), and its heartbeat
//     then never fires;
//   - 0, meaning no bound, when some value has a Delta without Heartbeat:
//     that Source may stay silent for as long as its values hold still.
//
// A zero c.Interval (c not yet validated) stands for the driver's default
// interval. MaxGap leaves out read time and scheduling jitter; a caller
// that declares a sensor stale adds its own margin.
func (c *Config) MaxGap() time.Duration {
	interval := c.Interval
	if d := registry[c.Driver]; interval <= 0 && d != nil {
		interval = d.interval
	}
	var longest time.Duration
	for _, f := range c.Filter {
		if f.Delta <= 0 {
			continue
		}
		if f.Heartbeat <= 0 {
			return 0
		}
		longest = max(longest, f.Heartbeat)
	}
	if longest == 0 {
		return interval
	}
	return longest + interval
}

// maxWindow bounds Median and Average.
const maxWindow = 1000

// Validate reports the first thing wrong with f, naming the key.
func (f *Filter) Validate() error {
	switch {
	case f.Scale != nil && len(f.Calibrate) > 0:
		return errors.New(`"scale" and "calibrate" exclude each other`)
	case f.Offset != 0 && len(f.Calibrate) > 0:
		return errors.New(`"offset" and "calibrate" exclude each other`)
	case f.Median != 0 && f.Average != 0:
		return errors.New(`"median" and "average" exclude each other`)
	case f.Median < 0 || f.Median > maxWindow:
		return fmt.Errorf(`"median" = %d out of range (1 to %d)`, f.Median, maxWindow)
	case f.Average < 0 || f.Average > maxWindow:
		return fmt.Errorf(`"average" = %d out of range (1 to %d)`, f.Average, maxWindow)
	case f.Delta < 0 || math.IsNaN(f.Delta) || math.IsInf(f.Delta, 0):
		return fmt.Errorf(`"delta" = %v must be a number ≥ 0`, f.Delta)
	case f.Heartbeat < 0:
		return fmt.Errorf(`"heartbeat" = %v must not be negative`, f.Heartbeat)
	case f.Heartbeat > 0 && f.Delta == 0:
		return errors.New(`"heartbeat" needs "delta"`)
	case f.Round != nil && (*f.Round < 0 || *f.Round > 3):
		return fmt.Errorf(`"round" = %d out of range (0 to 3 decimals)`, *f.Round)
	case math.IsNaN(f.Offset) || math.IsInf(f.Offset, 0):
		return fmt.Errorf(`"offset" = %v is not a finite number`, f.Offset)
	case f.Scale != nil && (math.IsNaN(*f.Scale) || math.IsInf(*f.Scale, 0)):
		return fmt.Errorf(`"scale" = %v is not a finite number`, *f.Scale)
	}
	if len(f.Calibrate) > 0 {
		if len(f.Calibrate) != 2 || len(f.Calibrate[0]) != 2 || len(f.Calibrate[1]) != 2 {
			return errors.New(`"calibrate" must be two [raw, true] points, e.g. [[0.0, 0.0], [100.0, 98.5]]`)
		}
		if f.Calibrate[0][0] == f.Calibrate[1][0] {
			return fmt.Errorf(`"calibrate": the two raw values are both %v`, f.Calibrate[0][0])
		}
		for _, p := range f.Calibrate {
			for _, v := range p {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf(`"calibrate": %v is not a finite number`, v)
				}
			}
		}
	}
	return nil
}

// filterState is one value's Filter and what it remembers between samples.
type filterState struct {
	name     string
	f        Filter
	gain     float64 // calibration: true = gain*raw + offset
	offset   float64
	window   []int64 // last samples, ring of len(window) ≤ N
	next     int     // ring position of the next sample once full
	n        int     // N of Median or Average, 0 for none
	sorted   []int64 // scratch for the median
	last     int64   // value last published
	lastTime time.Time
	have     bool // last and lastTime are set
}

// Filtered is a Source that runs each value of another Source through its
// Filter. Values without a Filter pass unchanged. Sense must not be called
// concurrently; a Poller never does.
type Filtered struct {
	src    Source
	states []*filterState
}

// NewFiltered wraps src with filters, keyed by value name. It fails if a
// Filter is invalid.
func NewFiltered(src Source, filters map[string]Filter) (*Filtered, error) {
	fs := &Filtered{src: src}
	names := make([]string, 0, len(filters))
	for name := range filters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := filters[name]
		if err := f.Validate(); err != nil {
			return nil, fmt.Errorf("sensors: filter %q of %q: %w", name, src.Name(), err)
		}
		st := &filterState{name: name, f: f, gain: 1, offset: f.Offset}
		if f.Scale != nil {
			st.gain = *f.Scale
		}
		if c := f.Calibrate; len(c) == 2 {
			st.gain = (c[1][1] - c[0][1]) / (c[1][0] - c[0][0])
			st.offset = c[0][1] - st.gain*c[0][0]
		}
		st.n = max(f.Median, f.Average)
		if st.n > 0 {
			st.window = make([]int64, 0, st.n)
			st.sorted = make([]int64, 0, st.n)
		}
		fs.states = append(fs.states, st)
	}
	return fs, nil
}

// Name returns the wrapped Source's name.
func (fs *Filtered) Name() string { return fs.src.Name() }

// Sense reads the wrapped Source and filters its values. It returns
// ErrUnchanged when Delta holds every filtered value back.
func (fs *Filtered) Sense(r *reading.Reading) error {
	if err := fs.src.Sense(r); err != nil {
		return err
	}
	gated, publish := false, false
	// Values aliases r, so assigning to vals[i].Milli changes r.
	vals := r.Values()
	for i := range vals {
		st := fs.state(vals[i].Name)
		if st == nil {
			continue
		}
		vals[i].Milli = st.apply(vals[i].Milli)
		if st.f.Delta == 0 {
			continue
		}
		gated = true
		if st.due(vals[i].Milli, r.Time) {
			publish = true
		}
	}
	if gated && !publish {
		return ErrUnchanged
	}
	if gated {
		for _, v := range vals {
			if st := fs.state(v.Name); st != nil {
				st.last, st.lastTime, st.have = v.Milli, r.Time, true
			}
		}
	}
	return nil
}

// Wake returns the wrapped Source's Wake channel if it is a Waker, else nil.
func (fs *Filtered) Wake() <-chan struct{} {
	if w, ok := fs.src.(Waker); ok {
		return w.Wake()
	}
	return nil
}

// Halt halts the wrapped Source if it is a Halter.
func (fs *Filtered) Halt() error {
	if h, ok := fs.src.(Halter); ok {
		return h.Halt()
	}
	return nil
}

func (fs *Filtered) state(name string) *filterState {
	for _, st := range fs.states {
		if st.name == name {
			return st
		}
	}
	return nil
}

// apply runs calibration, smoothing and rounding on one sample.
func (st *filterState) apply(milli int64) int64 {
	if st.gain != 1 || st.offset != 0 {
		milli = reading.Milli(st.gain*float64(milli)/1000 + st.offset)
	}
	if st.n > 0 {
		if len(st.window) < st.n {
			st.window = append(st.window, milli)
		} else {
			st.window[st.next] = milli
			st.next = (st.next + 1) % st.n
		}
		if st.f.Median > 0 {
			st.sorted = append(st.sorted[:0], st.window...)
			slices.Sort(st.sorted)
			k := len(st.sorted)
			if k%2 == 1 {
				milli = st.sorted[k/2]
			} else {
				milli = roundDiv(st.sorted[k/2-1]+st.sorted[k/2], 2)
			}
		} else {
			var sum int64
			for _, v := range st.window {
				sum += v
			}
			milli = roundDiv(sum, int64(len(st.window)))
		}
	}
	if st.f.Round != nil {
		step := int64(math.Pow10(3 - *st.f.Round))
		milli = roundDiv(milli, step) * step
	}
	return milli
}

// due reports whether v, taken at t, is to be published under Delta and
// Heartbeat.
func (st *filterState) due(v int64, t time.Time) bool {
	if !st.have {
		return true
	}
	if st.f.Heartbeat > 0 && t.Sub(st.lastTime) >= st.f.Heartbeat {
		return true
	}
	d := v - st.last
	if d < 0 {
		d = -d
	}
	return d >= reading.Milli(st.f.Delta)
}

// roundDiv returns a/b rounded half away from zero; b > 0.
func roundDiv(a, b int64) int64 {
	if a < 0 {
		return -((-a + b/2) / b)
	}
	return (a + b/2) / b
}
