package compare

import (
	"fmt"
	"io"
	"slices"
)

// Summary is the medians of several runs of the comparison and, per
// metric, the spread of the ratio of ours to the best peer across the runs.
type Summary struct {
	Runs int
	Rows []SummaryRow
}

// SummaryRow is one metric over the runs.
type SummaryRow struct {
	Row // Values: each server's median over the runs that measured it
	// Ratios holds, for every run that measured ours and a peer, ours
	// divided by that run's best peer, sorted.
	Ratios []float64
	// AtBest counts the runs whose ratio is at least as good as the best
	// peer (≤ 1 for Lower, ≥ 1 for Higher).
	AtBest int
}

// Summarize reduces the runs' tables, servers[0] being ours.
func Summarize(runs []*Result, servers []string) *Summary {
	s := &Summary{Runs: len(runs)}
	var order []Row // metrics in their first appearance
	for _, r := range runs {
		for _, row := range r.Rows {
			if !slices.ContainsFunc(order, func(o Row) bool { return o.Name == row.Name }) {
				order = append(order, Row{Name: row.Name, Unit: row.Unit, Better: row.Better})
			}
		}
	}
	for _, m := range order {
		sr := SummaryRow{Row: m}
		sr.Values = map[string]float64{}
		for _, srv := range servers {
			var vs []float64
			for _, r := range runs {
				if v, ok := r.Get(m.Name, srv); ok {
					vs = append(vs, v)
				}
			}
			if len(vs) > 0 {
				sr.Values[srv] = median(vs)
			}
		}
		for _, r := range runs {
			for _, row := range r.Rows {
				if row.Name != m.Name {
					continue
				}
				if q, _, ok := row.bestRatio(servers); ok {
					sr.Ratios = append(sr.Ratios, q)
					if (m.Better == Lower && q <= 1) || (m.Better == Higher && q >= 1) {
						sr.AtBest++
					}
				}
			}
		}
		slices.Sort(sr.Ratios)
		s.Rows = append(s.Rows, sr)
	}
	return s
}

// median of vs (the mean of the middle two for an even count); it sorts vs.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// Print writes the summary table: each server's median, then the median
// and range of the per-run ratios and how many runs were at or better than
// the best peer.
func (s *Summary) Print(w io.Writer, servers []string) {
	ratioCol, atCol := "ours / best peer: median (range)", "runs at best"
	printHead(w, fmt.Sprintf("median of %d runs", s.Runs), servers, ratioCol, atCol)
	for _, row := range s.Rows {
		row.printCells(w, servers)
		ratio, at := "-", "-"
		if n := len(row.Ratios); n > 0 {
			ratio = fmt.Sprintf("%.2f× (%.2f–%.2f)", median(slices.Clone(row.Ratios)), row.Ratios[0], row.Ratios[n-1])
			at = fmt.Sprintf("%d of %d", row.AtBest, n)
		}
		fmt.Fprintf(w, " %*s | %*s |\n", len(ratioCol), ratio, len(atCol), at)
	}
}
