package compare

import (
	"strings"
	"testing"
)

func result(rows ...Row) *Result { return &Result{Rows: rows} }

// TestSummarize: medians per server, ratios against each run's own best
// peer, and the count of runs at or better than it in the metric's
// direction.
func TestSummarize(t *testing.T) {
	servers := []string{"ours", "a", "b"}
	cpu := func(ours, a, b float64) Row {
		return Row{Name: "cpu", Unit: "µs", Better: Lower, Values: map[string]float64{"ours": ours, "a": a, "b": b}}
	}
	rate := func(ours, a float64) Row {
		return Row{Name: "rate", Better: Higher, Values: map[string]float64{"ours": ours, "a": a}}
	}
	s := Summarize([]*Result{
		result(cpu(9, 10, 12), rate(110, 100)),
		result(cpu(11, 12, 10), rate(90, 100)),
		result(cpu(10, 10, 11)),
		result(cpu(8, 9, 10), rate(100, 100)),
	}, servers)
	if s.Runs != 4 || len(s.Rows) != 2 {
		t.Fatalf("summary of %d runs with %d rows, want 4 and 2", s.Runs, len(s.Rows))
	}
	c := s.Rows[0]
	if c.Values["ours"] != 9.5 || c.Values["a"] != 10 || c.Values["b"] != 10.5 {
		t.Errorf("cpu medians %v, want ours 9.5, a 10, b 10.5", c.Values)
	}
	want := []float64{8.0 / 9, 0.9, 1, 1.1}
	for i, q := range c.Ratios {
		if d := q - want[i]; d > 1e-9 || d < -1e-9 {
			t.Errorf("cpu ratios %v, want %v", c.Ratios, want)
			break
		}
	}
	if c.AtBest != 3 {
		t.Errorf("cpu: %d runs at best, want 3 (lower is better, 1.0 counts)", c.AtBest)
	}
	r := s.Rows[1]
	if len(r.Ratios) != 3 || r.AtBest != 2 {
		t.Errorf("rate: ratios %v, %d at best, want 3 ratios, 2 at best (higher is better)", r.Ratios, r.AtBest)
	}
	var b strings.Builder
	s.Print(&b, servers)
	for _, line := range []string{"median of 4 runs", "| cpu (µs)", "0.95× (0.89–1.10)", "3 of 4", "1.00× (0.90–1.10)", "2 of 3"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("summary lacks %q:\n%s", line, b.String())
		}
	}
}
