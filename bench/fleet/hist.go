package fleet

import "time"

// Latencies are kept in whole milliseconds: "ts" on the wire is Unix ms,
// so a latency measured as arrival − ts is over by 0–1 ms.
const (
	fineBins   = 2000 // 1 ms bins for 0 … 1999 ms
	coarseStep = 50   // then 50 ms bins
	coarseBins = 1200 // up to 62 s
	histBins   = fineBins + coarseBins + 1
)

// Hist is a latency histogram: 1 ms bins below 2 s, 50 ms bins up to
// 62 s, and one bin for anything later. It is not safe for concurrent use:
// each receiver keeps its own and they are merged with Add.
type Hist struct {
	bins  [histBins]uint32
	n     uint64
	sumMS int64
	maxMS int64
}

func binOf(ms int64) int {
	switch {
	case ms < 0:
		return 0 // a clock step backwards: counted as 0
	case ms < fineBins:
		return int(ms)
	case ms < fineBins+coarseStep*coarseBins:
		return fineBins + int((ms-fineBins)/coarseStep)
	}
	return histBins - 1
}

// lowMS returns the lower bound of bin i in ms.
func lowMS(i int) int64 {
	if i < fineBins {
		return int64(i)
	}
	return fineBins + int64(i-fineBins)*coarseStep
}

// Record counts one latency of ms milliseconds.
func (h *Hist) Record(ms int64) {
	h.bins[binOf(ms)]++
	h.n++
	h.sumMS += max(ms, 0)
	h.maxMS = max(h.maxMS, ms)
}

// Add merges o into h.
func (h *Hist) Add(o *Hist) {
	for i, c := range o.bins {
		h.bins[i] += c
	}
	h.n += o.n
	h.sumMS += o.sumMS
	h.maxMS = max(h.maxMS, o.maxMS)
}

// Count returns the number of latencies recorded.
func (h *Hist) Count() uint64 { return h.n }

// Max returns the largest latency recorded.
func (h *Hist) Max() time.Duration { return time.Duration(h.maxMS) * time.Millisecond }

// Mean returns the mean latency, 0 for an empty histogram.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sumMS) * time.Millisecond / time.Duration(h.n)
}

// Quantile returns the lower bound of the bin holding the q-quantile
// (0 < q ≤ 1): the nearest-rank latency, to the bin's resolution. 0 for an
// empty histogram.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.bins {
		seen += uint64(c)
		if seen >= rank {
			return time.Duration(lowMS(i)) * time.Millisecond
		}
	}
	return h.Max()
}
