package hub

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Defaults of HistoryOptions.
const (
	DefaultHistoryWindow = time.Hour
	DefaultHistoryPoints = 3600
)

// HistoryOptions bounds the recent history the hub keeps of every value. The
// zero value means the defaults.
type HistoryOptions struct {
	// Window is how far back the history reaches. Default 1h.
	Window time.Duration
	// Points is the most points kept per value; each costs 8 bytes per value
	// plus 8 per sensor, allocated when the value is first seen. Readings
	// closer together than Window/Points share one point, their mean, so a
	// long window is downsampled rather than cut short. Default 3600 (1h at
	// one reading a second).
	Points int
	// Off disables the history: Snapshot then sends an empty history message.
	Off bool
}

func (o HistoryOptions) withDefaults() HistoryOptions {
	if o.Window <= 0 {
		o.Window = DefaultHistoryWindow
	}
	if o.Points <= 0 {
		o.Points = DefaultHistoryPoints
	}
	return o
}

// stepMillis is the width of one point in ms: Window/Points, at least 1.
func (o HistoryOptions) stepMillis() int64 {
	return max(1, o.Window.Milliseconds()/int64(o.Points))
}

// missing marks a point at which a value was not in the reading.
const missing = math.MinInt64

// series is the history of one sensor: a ring of points, each a time and one
// milli-unit value per value name. The rings are allocated once, when the
// sensor and each of its values is first seen; adding a point allocates
// nothing.
type series struct {
	step   int64   // ms per point
	t      []int64 // ring: time of the latest reading in each point, Unix ms
	bucket int64   // t/step of the newest point
	head   int     // index of the oldest point
	n      int     // points held
	vals   []*valueRing
}

type valueRing struct {
	name string
	unit reading.Unit
	v    []int64 // aligned with series.t; missing where the reading lacked it
	sum  int64   // of the readings merged into the newest point
	cnt  int64
}

func newSeries(o HistoryOptions) *series {
	return &series{step: o.stepMillis(), t: make([]int64, o.Points), vals: make([]*valueRing, 0, reading.MaxValues)}
}

// newest returns the ring index of the newest point; s.n must be > 0.
func (s *series) newest() int { return (s.head + s.n - 1) % len(s.t) }

func (s *series) ring(v reading.Value) *valueRing {
	for _, vr := range s.vals {
		if vr.name == v.Name {
			return vr
		}
	}
	vr := &valueRing{name: v.Name, v: make([]int64, len(s.t))}
	for i := range vr.v {
		vr.v[i] = missing
	}
	s.vals = append(s.vals, vr)
	return vr
}

// add records r: as a new point, or merged into the newest one when r falls
// into the same Window/Points step.
func (s *series) add(r *reading.Reading) {
	ts := r.Time.UnixMilli()
	b := floorDiv(ts, s.step)
	merge := s.n > 0 && b == s.bucket
	var i int
	if merge {
		i = s.newest()
	} else {
		if s.n == len(s.t) {
			s.head = (s.head + 1) % len(s.t)
		} else {
			s.n++
		}
		i = s.newest()
		for _, vr := range s.vals {
			vr.v[i], vr.sum, vr.cnt = missing, 0, 0
		}
		s.bucket = b
	}
	s.t[i] = ts
	for _, v := range r.Values() {
		vr := s.ring(v)
		vr.unit = v.Unit
		if vr.v[i] == missing {
			vr.sum, vr.cnt = 0, 0
		}
		vr.sum += v.Milli
		vr.cnt++
		vr.v[i] = vr.sum / vr.cnt
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// first returns the offset from s.head of the first point at or after since
// (Unix ms).
func (s *series) first(since int64) int {
	lo, hi := 0, s.n
	for lo < hi { // the ring is in time order unless the clock stepped back
		mid := (lo + hi) / 2
		if s.t[(s.head+mid)%len(s.t)] < since {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// copySince returns a copy of the points at or after since (Unix ms), in
// time order from index 0, for encoding outside the hub's lock. A nil s
// gives nil.
func (s *series) copySince(since int64) *series {
	if s == nil {
		return nil
	}
	from := s.first(since)
	n := s.n - from
	c := &series{step: s.step, bucket: s.bucket, t: make([]int64, n), n: n, vals: make([]*valueRing, len(s.vals))}
	for k := range n {
		c.t[k] = s.t[(s.head+from+k)%len(s.t)]
	}
	for j, vr := range s.vals {
		cv := &valueRing{name: vr.name, unit: vr.unit, v: make([]int64, n)}
		for k := range n {
			cv.v[k] = vr.v[(s.head+from+k)%len(s.t)]
		}
		c.vals[j] = cv
	}
	return c
}

// appendJSON appends {"sensor":…,"runs":[[start,count],…],"values":{name:
// {"unit":…,"v":[…]}}} with the points at or after since. Point times are
// regular: each point is shown at the start of its step, and a run of
// points in consecutive steps is one [start_ms, count] pair; points every
// d steps (a sensor read less often than the step) are [start_ms, count,
// d*step_ms].
func (s *series) appendJSON(dst []byte, name string, since int64) []byte {
	dst = append(dst, `{"sensor":`...)
	dst = reading.AppendString(dst, name)
	dst = append(dst, `,"runs":[`...)
	from := 0
	if s != nil {
		from = s.first(since)
		// A run is points at a constant distance of d steps (a sensor
		// read every d steps): [start, count], or [start, count, every]
		// with every = d*step when d > 1.
		var first, prev, d int64
		n := 0
		emit := func() {
			if n == 0 {
				return
			}
			if len(dst) > 0 && dst[len(dst)-1] == ']' {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, first*s.step, 10)
			dst = append(dst, ',')
			dst = strconv.AppendInt(dst, int64(n), 10)
			if n > 1 && d > 1 {
				dst = append(dst, ',')
				dst = strconv.AppendInt(dst, d*s.step, 10)
			}
			dst = append(dst, ']')
		}
		for k := from; k < s.n; k++ {
			b := floorDiv(s.t[(s.head+k)%len(s.t)], s.step)
			switch {
			case n == 1 && b > prev:
				d, n = b-prev, 2
			case n > 1 && b-prev == d:
				n++
			default:
				emit()
				first, n = b, 1
			}
			prev = b
		}
		emit()
	}
	dst = append(dst, `],"values":{`...)
	if s != nil {
		for j, vr := range s.vals {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = reading.AppendString(dst, vr.name)
			dst = append(dst, `:{"unit":`...)
			dst = reading.AppendString(dst, string(vr.unit))
			dst = append(dst, `,"v":[`...)
			for k := from; k < s.n; k++ {
				if k > from {
					dst = append(dst, ',')
				}
				if x := vr.v[(s.head+k)%len(s.t)]; x == missing {
					dst = append(dst, "null"...)
				} else {
					dst = reading.AppendMilli(dst, x)
				}
			}
			dst = append(dst, "]}"...)
		}
	}
	return append(dst, "}}"...)
}

// appendCSV appends a header line "time,ts,<value> (<unit>),…" and one line
// per point at or after since: RFC 3339 time, Unix ms, then each value, empty
// where the point lacks it. Lines end in CRLF as RFC 4180 asks.
func (s *series) appendCSV(dst []byte, since int64) []byte {
	dst = append(dst, "time,ts"...)
	if s == nil {
		return append(dst, "\r\n"...)
	}
	for _, vr := range s.vals {
		dst = append(dst, ',')
		h := vr.name
		if vr.unit != "" {
			h += " (" + string(vr.unit) + ")"
		}
		dst = appendCSVField(dst, h)
	}
	dst = append(dst, "\r\n"...)
	for k := s.first(since); k < s.n; k++ {
		i := (s.head + k) % len(s.t)
		dst = reading.AppendTime(dst, time.UnixMilli(s.t[i]))
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, s.t[i], 10)
		for _, vr := range s.vals {
			dst = append(dst, ',')
			if vr.v[i] != missing {
				dst = reading.AppendMilli(dst, vr.v[i])
			}
		}
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// appendCSVField quotes f if it holds a comma, quote or line break, and
// neutralises a leading = + - @ that spreadsheets would run as a formula.
func appendCSVField(dst []byte, f string) []byte {
	if f != "" && (f[0] == '=' || f[0] == '+' || f[0] == '-' || f[0] == '@') {
		f = "'" + f
	}
	quote := false
	for i := 0; i < len(f); i++ {
		if c := f[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, f[i])
	}
	return append(dst, '"')
}

// historyCopy is the history of some sensors, copied under the hub's lock
// to be encoded after it is released.
type historyCopy struct {
	device           string
	windowMs, stepMs int64
	names            []string
	series           []*series // nil for a sensor without points
}

// copyHistory copies the points at or after since (Unix ms) of the sensors
// for which keep returns true. h.mu must be held.
func (h *Hub) copyHistory(since int64, keep func(name string) bool) *historyCopy {
	c := &historyCopy{device: h.device, windowMs: h.history.Window.Milliseconds(), stepMs: h.history.stepMillis()}
	for _, e := range h.order {
		if !keep(e.name) {
			continue
		}
		c.names = append(c.names, e.name)
		c.series = append(c.series, e.hist.copySince(since))
	}
	return c
}

// appendJSON appends the history message (see the README's wire format).
func (c *historyCopy) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"history","v":2,"device":`...)
	dst = reading.AppendString(dst, c.device)
	dst = append(dst, `,"window_ms":`...)
	dst = strconv.AppendInt(dst, c.windowMs, 10)
	dst = append(dst, `,"step_ms":`...)
	dst = strconv.AppendInt(dst, c.stepMs, 10)
	dst = append(dst, `,"sensors":[`...)
	for i, name := range c.names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = c.series[i].appendJSON(dst, name, math.MinInt64)
	}
	return append(dst, "]}"...)
}

// copied is the default Prepared: the payload itself.
type copied struct{ p []byte }

func (c *copied) Payload() []byte { return c.p }

// prepare frames a message with Options.Prepare, or copies it.
func (h *Hub) prepare(binary bool, payload []byte) (Prepared, error) {
	if h.prep != nil {
		return h.prep(binary, payload)
	}
	return &copied{payload}, nil
}

// sharedHistory is the history message as sent to new clients, encoded once
// per history step.
type sharedHistory struct {
	bucket   int64 // the step it was encoded in
	text, gz Prepared
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// sharedHistory returns the history message for a client connecting at now,
// gzipped if gz: the one encoded earlier in the same history step, or a new
// one. The points are copied under h.mu and encoded after it is released,
// under h.hmu, so that the clients of one step wait for one encoding.
func (h *Hub) sharedHistory(now time.Time, gz bool) (Prepared, error) {
	step := h.history.stepMillis()
	b := floorDiv(now.UnixMilli(), step)
	h.hmu.Lock()
	defer h.hmu.Unlock()
	if h.shared.text == nil || h.shared.bucket != b {
		var c *historyCopy
		h.mu.Lock()
		if h.history.Off {
			c = &historyCopy{device: h.device, windowMs: h.history.Window.Milliseconds(), stepMs: step}
		} else {
			c = h.copyHistory(math.MinInt64, func(string) bool { return true })
		}
		h.mu.Unlock()
		text, err := h.prepare(false, c.appendJSON(nil))
		if err != nil {
			return nil, fmt.Errorf("hub: history: %w", err)
		}
		h.shared = sharedHistory{bucket: b, text: text}
	}
	if !gz {
		return h.shared.text, nil
	}
	if h.shared.gz == nil {
		var buf bytes.Buffer
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(&buf)
		_, err := w.Write(h.shared.text.Payload())
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		gzipWriters.Put(w)
		if err != nil {
			return nil, fmt.Errorf("hub: gzip history: %w", err)
		}
		p, err := h.prepare(true, buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("hub: history: %w", err)
		}
		h.shared.gz = p
	}
	return h.shared.gz, nil
}

// Has reports whether the hub knows sensor name: it was configured or has
// sent a reading or status.
func (h *Hub) Has(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest[name] != nil
}

// AppendHistory appends the history message (see the README's wire format)
// holding sensor's points at or after since, or every sensor's when sensor
// is "". It is what Snapshot sends, restricted for scripts that ask over HTTP.
func (h *Hub) AppendHistory(dst []byte, sensor string, since time.Time) []byte {
	h.mu.Lock()
	c := h.copyHistory(sinceMillis(since), func(name string) bool { return sensor == "" || name == sensor })
	h.mu.Unlock()
	return c.appendJSON(dst)
}

// AppendHistoryCSV appends sensor's history at or after since as CSV: a
// header "time,ts,<value> (<unit>),…", then one line per point. It reports
// false, appending nothing, when the hub does not know sensor.
func (h *Hub) AppendHistoryCSV(dst []byte, sensor string, since time.Time) ([]byte, bool) {
	h.mu.Lock()
	e := h.latest[sensor]
	if e == nil {
		h.mu.Unlock()
		return dst, false
	}
	c := e.hist.copySince(sinceMillis(since))
	h.mu.Unlock()
	return c.appendCSV(dst, math.MinInt64), true
}

func sinceMillis(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixMilli()
}

// AppendSensors appends a JSON object describing every sensor for scripts:
// {"device","version","sensors":[{"sensor","interval_ms","max_gap_ms","ok",
// "error","failures","latest"}]}, where latest is the sensor's latest reading message
// or null.
func (h *Hub) AppendSensors(dst []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	dst = append(dst, `{"device":`...)
	dst = reading.AppendString(dst, h.device)
	dst = append(dst, `,"version":`...)
	dst = reading.AppendString(dst, h.version)
	dst = append(dst, `,"sensors":[`...)
	for i, e := range h.order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sensor":`...)
		dst = reading.AppendString(dst, e.name)
		dst = append(dst, `,"interval_ms":`...)
		dst = strconv.AppendInt(dst, e.interval.Milliseconds(), 10)
		dst = append(dst, `,"max_gap_ms":`...)
		dst = strconv.AppendInt(dst, e.maxGap.Milliseconds(), 10)
		dst = append(dst, `,"ok":`...)
		dst = strconv.AppendBool(dst, !e.failing)
		dst = append(dst, `,"error":`...)
		dst = reading.AppendString(dst, e.err)
		dst = append(dst, `,"failures":`...)
		dst = strconv.AppendUint(dst, e.failures, 10)
		dst = append(dst, `,"latest":`...)
		if e.json == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, e.json...)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
