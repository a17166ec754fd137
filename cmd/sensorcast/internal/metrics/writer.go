package metrics

import (
	"math"
	"strconv"
)

// Metric types of a family's # TYPE line.
const (
	Counter = "counter"
	Gauge   = "gauge"
	Summary = "summary"
	Untyped = "untyped"
)

// ContentType is the media type of what a Writer produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Writer appends metric families in the text format. The zero value is
// ready to use. Samples of one family must follow its Family call without
// another family in between, as the format requires.
type Writer struct {
	b []byte
}

// Bytes returns what has been written.
func (w *Writer) Bytes() []byte { return w.b }

// Reset empties w, keeping its buffer.
func (w *Writer) Reset() { w.b = w.b[:0] }

// Family starts a family: its # HELP and # TYPE lines. name must be a
// valid metric name (ValidName); help is escaped.
func (w *Writer) Family(name, typ, help string) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	for i := 0; i < len(help); i++ {
		switch c := help[i]; c {
		case '\\':
			w.b = append(w.b, `\\`...)
		case '\n':
			w.b = append(w.b, `\n`...)
		default:
			w.b = append(w.b, c)
		}
	}
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typ...)
	w.b = append(w.b, '\n')
}

// Sample appends one sample: name, the labels given as name, value pairs
// (an odd one out is ignored), and v.
func (w *Writer) Sample(name string, v float64, labels ...string) {
	w.head(name, labels)
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

// Uint appends one sample of an integer value, written exactly (a float64
// would round counters beyond 2⁵³).
func (w *Writer) Uint(name string, v uint64, labels ...string) {
	w.head(name, labels)
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '\n')
}

// One appends a family of a single unlabelled sample.
func (w *Writer) One(name, typ, help string, v float64) {
	w.Family(name, typ, help)
	w.Sample(name, v)
}

func (w *Writer) head(name string, labels []string) {
	w.b = append(w.b, name...)
	if len(labels) >= 2 {
		w.b = append(w.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, labels[i]...)
			w.b = append(w.b, `="`...)
			w.b = appendLabelValue(w.b, labels[i+1])
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
}

// appendLabelValue escapes backslash, double quote and line feed, as the
// format requires.
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ValidName reports whether s is a valid metric or label name:
// [a-zA-Z_:][a-zA-Z0-9_:]* (colons are for recording rules; sensorcast
// never writes them).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Name turns s into a metric name part: lower case ASCII letters and
// digits, every other run of characters one underscore, none at either
// end ("Temperature (°C)" → "temperature_c"). It may return "".
func Name(s string) string {
	b := make([]byte, 0, len(s))
	under := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			under = len(b) > 0
			continue
		}
		if under {
			b = append(b, '_')
			under = false
		}
		b = append(b, c)
	}
	return string(b)
}
