package compare

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bench/loadgen"
	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

func TestSweep(t *testing.T) {
	c := Ceiling{From: 100, To: 3000, Factor: 1.5, Bisect: 2}
	holdsUpTo := func(limit float64) func(float64) (verdict, error) {
		return func(rate float64) (verdict, error) { return verdict{rate: rate, held: rate <= limit}, nil }
	}
	rates := func(steps []verdict) []float64 {
		var r []float64
		for _, v := range steps {
			r = append(r, v.rate)
		}
		return r
	}
	for _, tc := range []struct {
		c     Ceiling
		limit float64
		want  []float64
	}{
		// Ladder to the first miss, then twice the geometric mean.
		{c, 270, []float64{100, 150, 225, 338, 276, 249}},
		// Not even the first rate: no bisection below it.
		{c, 50, []float64{100}},
		// Every rate up to To held: nothing to bisect.
		{Ceiling{From: 100, To: 300, Factor: 1.5, Bisect: 2}, 1e9, []float64{100, 150, 225}},
		// The bisection stops when whole hertz leave no rate between.
		{Ceiling{From: 100, To: 3000, Factor: 1.05, Bisect: 5}, 102, []float64{100, 105, 102, 103}},
	} {
		steps, err := tc.c.sweep(holdsUpTo(tc.limit))
		if err != nil || !slices.Equal(rates(steps), tc.want) {
			t.Errorf("%+v up to %g Hz: steps %v, %v; want %v", tc.c, tc.limit, rates(steps), err, tc.want)
		}
	}
	boom := errors.New("boom")
	steps, err := c.sweep(func(rate float64) (verdict, error) {
		if rate > 200 {
			return verdict{}, boom
		}
		return verdict{rate: rate, held: true}, nil
	})
	if !errors.Is(err, boom) || len(steps) != 2 {
		t.Errorf("an error of the third step: %d steps, %v", len(steps), err)
	}
}

// window returns a window of 100 ticks at 100 Hz, every frame delivered
// to 10 clients, lag p99 20 ms, every client fresh at all 11 samples.
func window() pushWindow {
	t0 := peer.Ticks{StartNS: 10e9, PeriodNS: 10e6, Due: 100, Sent: 100}
	t1 := t0
	t1.Due, t1.Sent = 200, 200
	return pushWindow{t0: t0, t1: t1, frames: 1000, dur: time.Second, freshMin: 1, samples: 11, spread: loadgen.Spread{
		Broadcasts: 100, Sent: 100, Complete: 100, Delivered: 1, OnTime: 1,
		LagP50: 5 * time.Millisecond, LagP99: 20 * time.Millisecond, CompleteLagP99: 20 * time.Millisecond,
	}}
}

func TestJudge(t *testing.T) {
	const bound = 100 * time.Millisecond
	if w := window(); !must(judge(&w, bound)) {
		t.Fatalf("a clean window is not held: %v", why(judge(&w, bound)))
	}
	for name, tc := range map[string]struct {
		change func(*pushWindow)
		want   string
	}{
		"client lost":   {func(w *pushWindow) { w.stopErr = errors.New("reset") }, "client lost"},
		"no ticks":      {func(w *pushWindow) { w.t1 = w.t0 }, "no tick"},
		"lost frames":   {func(w *pushWindow) { w.spread.Delivered = 0.998 }, "delivered 99.80%"},
		"lagging":       {func(w *pushWindow) { w.spread.LagP99 = 101 * time.Millisecond }, "lag p99 101ms"},
		"missed client": {func(w *pushWindow) { w.spread.LagP99 = loadgen.Unbounded }, "unbounded"},
		"stale client":  {func(w *pushWindow) { w.freshMin = 0.9 }, "worst of 11 samples 90.0% of the clients had a reading due within 110ms"},
		"no sample":     {func(w *pushWindow) { w.samples, w.freshMin = 0, 0 }, "worst of 0 samples"},
	} {
		w := window()
		tc.change(&w)
		held, reason := judge(&w, bound)
		if held || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: held %v, %q; want not held, %q", name, held, reason, tc.want)
		}
	}
}

func must(held bool, _ string) bool    { return held }
func why(_ bool, reason string) string { return reason }

func TestCeilingCheck(t *testing.T) {
	good := Ceiling{Clients: 10, From: 50, To: 75, Factor: 1.5, Warmup: 0, Window: time.Second, LagBound: time.Second}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	if err := (&Ceiling{}).Check(); err != nil {
		t.Fatalf("a skipped sweep: %v", err)
	}
	for _, change := range []func(*Ceiling){
		func(c *Ceiling) { c.Clients = -1 }, func(c *Ceiling) { c.Clients = 10001 },
		func(c *Ceiling) { c.From = 0 }, func(c *Ceiling) { c.To = 40 }, func(c *Ceiling) { c.To = 20000 },
		func(c *Ceiling) { c.Factor = 1 }, func(c *Ceiling) { c.Factor = 11 }, func(c *Ceiling) { c.Bisect = -1 }, func(c *Ceiling) { c.Retries = 11 },
		func(c *Ceiling) { c.Window = 0 }, func(c *Ceiling) { c.Warmup = -1 }, func(c *Ceiling) { c.LagBound = 0 },
		func(c *Ceiling) { c.To, c.Window = 10000, time.Minute },
	} {
		c := good
		change(&c)
		if err := c.Check(); !errors.Is(err, ErrCeilingConfig) {
			t.Errorf("%+v: %v, want ErrCeilingConfig", c, err)
		}
	}
	// Run refuses it before measuring anything.
	if _, err := Run(Config{Ceiling: Ceiling{Clients: 1}}); !errors.Is(err, ErrCeilingConfig) {
		t.Errorf("Run with a bad sweep: %v", err)
	}
}
