package alert

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// SensorInfo is what the engine needs to know of a configured sensor.
type SensorInfo struct {
	Name string
	// MaxGap is the longest legitimate gap between two readings (the
	// hello message's max_gap_ms); a Stale condition holds beyond
	// StaleAfter(MaxGap). 0 means no bound: the sensor is never stale.
	MaxGap time.Duration
}

// StaleAfter is how long a sensor with the given max gap may stay silent
// before a Stale condition holds: the dashboard's rule, twice the gap and
// at least the gap plus a second (a reading a little late is not stale).
func StaleAfter(maxGap time.Duration) time.Duration {
	return max(2*maxGap, maxGap+time.Second)
}

// Event is a rule's transition to firing or back to resolved.
type Event struct {
	Rule   string    `json:"rule"`
	Firing bool      `json:"firing"`
	Sensor string    `json:"sensor"`
	When   string    `json:"when"`            // the rule's condition, as configured
	Value  string    `json:"value,omitempty"` // the value's name, for a threshold rule
	Milli  int64     `json:"milli"`           // the value, in milli-units; valid when HasValue
	Unit   string    `json:"unit,omitempty"`
	Has    bool      `json:"has_value"`
	Since  time.Time `json:"since"` // when the rule started firing
	Time   time.Time `json:"time"`  // when this transition happened
}

// State returns "firing" or "resolved".
func (ev *Event) State() string {
	if ev.Firing {
		return "firing"
	}
	return "resolved"
}

// Options configures an Engine.
type Options struct {
	Rules   []Rule
	Sensors []SensorInfo
	// StateDir keeps the state file (StateFile, mode 0600), so that a
	// firing rule is still firing after a restart. "" keeps no state.
	StateDir string
	// Notifier delivers each event to its rule's Notify URLs; nil sends
	// nothing.
	Notifier *Notifier
	// OnEvent, when not nil, is called with each event, in order, from
	// Run's goroutine, after the state file has been written and the
	// event queued for delivery.
	OnEvent func(Event)
	// Tick is how often Run looks at the rules without a new reading
	// (for For, ClearFor and staleness). Default time.Second.
	Tick   time.Duration
	Logger *slog.Logger // default: slog.Default()
}

// Engine evaluates the rules on every reading and status. It is a hub
// Sink: PublishReading and PublishStatus never block (they compare a few
// numbers under a lock; the transitions are handed to Run). Safe for
// concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	sensors map[string]*facts
	rules   []*ruleState
	out     []Event // transitions not yet taken by Run
	dirty   bool    // state to be written
	wake    chan struct{}
}

// facts is what the engine knows of a sensor.
type facts struct {
	maxGap  time.Duration
	last    time.Time // the latest reading's arrival; the engine's start before any
	vals    []reading.Value
	failing bool
	read    bool // a reading has arrived since start
	health  bool // a reading or a status has arrived since start: failing is known
}

type ruleState struct {
	Rule
	firing            bool
	pending, clearing time.Time // when When, and the clear condition, began to hold; zero if they do not
	since             time.Time // firing: when it began; else when it last resolved (zero if never)
	firings           uint64    // episodes since start, or as restored
	milli             int64     // the latest value of When's value (threshold rules)
	unit              reading.Unit
	has               bool
	at                time.Time // when milli was read
}

// New returns an engine for o's rules, with the state kept in
// o.StateDir restored: a rule that was firing fires still, without a new
// event. A state file that cannot be read is logged and ignored (the
// rules start ok), never a reason not to start.
func New(o *Options) *Engine {
	e := &Engine{opts: *o, log: o.Logger, sensors: make(map[string]*facts), wake: make(chan struct{}, 1)}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.opts.Tick <= 0 {
		e.opts.Tick = time.Second
	}
	now := time.Now()
	for _, s := range o.Sensors {
		e.sensors[s.Name] = &facts{maxGap: s.MaxGap, last: now}
	}
	for _, r := range o.Rules {
		e.rules = append(e.rules, &ruleState{Rule: r})
	}
	if o.StateDir != "" {
		e.restore()
	}
	return e
}

func (e *Engine) facts(sensor string) *facts {
	f := e.sensors[sensor]
	if f == nil {
		f = &facts{last: time.Now()}
		e.sensors[sensor] = f
	}
	return f
}

// PublishReading evaluates the rules on r's sensor. It does not keep r.
func (e *Engine) PublishReading(r *reading.Reading) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.facts(r.Sensor)
	f.vals = append(f.vals[:0], r.Values()...)
	f.last, f.read, f.health = now, true, true
	e.evalSensor(r.Sensor, now)
}

// PublishStatus evaluates the rules on s's sensor.
func (e *Engine) PublishStatus(s *reading.Status) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.facts(s.Sensor)
	f.failing, f.health = !s.OK, true
	e.evalSensor(s.Sensor, now)
}

func (e *Engine) evalSensor(sensor string, now time.Time) {
	for _, r := range e.rules {
		if r.When.Sensor == sensor || (r.Clear != nil && r.Clear.Sensor == sensor) {
			e.eval(r, now)
		}
	}
}

// Tick evaluates every rule at now: a condition that has held for its
// rule's For (or ClearFor) without a new reading, and staleness. Run calls
// it every Options.Tick.
func (e *Engine) Tick() {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.rules {
		e.eval(r, now)
	}
}

// holds reports whether c holds at now and whether that is known (a
// threshold on a value not read yet is not).
func (e *Engine) holds(c *Cond, now time.Time) (hold, known bool) {
	f := e.sensors[c.Sensor]
	if f == nil {
		return false, false
	}
	// Health is unknown after a start until the sensor has spoken, or
	// stayed silent too long: a rule firing from before a restart neither
	// resolves nor fires again on what the engine has not seen yet.
	switch c.Kind {
	case Failing:
		return f.failing, f.health
	case Stale:
		stale := f.maxGap > 0 && now.Sub(f.last) > StaleAfter(f.maxGap)
		return stale, f.read || stale || f.maxGap == 0
	}
	for _, v := range f.vals {
		if v.Name == c.Value {
			return c.compare(v.Milli), true
		}
	}
	return false, false
}

func (e *Engine) eval(r *ruleState, now time.Time) {
	if r.When.Kind == Threshold {
		if f := e.sensors[r.When.Sensor]; f != nil {
			for _, v := range f.vals {
				if v.Name == r.When.Value {
					r.milli, r.unit, r.has, r.at = v.Milli, v.Unit, true, f.last
				}
			}
		}
	}
	when, known := e.holds(&r.When, now)
	if !r.firing {
		if !known {
			return
		}
		if !when {
			r.pending = time.Time{}
			return
		}
		if r.pending.IsZero() {
			r.pending = now
		}
		if now.Sub(r.pending) >= r.For {
			r.firing, r.since, r.clearing = true, now, time.Time{}
			r.firings++
			e.emit(r, now)
		}
		return
	}
	clear, cknown := !when, known
	if r.Clear != nil {
		clear, cknown = e.holds(r.Clear, now)
	}
	if !cknown {
		return
	}
	if !clear {
		r.clearing = time.Time{}
		return
	}
	if r.clearing.IsZero() {
		r.clearing = now
	}
	if now.Sub(r.clearing) >= r.ClearFor {
		ev := r.event(now)
		r.firing, r.since, r.pending, r.clearing = false, now, time.Time{}, time.Time{}
		ev.Firing = false
		e.push(ev)
	}
}

func (r *ruleState) event(now time.Time) Event {
	ev := Event{Rule: r.Name, Firing: r.firing, Sensor: r.When.Sensor, When: r.When.String(), Since: r.since, Time: now}
	if r.When.Kind == Threshold {
		ev.Value = r.When.Value
		if r.has {
			ev.Milli, ev.Unit, ev.Has = r.milli, string(r.unit), true
		}
	}
	return ev
}

func (e *Engine) emit(r *ruleState, now time.Time) { e.push(r.event(now)) }

func (e *Engine) push(ev Event) {
	e.out = append(e.out, ev)
	e.dirty = true
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run ticks the rules and hands each event on, in order: to the state
// file, to the Notifier and to Options.OnEvent. It returns when ctx is
// done, after handing on the events already made.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.flush()
			return
		case <-t.C:
			e.Tick()
		case <-e.wake:
		}
		e.flush()
	}
}

// flush takes the events made since the last one and hands them on.
func (e *Engine) flush() {
	e.mu.Lock()
	evs := e.out
	e.out = nil
	var st []byte
	if e.dirty && e.opts.StateDir != "" {
		st = e.encodeState()
	}
	e.dirty = false
	e.mu.Unlock()
	if st != nil {
		e.save(st)
	}
	for _, ev := range evs {
		e.log.Info("alert "+ev.State(), "rule", ev.Rule, "when", ev.When, "since", ev.Since)
		if e.opts.Notifier != nil {
			e.opts.Notifier.Enqueue(ev, e.notifyURLs(ev.Rule))
		}
		if e.opts.OnEvent != nil {
			e.opts.OnEvent(ev)
		}
	}
}

// NotifyCount returns how many notification URLs rule has.
func (e *Engine) NotifyCount(rule string) int { return len(e.notifyURLs(rule)) }

func (e *Engine) notifyURLs(rule string) []string {
	for _, r := range e.opts.Rules {
		if r.Name == rule {
			return r.Notify
		}
	}
	return nil
}

// RuleStatus is a rule's state, as Rules returns it (for /api/alerts).
type RuleStatus struct {
	Name     string
	When     string
	Clear    string // "" when the rule clears when When no longer holds
	For      time.Duration
	ClearFor time.Duration
	Sensor   string
	// State is "ok", "pending" (When holds, not yet for For) or "firing".
	State string
	// Since is when the rule began firing, or when it last resolved
	// (zero if it has not fired since its state was kept).
	Since   time.Time
	Firings uint64 // episodes since start (a restored firing one counts 1)
	// The latest value of a threshold rule's value, when HasValue.
	Value     string
	Milli     int64
	Unit      string
	HasValue  bool
	ValueTime time.Time
}

// Rules returns the state of every rule, in configuration order.
func (e *Engine) Rules() []RuleStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RuleStatus, 0, len(e.rules))
	for _, r := range e.rules {
		s := RuleStatus{Name: r.Name, When: r.When.String(), For: r.For, ClearFor: r.ClearFor,
			Sensor: r.When.Sensor, State: "ok", Since: r.since, Firings: r.firings}
		if r.Clear != nil {
			s.Clear = r.Clear.String()
		}
		switch {
		case r.firing:
			s.State = "firing"
		case !r.pending.IsZero():
			s.State = "pending"
		}
		if r.When.Kind == Threshold {
			s.Value = r.When.Value
			if r.has {
				s.Milli, s.Unit, s.HasValue, s.ValueTime = r.milli, string(r.unit), true, r.at
			}
		}
		out = append(out, s)
	}
	return out
}

// Firing returns the events of the rules firing now (as their firing
// event was), in configuration order: what a client joining now needs.
func (e *Engine) Firing() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, r := range e.rules {
		if r.firing {
			out = append(out, r.event(r.since))
		}
	}
	return out
}
