package alert

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Kind is what a condition looks at.
type Kind int

// The kinds of condition.
const (
	// Threshold compares a value of a sensor with a number.
	Threshold Kind = iota
	// Failing holds while the sensor's latest status is a failure.
	Failing
	// Stale holds while the sensor has sent no reading for longer than
	// its longest legitimate gap (max_gap_ms of the hello message).
	Stale
)

// Cond is one condition of a rule: "<sensor>.<value> <op> <number>",
// "<sensor> failing" or "<sensor> stale".
type Cond struct {
	Kind   Kind
	Sensor string
	Value  string  // Threshold only
	Op     string  // Threshold only: < <= > >= == !=
	Number float64 // Threshold only
}

// ErrSyntax is wrapped by every error of ParseCond.
var ErrSyntax = errors.New("want \"<sensor>.<value> <op> <number>\" (ops < <= > >= == !=), \"<sensor> failing\" or \"<sensor> stale\"")

// ParseCond parses a condition. A sensor name may contain spaces (as
// sensor names may); the value is what follows the last dot before the
// operator.
func ParseCond(s string) (Cond, error) {
	t := strings.TrimSpace(s)
	for _, health := range []struct {
		word string
		kind Kind
	}{{"failing", Failing}, {"stale", Stale}} {
		if rest, ok := strings.CutSuffix(t, " "+health.word); ok {
			sensor := strings.TrimSpace(rest)
			if sensor == "" {
				return Cond{}, fmt.Errorf("%q: no sensor: %w", s, ErrSyntax)
			}
			return Cond{Kind: health.kind, Sensor: sensor}, nil
		}
	}
	i := strings.IndexAny(t, "<>=!")
	if i < 0 {
		return Cond{}, fmt.Errorf("%q: no operator: %w", s, ErrSyntax)
	}
	lhs, rest := strings.TrimSpace(t[:i]), t[i:]
	op := ""
	for _, o := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return Cond{}, fmt.Errorf("%q: bad operator %q: %w", s, opToken(rest), ErrSyntax)
	}
	num := strings.TrimSpace(rest[len(op):])
	if num == "" || strings.ContainsAny(num[:1], "<>=!") {
		return Cond{}, fmt.Errorf("%q: bad operator %q: %w", s, opToken(rest), ErrSyntax)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n != n || n > 1e15 || n < -1e15 {
		return Cond{}, fmt.Errorf("%q: %q is not a number: %w", s, num, ErrSyntax)
	}
	dot := strings.LastIndexByte(lhs, '.')
	if dot <= 0 || dot == len(lhs)-1 {
		return Cond{}, fmt.Errorf("%q: %q is not <sensor>.<value>: %w", s, lhs, ErrSyntax)
	}
	return Cond{Kind: Threshold, Sensor: lhs[:dot], Value: lhs[dot+1:], Op: op, Number: n}, nil
}

func opToken(s string) string {
	n := 0
	for n < len(s) && strings.IndexByte("<>=!", s[n]) >= 0 {
		n++
	}
	return s[:n]
}

// String returns the condition as ParseCond reads it.
func (c Cond) String() string {
	switch c.Kind {
	case Failing:
		return c.Sensor + " failing"
	case Stale:
		return c.Sensor + " stale"
	}
	return c.Sensor + "." + c.Value + " " + c.Op + " " + strconv.FormatFloat(c.Number, 'g', -1, 64)
}

// compare reports whether v op c.Number holds. The number is compared in
// the value's milli-units, so == and != are exact.
func (c Cond) compare(milli int64) bool {
	n := reading.Milli(c.Number)
	switch c.Op {
	case "<":
		return milli < n
	case "<=":
		return milli <= n
	case ">":
		return milli > n
	case ">=":
		return milli >= n
	case "==":
		return milli == n
	case "!=":
		return milli != n
	}
	return false
}

// Rule is one [[alert]] table.
type Rule struct {
	// Name identifies the rule in messages, topics and the state file; a
	// valid reading name (reading.CheckName).
	Name string
	// When is the condition that makes the rule fire.
	When Cond
	// Clear, when not nil, is the condition that resolves a firing rule
	// (hysteresis); nil means "When no longer holds".
	Clear *Cond
	// For is how long When must hold before the rule fires; 0 fires at
	// the first reading that crosses.
	For time.Duration
	// ClearFor is how long the clear condition must hold before a firing
	// rule resolves, so that a value flapping around the threshold keeps
	// one episode; 0 resolves at once.
	ClearFor time.Duration
	// Notify lists the notification URLs (see Notifier).
	Notify []string
}

// DefaultClearFor is the ClearFor that the configuration gives a rule
// that does not set one: the rule's For, and at least a minute.
func DefaultClearFor(forDur time.Duration) time.Duration {
	return max(forDur, time.Minute)
}

// Sensors returns the sensors the rule's conditions name.
func (r *Rule) Sensors() []string {
	s := []string{r.When.Sensor}
	if r.Clear != nil && r.Clear.Sensor != r.When.Sensor {
		s = append(s, r.Clear.Sensor)
	}
	return s
}
