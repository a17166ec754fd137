package compare

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/sensorcast/sensorcast/bench/loadgen"
)

// Ceiling bounds the ceiling scenario: for each server, N clients on /push
// and the broadcast rate stepped up until the server no longer holds it.
type Ceiling struct {
	Clients int     // clients on /push; 0 skips the scenario
	From    float64 // the first rate, Hz
	To      float64 // no step above this rate
	Factor  float64 // each ladder step is the previous rate times Factor
	// Bisect is how many steps narrow the range between the highest rate
	// held and the lowest one not held once the ladder has found both.
	Bisect int
	Warmup time.Duration // load before each step's window
	Window time.Duration // measured time of each step
	// LagBound is the highest p99 lag a held rate may have: the receive
	// time of a broadcast's last copy minus the time its tick was due.
	LagBound time.Duration
	// Retries is how many times a step whose window other processes
	// disturbed (Disturbed) is repeated; the last try counts.
	Retries int
}

// Disturbed is the share of the machine's CPU other processes may use in a
// step's window before the step is repeated (at most Retries times): on a
// shared machine, a burst of someone else's work would otherwise decide
// the ceiling.
const Disturbed = 0.10

// CeilingDelivered is the share of the offered frames (ticks due in the
// window × clients) a step must deliver for its rate to count as held.
const CeilingDelivered = 0.999

// verdict is what one step of the sweep showed.
type verdict struct {
	rate float64
	held bool
	why  string // why the rate was not held
	w    pushWindow
}

// judge decides whether a window holds its rate: at least
// CeilingDelivered of the offered frames received, a p99 lag of the
// window's broadcasts at most bound (a broadcast that missed a client
// counts as unbounded), every client holding a reading due at most bound
// plus one period before each freshness sample, and no client cut off.
// Ticks not sent by the end of the window count as offered and not
// delivered.
func judge(w *pushWindow, bound time.Duration) (bool, string) {
	sp := w.spread
	switch {
	case w.stopErr != nil:
		return false, fmt.Sprintf("client lost: %v", w.stopErr)
	case w.offered() == 0:
		return false, "no tick fell due in the window"
	case sp.Delivered < CeilingDelivered:
		return false, fmt.Sprintf("delivered %.2f%% of the offered frames (sent %.1f%% of the ticks)", 100*sp.Delivered, 100*w.sent())
	case sp.LagP99 > bound:
		if sp.LagP99 == loadgen.Unbounded {
			return false, "lag p99 unbounded (over 1% of the broadcasts missed a client)"
		}
		return false, fmt.Sprintf("lag p99 %v over %v", sp.LagP99.Round(10*time.Microsecond), bound)
	}
	if w.samples == 0 || w.freshMin < 1 {
		return false, fmt.Sprintf("at the worst of %d samples %.1f%% of the clients had a reading due within %v",
			w.samples, 100*w.freshMin, bound+time.Duration(w.t1.PeriodNS))
	}
	return true, ""
}

// sweep steps the rate up from c.From by c.Factor until try says a rate is
// not held or the next rate would exceed c.To, then bisects (geometric
// mean, whole Hz) c.Bisect times between the highest rate held and the
// lowest not held. It returns every step in the order tried; an error of
// try ends the sweep.
func (c *Ceiling) sweep(try func(rate float64) (verdict, error)) ([]verdict, error) {
	var steps []verdict
	held, failed := 0.0, 0.0
	for rate := c.From; rate <= c.To; rate = math.Round(rate * c.Factor) {
		v, err := try(rate)
		if err != nil {
			return steps, err
		}
		steps = append(steps, v)
		if !v.held {
			failed = rate
			break
		}
		held = rate
	}
	for range c.Bisect {
		if failed == 0 || held == 0 {
			break
		}
		rate := math.Round(math.Sqrt(held * failed))
		if rate <= held || rate >= failed {
			break
		}
		v, err := try(rate)
		if err != nil {
			return steps, err
		}
		steps = append(steps, v)
		if v.held {
			held = rate
		} else {
			failed = rate
		}
	}
	return steps, nil
}

// ErrCeilingConfig reports a Ceiling that cannot run.
var ErrCeilingConfig = errors.New("bad ceiling configuration")

// Check reports a configuration that cannot run (ErrCeilingConfig); one
// with Clients 0 is not checked further.
func (c *Ceiling) Check() error {
	switch {
	case c.Clients < 0 || c.Clients > 10000:
		return fmt.Errorf("%w: %d clients", ErrCeilingConfig, c.Clients)
	case c.Clients == 0:
		return nil
	case c.From <= 0 || c.To < c.From || c.To > 10000:
		return fmt.Errorf("%w: rates %g to %g Hz", ErrCeilingConfig, c.From, c.To)
	case !(c.Factor >= 1.05 && c.Factor <= 10): // also rejects NaN
		return fmt.Errorf("%w: factor %g (1.05 to 10)", ErrCeilingConfig, c.Factor)
	case c.Bisect < 0 || c.Bisect > 10:
		return fmt.Errorf("%w: %d bisection steps", ErrCeilingConfig, c.Bisect)
	case c.Retries < 0 || c.Retries > 10:
		return fmt.Errorf("%w: %d retries", ErrCeilingConfig, c.Retries)
	case c.Window <= 0 || c.Window > time.Minute || c.Warmup < 0 || c.Warmup > time.Minute:
		return fmt.Errorf("%w: window %v, warm-up %v", ErrCeilingConfig, c.Window, c.Warmup)
	case c.LagBound <= 0 || c.LagBound > 10*time.Second:
		return fmt.Errorf("%w: lag bound %v", ErrCeilingConfig, c.LagBound)
	case c.To*(c.Warmup+c.Window+c.LagBound).Seconds() > 200_000:
		// The load generator tells 262,144 sequence numbers apart.
		return fmt.Errorf("%w: %g Hz for %v is over 200,000 broadcasts a step", ErrCeilingConfig, c.To, c.Warmup+c.Window)
	}
	return nil
}

// ceilingStep runs one step: a fresh server at rate, the clients, a
// window.
func ceilingStep(cfg Config, name, bin string, rate float64) (verdict, error) {
	c := cfg.Ceiling
	v := verdict{rate: rate}
	p, err := StartServer(name, bin, rate, "")
	if err != nil {
		return v, err
	}
	defer p.Stop()
	conns, err := loadgen.DialN(p.Addr, "/push", c.Clients)
	if err != nil {
		return v, err
	}
	// Frames later than the bound count as lost: waiting longer than it
	// for the window's last ticks would change nothing.
	v.w, err = measurePush(p, loadgen.StartPush(conns, c.LagBound), c.Warmup, c.Window, c.LagBound+100*time.Millisecond, c.LagBound)
	if err != nil {
		return v, err
	}
	if errors.Is(v.w.stopErr, loadgen.ErrFrame) { // a broken frame is a bug, not a load limit
		return v, v.w.stopErr
	}
	v.held, v.why = judge(&v.w, c.LagBound)
	return v, nil
}

// ceiling sweeps one server's rate and adds the rows of the highest rate
// held and of the highest step tried.
func ceiling(cfg Config, res *Result, name, bin string) error {
	c := cfg.Ceiling
	steps, err := c.sweep(func(rate float64) (verdict, error) {
		var v verdict
		var err error
		for try := 0; ; try++ {
			v, err = ceilingStep(cfg, name, bin, rate)
			if err != nil || try == c.Retries || !v.w.othersOK || v.w.busy(v.w.others) <= Disturbed {
				break
			}
			cfg.logf("%-10s   %5g Hz: other processes used %.0f%% of the machine: step repeated", name, rate, 100*v.w.busy(v.w.others))
		}
		if err == nil {
			sp := v.w.spread
			line := fmt.Sprintf("%-10s   %5g Hz: sent %5.1f%% of %d ticks, delivered %6.2f%%, lag p50 %s p99 %s, latest reading at %.1f%% of clients (worst), %.0f frames/s, CPU server %.0f%% loadgen %.0f%% others %.0f%% of %d cores",
				name, rate, 100*v.w.sent(), v.w.offered(), 100*sp.Delivered, lagString(sp.LagP50), lagString(sp.LagP99), 100*v.w.freshMin,
				float64(v.w.frames)/v.w.dur.Seconds(), 100*v.w.busy(v.w.cpu), 100*v.w.busy(v.w.self), 100*v.w.busy(v.w.others), runtime.NumCPU())
			if v.held {
				line += ": held"
			} else {
				line += ": not held, " + v.why
			}
			cfg.logf("%s", line)
		}
		return v, err
	})
	if err != nil {
		return err
	}
	tag := fmt.Sprintf("ceiling %d clients", c.Clients)
	ttag := fmt.Sprintf("top step %d clients", c.Clients)
	for _, r := range []struct {
		name, unit string
		b          Better
	}{
		{tag, "Hz", Higher}, {tag + ": frames/s", "", Higher}, {tag + ": CPU / frame", "µs", Lower},
		{tag + ": loadgen CPU / frame", "µs", Lower}, {tag + ": lag p99", "ms", Lower},
		{tag + ": steps disturbed", "", Lower},
		{ttag, "Hz", Higher}, {ttag + ": frames/s", "", Higher}, {ttag + ": CPU / frame", "µs", Lower},
		{ttag + ": loadgen CPU / frame", "µs", Lower}, {ttag + ": sent of offered", "%", Higher},
		{ttag + ": delivered of offered", "%", Higher}, {ttag + ": lag p99 of complete", "ms", Lower},
		{ttag + ": latest reading, worst", "% clients", Higher}, {ttag + ": server+loadgen CPU", "% machine", Lower},
		{ttag + ": other processes' CPU", "% machine", Lower},
	} {
		res.declare(r.name, r.unit, r.b)
	}
	var best, top *verdict
	disturbed := 0
	for i := range steps {
		v := &steps[i]
		if v.w.othersOK && v.w.busy(v.w.others) > Disturbed {
			disturbed++
		}
		if v.held && (best == nil || v.rate > best.rate) {
			best = v
		}
		if top == nil || v.rate > top.rate {
			top = v
		}
	}
	if top == nil {
		return ErrNoTraffic
	}
	if best == nil {
		res.add(tag, "Hz", Higher, name, 0) // not even c.From held
	} else {
		w := &best.w
		res.add(tag, "Hz", Higher, name, best.rate)
		addStepRates(res, tag, name, w)
		res.add(tag+": lag p99", "ms", Lower, name, float64(w.spread.LagP99)/float64(time.Millisecond))
	}
	// Steps whose last try other processes still disturbed: a ceiling
	// with any is not a clean figure.
	res.add(tag+": steps disturbed", "", Lower, name, float64(disturbed))
	w := &top.w
	res.add(ttag, "Hz", Higher, name, top.rate)
	addStepRates(res, ttag, name, w)
	res.add(ttag+": sent of offered", "%", Higher, name, 100*w.sent())
	res.add(ttag+": delivered of offered", "%", Higher, name, 100*w.spread.Delivered)
	if w.spread.Complete > 0 {
		res.add(ttag+": lag p99 of complete", "ms", Lower, name, float64(w.spread.CompleteLagP99)/float64(time.Millisecond))
	}
	res.add(ttag+": latest reading, worst", "% clients", Higher, name, 100*w.freshMin)
	if w.selfOK {
		// Near 100 %: the machine, not the server's design, set the limit.
		res.add(ttag+": server+loadgen CPU", "% machine", Lower, name, 100*w.busy(w.cpu+w.self))
	}
	if w.othersOK {
		// Above Disturbed after every retry: the machine was shared.
		res.add(ttag+": other processes' CPU", "% machine", Lower, name, 100*w.busy(w.others))
	}
	return nil
}

// busy is cpu as a share of all the machine's cores over the window.
func (w *pushWindow) busy(cpu time.Duration) float64 {
	if w.dur <= 0 {
		return 0
	}
	return float64(cpu) / float64(w.dur) / float64(runtime.NumCPU())
}

// lagString formats a lag for the log, "unbounded" for loadgen.Unbounded.
func lagString(d time.Duration) string {
	if d == loadgen.Unbounded {
		return "unbounded"
	}
	return d.Round(10 * time.Microsecond).String()
}

// addStepRates adds a ceiling step's frames/s and the server's and the load
// generator's CPU per frame under tag.
func addStepRates(res *Result, tag, name string, w *pushWindow) {
	res.add(tag+": frames/s", "", Higher, name, float64(w.frames)/w.dur.Seconds())
	if w.frames == 0 {
		return
	}
	res.add(tag+": CPU / frame", "µs", Lower, name, float64(w.cpu)/float64(time.Microsecond)/float64(w.frames))
	if w.selfOK {
		res.add(tag+": loadgen CPU / frame", "µs", Lower, name, float64(w.self)/float64(time.Microsecond)/float64(w.frames))
	}
}
