package storm

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Row is one line of the table: a metric's value for each binary.
type Row struct {
	Name string
	// Values, one per binary in the order given to Rows; NaN where a
	// binary has no such figure.
	Values []float64
	// Ratio is true when values[last]/values[0] means something (after /
	// before).
	Ratio bool
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Rows turns the results of one run (one per binary, in the same order for
// every run) into table rows.
func Rows(rs []*Result) []Row {
	var rows []Row
	add := func(name string, ratio bool, f func(r *Result) float64) {
		row := Row{Name: name, Ratio: ratio}
		for _, r := range rs {
			row.Values = append(row.Values, f(r))
		}
		rows = append(rows, row)
	}
	add("history points: sim", false, func(r *Result) float64 { return float64(r.History.Points["sim"]) })
	add("history points: host", false, func(r *Result) float64 { return float64(r.History.Points["host"]) })
	add("history message, text (bytes)", true, func(r *Result) float64 { return float64(r.History.Text) })
	add("history message, runs of regular steps (v2)", false, func(r *Result) float64 {
		if r.History.Version < 2 {
			return math.NaN()
		}
		return float64(r.History.Runs)
	})
	add("history message, gzip (bytes)", false, func(r *Result) float64 {
		if r.History.Gzip == 0 {
			return math.NaN()
		}
		return float64(r.History.Gzip)
	})
	kinds := rs[0].Kinds
	for j, k := range kinds {
		kind := func(r *Result) *KindResult {
			if j < len(r.Kinds) && r.Kinds[j].Kind.Name == k.Kind.Name {
				return &r.Kinds[j]
			}
			return nil
		}
		per := func(name string, ratio bool, f func(k *KindResult) float64) {
			add(k.Kind.Name+": "+name, ratio, func(r *Result) float64 {
				if kr := kind(r); kr != nil {
					return f(kr)
				}
				return math.NaN()
			})
		}
		per("bytes per page open", true, func(k *KindResult) float64 { return float64(k.Bytes) })
		per("bytes per page open, least", true, func(k *KindResult) float64 { return float64(k.MinBytes) })
		per("bytes per page open, most", true, func(k *KindResult) float64 { return float64(k.MaxBytes) })
		per("page open p50 (ms)", true, func(k *KindResult) float64 { return ms(k.OpenP50) })
		per("page open max (ms)", true, func(k *KindResult) float64 { return ms(k.OpenMax) })
		per("server CPU, storms (ms)", false, func(k *KindResult) float64 { return ms(k.Storm.CPU) })
		per("server CPU, idle window (ms)", false, func(k *KindResult) float64 { return ms(k.Idle.CPU) })
		per("storm CPU: storms − idle (ms)", true, func(k *KindResult) float64 { return ms(k.StormCPU()) })
		per("storm CPU per page open (ms)", true, func(k *KindResult) float64 { return ms(k.StormCPU()) / float64(k.Opens) })
		per("sim gap − interval, storms, max (ms)", true, func(k *KindResult) float64 { return ms(k.Storm.MaxGap) })
		per("sim gap − interval, idle, max (ms)", false, func(k *KindResult) float64 { return ms(k.Idle.MaxGap) })
		per("sim reading age, storms, max (ms)", true, func(k *KindResult) float64 { return ms(k.Storm.MaxAge) })
		per("sim reading age, idle, max (ms)", false, func(k *KindResult) float64 { return ms(k.Idle.MaxAge) })
	}
	return rows
}

func cell(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 1000 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// ratio is last/first, NaN when it has no meaning.
func ratio(r Row) float64 {
	if !r.Ratio || len(r.Values) < 2 {
		return math.NaN()
	}
	a, b := r.Values[len(r.Values)-1], r.Values[0]
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// Print writes the rows as a Markdown table with one column per name and,
// with two or more binaries, the ratio of the last to the first.
func Print(w io.Writer, names []string, rows []Row) {
	width := 44
	for _, r := range rows {
		width = max(width, len([]rune(r.Name)))
	}
	fmt.Fprintf(w, "| %-*s |", width, "metric")
	for _, n := range names {
		fmt.Fprintf(w, " %10s |", n)
	}
	if len(names) > 1 {
		fmt.Fprintf(w, " %s/%s |", names[len(names)-1], names[0])
	}
	fmt.Fprintf(w, "\n|%s|", strings.Repeat("-", width+2))
	for range names {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", 11))
	}
	if len(names) > 1 {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", len(names[0])+len(names[len(names)-1])+2))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s%s |", r.Name, strings.Repeat(" ", width-len([]rune(r.Name))))
		for _, v := range r.Values {
			fmt.Fprintf(w, " %10s |", cell(v))
		}
		if len(names) > 1 {
			s := "-"
			if q := ratio(r); !math.IsNaN(q) {
				s = fmt.Sprintf("%.3f×", q)
			}
			fmt.Fprintf(w, " %*s |", len(names[0])+len(names[len(names)-1])+1, s)
		}
		fmt.Fprintln(w)
	}
}

// Summary combines the rows of several runs (each from Rows, same shape):
// each binary's median, and the median and range of the per-run ratios.
func Summary(runs [][]Row) []SummaryRow {
	var out []SummaryRow
	for i, r := range runs[0] {
		s := SummaryRow{Name: r.Name}
		for b := range r.Values {
			var vs []float64
			for _, run := range runs {
				vs = append(vs, run[i].Values[b])
			}
			s.Medians = append(s.Medians, median(vs))
		}
		for _, run := range runs {
			if q := ratio(run[i]); !math.IsNaN(q) {
				s.Ratios = append(s.Ratios, q)
			}
		}
		out = append(out, s)
	}
	return out
}

// SummaryRow is a metric over several runs.
type SummaryRow struct {
	Name    string
	Medians []float64 // per binary
	Ratios  []float64 // last/first of each run that has one
}

func median(vs []float64) float64 {
	vs = slices.DeleteFunc(slices.Clone(vs), math.IsNaN)
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

// PrintSummary writes the summary as a Markdown table.
func PrintSummary(w io.Writer, names []string, rows []SummaryRow, runs int) {
	width := 44
	for _, r := range rows {
		width = max(width, len([]rune(r.Name)))
	}
	fmt.Fprintf(w, "| %-*s |", width, fmt.Sprintf("median of %d runs", runs))
	for _, n := range names {
		fmt.Fprintf(w, " %10s |", n)
	}
	if len(names) > 1 {
		fmt.Fprintf(w, " %s/%s: median (range) |", names[len(names)-1], names[0])
	}
	fmt.Fprintf(w, "\n|%s|", strings.Repeat("-", width+2))
	for range names {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", 11))
	}
	if len(names) > 1 {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", 30))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s%s |", r.Name, strings.Repeat(" ", width-len([]rune(r.Name))))
		for _, v := range r.Medians {
			fmt.Fprintf(w, " %10s |", cell(v))
		}
		if len(names) > 1 {
			s := "-"
			if len(r.Ratios) > 0 {
				s = fmt.Sprintf("%.3f× (%.3f–%.3f)", median(r.Ratios), slices.Min(r.Ratios), slices.Max(r.Ratios))
			}
			fmt.Fprintf(w, " %28s |", s)
		}
		fmt.Fprintln(w)
	}
}
