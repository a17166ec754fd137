package sensors

import (
	"math/rand/v2"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// SimOpts configures a Sim. A nil *SimOpts gives the defaults.
type SimOpts struct {
	// Name is the Source's name. Default: "sim".
	Name string

	// Seed selects the sequence of values. Default (0): 1.
	Seed int64
}

// simDay is the number of Sense calls in one simulated day: at a 1 s
// interval a day passes in 24 minutes, so the daily swing is visible on a
// dashboard.
const simDay = 1440

// Sim is a simulated environmental sensor, for development without hardware
// and for tests and demos. Each Sense adds, in this order:
//
//   - "temperature" in reading.Celsius, 0.01 °C resolution, within 15.5–29.5 °C
//   - "humidity" in reading.Percent, 0.1 % resolution, within 32–68 %
//   - "pressure" in reading.HPa, 0.01 hPa resolution, within 993.5–1026.5 hPa
//
// Each value is a smooth daily-like curve (period: 1440 Sense calls) plus a
// slow, mean-reverting random walk with small steps, so consecutive values
// differ by at most 0.15 °C, 0.5 % and 0.25 hPa.
//
// Determinism: the values depend only on Seed and on how many times Sense
// has been called before, never on the time, the Reading or the platform.
// Two Sims with the same Seed add the same values on their k'th Sense, on
// every GOARCH (the arithmetic is integer-only and draws one Uint64 per
// Sense from a rand.PCG seeded with Seed). Different Seeds give different
// sequences.
//
// Sense must not be called concurrently; a Poller never does.
type Sim struct {
	name string
	rng  *rand.PCG
	step int64 // number of Sense calls so far

	temp, hum, pres walk
}

// NewSim returns a Sim. o may be nil.
func NewSim(o *SimOpts) *Sim {
	var opts SimOpts
	if o != nil {
		opts = *o
	}
	if opts.Name == "" {
		opts.Name = "sim"
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	return &Sim{
		name: opts.Name,
		rng:  rand.NewPCG(uint64(opts.Seed), 0x5e75_0ca5_7000_0001),
		temp: walk{limit: 3000, maxStep: 100, revert: 512},
		hum:  walk{limit: 8000, maxStep: 300, revert: 256},
		pres: walk{limit: 15000, maxStep: 200, revert: 1024},
	}
}

// Name returns the Sim's name.
func (s *Sim) Name() string { return s.name }

// Sense advances the simulation by one step and adds its three values to r.
func (s *Sim) Sense(r *reading.Reading) error {
	x := s.rng.Uint64()
	s.temp.next(x)
	s.hum.next(x >> 16)
	s.pres.next(x >> 32)
	day := s.step % simDay
	s.step++

	temp := 22500 + wave(day, simDay, 4000) + s.temp.v
	hum := 50000 - wave(day, simDay, 10000) + s.hum.v
	pres := 1010000 + wave(2*day%simDay, simDay, 1500) + s.pres.v // twice a day, like the atmospheric tide

	if err := r.Add("temperature", reading.Celsius, roundTo(temp, 10)); err != nil {
		return err
	}
	if err := r.Add("humidity", reading.Percent, roundTo(hum, 100)); err != nil {
		return err
	}
	return r.Add("pressure", reading.HPa, roundTo(pres, 10))
}

// walk is a bounded, mean-reverting random walk in milli-units.
type walk struct {
	v       int64
	limit   int64 // |v| <= limit
	maxStep int64 // |step| <= maxStep
	revert  int64 // each step pulls v back toward 0 by v/revert
}

// next moves w by a step drawn from the low 16 bits of x: the difference of
// two uniform bytes, a triangular distribution centred on 0.
func (w *walk) next(x uint64) {
	a, b := int64(x&0xff), int64(x>>8&0xff)
	w.v += (a - b) * w.maxStep / 255
	w.v -= w.v / w.revert
	w.v = min(max(w.v, -w.limit), w.limit)
}

// wave returns amp·sin(2π·phase/period) for phase in [0, period), using
// Bhaskara I's rational approximation (error under 0.2 % of amp) in integer
// arithmetic, so results are the same on every platform.
func wave(phase, period, amp int64) int64 {
	h := period / 2
	x := phase % h
	p := x * (h - x)
	v := amp * 16 * p / (5*h*h - 4*p)
	if phase >= h {
		return -v
	}
	return v
}

// roundTo rounds v to a multiple of res, half away from zero.
func roundTo(v, res int64) int64 {
	if v < 0 {
		return -roundTo(-v, res)
	}
	return (v + res/2) / res * res
}

var _ Source = (*Sim)(nil)
