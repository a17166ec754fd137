package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/alert"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/metrics"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// AlertConfig is one [[alert]] table: a rule on readings or on a sensor's
// health, and where to say that it fires and resolves (see package alert
// and the README's Alerts section).
type AlertConfig struct {
	Name string `toml:"name"`
	// When is "<sensor>.<value> <op> <number>" (ops < <= > >= == !=),
	// "<sensor> failing" or "<sensor> stale".
	When string `toml:"when"`
	// For is how long When must hold before the rule fires; default 0.
	For time.Duration `toml:"for"`
	// Clear is the condition that resolves the rule (hysteresis);
	// default: When no longer holds.
	Clear string `toml:"clear"`
	// ClearFor is how long the clear condition must hold before the rule
	// resolves; default alert.DefaultClearFor(For) (For, at least a
	// minute), so that a flapping value makes one episode.
	ClearFor *time.Duration `toml:"clear_for"`
	// Notify lists notification URLs (http(s) JSON POST, ntfy, gotify, smtp).
	Notify []string `toml:"notify"`
}

// maxAlertWait bounds for and clear_for.
const maxAlertWait = 7 * 24 * time.Hour

// alertRules converts the [[alert]] tables, which parseConfig checked.
func alertRules(cfg *Config) []alert.Rule {
	rules := make([]alert.Rule, 0, len(cfg.Alerts))
	for i := range cfg.Alerts {
		r, _, err := cfg.Alerts[i].rule(cfg)
		if err == nil {
			rules = append(rules, r)
		}
	}
	return rules
}

// rule checks a and returns its rule; on error, the key that is wrong.
func (a *AlertConfig) rule(cfg *Config) (r alert.Rule, key string, err error) {
	if a.Name == "" {
		return r, "name", fmt.Errorf("key \"name\": missing: every alert needs a name")
	}
	if err := reading.CheckName(a.Name); err != nil {
		return r, "name", fmt.Errorf("key \"name\": %w", err)
	}
	if a.When == "" {
		return r, "when", fmt.Errorf("key \"when\": missing: give the condition that fires the alert")
	}
	when, err := checkCond(cfg, a.When)
	if err != nil {
		return r, "when", fmt.Errorf("key \"when\": %w", err)
	}
	r = alert.Rule{Name: a.Name, When: when, For: a.For, Notify: a.Notify}
	if a.Clear != "" {
		c, err := checkCond(cfg, a.Clear)
		if err != nil {
			return r, "clear", fmt.Errorf("key \"clear\": %w", err)
		}
		r.Clear = &c
	}
	if a.For < 0 || a.For > maxAlertWait {
		return r, "for", fmt.Errorf("key \"for\": %v out of range (0 to %v)", a.For, maxAlertWait)
	}
	r.ClearFor = alert.DefaultClearFor(a.For)
	if a.ClearFor != nil {
		if *a.ClearFor < 0 || *a.ClearFor > maxAlertWait {
			return r, "clear_for", fmt.Errorf("key \"clear_for\": %v out of range (0 to %v)", *a.ClearFor, maxAlertWait)
		}
		r.ClearFor = *a.ClearFor
	}
	for _, u := range a.Notify {
		if err := alert.CheckURL(u); err != nil {
			return r, "notify", fmt.Errorf("key \"notify\": %w", err)
		}
	}
	return r, "", nil
}

// checkCond parses a condition and checks that its sensor is configured,
// that its value is one the sensor reports (when that is known before it
// runs) and that a stale condition's sensor has a bound on its gaps.
func checkCond(cfg *Config, s string) (alert.Cond, error) {
	c, err := alert.ParseCond(s)
	if err != nil {
		return c, err
	}
	var sc *SensorConfig
	names := make([]string, 0, len(cfg.Sensors))
	for i := range cfg.Sensors {
		names = append(names, cfg.Sensors[i].Name)
		if cfg.Sensors[i].Name == c.Sensor {
			sc = &cfg.Sensors[i]
		}
	}
	if sc == nil {
		return c, fmt.Errorf("%q: unknown sensor %q (configured: %s)", s, c.Sensor, strings.Join(names, ", "))
	}
	switch c.Kind {
	case alert.Stale:
		if sc.MaxGap() == 0 {
			return c, fmt.Errorf("%q: sensor %q may stay silent as long as its value holds (a delta filter without heartbeat), so it is never stale: give the filter a heartbeat", s, c.Sensor)
		}
	case alert.Threshold:
		if vals := sc.Expect(); vals != nil && !slices.ContainsFunc(vals, func(v reading.Value) bool { return v.Name == c.Value }) {
			known := make([]string, len(vals))
			for i, v := range vals {
				known[i] = v.Name
			}
			return c, fmt.Errorf("%q: sensor %q has no value %q (it reports %s)", s, c.Sensor, c.Value, strings.Join(known, ", "))
		}
	}
	return c, nil
}

// checkAlerts checks the [[alert]] tables of the file path (src); an error
// names the file, the line and the key.
func checkAlerts(path string, src []byte, cfg *Config) error {
	headers := headerLines(src, "alert")
	seen := make(map[string]int)
	for i := range cfg.Alerts {
		a := &cfg.Alerts[i]
		line, next := 0, len(src)+1
		if i < len(headers) {
			line = headers[i]
		}
		if i+1 < len(headers) {
			next = headers[i+1]
		}
		_, key, err := a.rule(cfg)
		if err == nil {
			if j, dup := seen[a.Name]; dup {
				key, err = "name", fmt.Errorf("key \"name\": %q already used by alert #%d", a.Name, j+1)
			}
		}
		if err != nil {
			if l := lineOfKeyIn(src, key, line, next); l > 0 && !strings.Contains(key, ".") {
				line = l
			}
			return fmt.Errorf("%s:%d: alert #%d: %w", path, line, i+1, err)
		}
		seen[a.Name] = i
	}
	return nil
}

// headerLines returns the 1-based line of each [[name]] header.
func headerLines(src []byte, name string) []int {
	var lines []int
	for i, l := range strings.Split(string(src), "\n") {
		if isHeader(l, "[[", name, "]]") {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// alerting is the alert rules at run time: the engine fed by the hub, the
// notifier, and where their events are shown.
type alerting struct {
	device   string
	engine   *alert.Engine
	notifier *alert.Notifier
	rules    int

	// Where events go; set by start before the engine runs.
	h       *hub.Hub
	outputs []func(alert.Event)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newAlerting builds the engine of cfg's [[alert]] rules, its state and
// its notification queue kept in stateDir.
func newAlerting(cfg *Config, infos []hub.SensorInfo, stateDir string, log *slog.Logger) *alerting {
	a := &alerting{device: cfg.Device}
	rules := alertRules(cfg)
	a.rules = len(rules)
	sensors := make([]alert.SensorInfo, len(infos))
	for i, s := range infos {
		sensors[i] = alert.SensorInfo{Name: s.Name, MaxGap: s.MaxGap}
	}
	log = log.With("component", "alert")
	if len(rules) > 0 {
		a.notifier = alert.NewNotifier(&alert.NotifierOptions{
			Device: cfg.Device, DashboardURL: dashboardURL(cfg.Listen), StateDir: stateDir, Logger: log,
		})
	}
	a.engine = alert.New(&alert.Options{
		Rules: rules, Sensors: sensors, StateDir: stateDir, Notifier: a.notifier, Logger: log,
		OnEvent: a.publish,
	})
	return a
}

// sinks returns the hub's sinks with the engine added when there are rules.
func (a *alerting) sinks(s []hub.Sink) []hub.Sink {
	if a.rules == 0 {
		return s
	}
	return append(s, a.engine)
}

// start shows the rules firing since before a restart and runs the engine
// and the notifier until close. Each event goes to h (the dashboard) and
// to every output (MQTT).
func (a *alerting) start(h *hub.Hub, outputs ...func(alert.Event)) {
	a.h, a.outputs = h, outputs
	if a.rules == 0 {
		return
	}
	// The dashboard gets the rules firing from before a restart; MQTT
	// gets every rule's state, so that Home Assistant shows each entity
	// on or off at once.
	for _, ev := range a.engine.Firing() {
		a.publish(ev)
	}
	for _, r := range a.engine.Rules() {
		if r.State != "firing" {
			for _, out := range a.outputs {
				out(alert.Event{Rule: r.Name, Sensor: r.Sensor, When: r.When, Since: r.Since})
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Go(func() { a.engine.Run(ctx) })
	a.wg.Go(func() { a.notifier.Run(ctx) })
}

// close stops the engine and the notifier; undelivered messages stay on
// disk for the next start.
func (a *alerting) close() {
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
		a.cancel = nil
	}
}

// publish shows ev on the dashboard and the outputs.
func (a *alerting) publish(ev alert.Event) {
	if a.h != nil {
		a.h.SetAlert(hub.Alert{Rule: ev.Rule, Sensor: ev.Sensor, Firing: ev.Firing, When: ev.When,
			Value: ev.Value, Milli: ev.Milli, Unit: reading.Unit(ev.Unit), HasValue: ev.Has, Since: ev.Since, Time: ev.Time})
	}
	for _, out := range a.outputs {
		out(ev)
	}
}

// alertJSON is one rule in GET /api/alerts.
type alertJSON struct {
	Rule       string   `json:"rule"`
	Sensor     string   `json:"sensor"`
	When       string   `json:"when"`
	Clear      string   `json:"clear,omitempty"`
	ForMS      int64    `json:"for_ms"`
	ClearForMS int64    `json:"clear_for_ms"`
	Notify     int      `json:"notify"` // how many notification URLs (they may hold secrets)
	State      string   `json:"state"`  // ok, pending or firing
	Since      string   `json:"since,omitempty"`
	Firings    uint64   `json:"firings"`
	Value      string   `json:"value,omitempty"`
	V          *float64 `json:"v"`
	Unit       string   `json:"unit,omitempty"`
	ValueTime  string   `json:"value_time,omitempty"`
}

// api serves GET /api/alerts: every rule, its state, since when and the
// latest value it looked at.
func (a *alerting) api(w http.ResponseWriter, r *http.Request) {
	if _, ok := start(w, r); !ok {
		return
	}
	out := struct {
		Device string      `json:"device"`
		Alerts []alertJSON `json:"alerts"`
	}{Device: a.device, Alerts: []alertJSON{}}
	for _, s := range a.engine.Rules() {
		j := alertJSON{Rule: s.Name, Sensor: s.Sensor, When: s.When, Clear: s.Clear, ForMS: s.For.Milliseconds(),
			ClearForMS: s.ClearFor.Milliseconds(), Notify: a.engine.NotifyCount(s.Name), State: s.State, Firings: s.Firings, Value: s.Value}
		if !s.Since.IsZero() {
			j.Since = s.Since.UTC().Format(time.RFC3339Nano)
		}
		if s.HasValue {
			v := float64(s.Milli) / 1000
			j.V, j.Unit, j.ValueTime = &v, s.Unit, s.ValueTime.UTC().Format(time.RFC3339Nano)
		}
		out.Alerts = append(out.Alerts, j)
	}
	b, _ := json.Marshal(out) // strings and numbers only
	reply(w, r, "application/json", append(b, '\n'))
}

// alertOutputs returns where alert events go besides the dashboard: the
// MQTT bridge's retained alert topics, when it runs.
func alertOutputs(br *bridge.MQTT) []func(alert.Event) {
	if br == nil {
		return nil
	}
	return []func(alert.Event){func(ev alert.Event) { br.PublishAlert(ev.Rule, ev.Firing) }}
}

// alertNames returns the names of cfg's rules, for the bridge.
func alertNames(cfg *Config) []string {
	names := make([]string, len(cfg.Alerts))
	for i, a := range cfg.Alerts {
		names[i] = a.Name
	}
	return names
}

// writeMetrics writes the alert families (their headers even without
// rules, so that the set of families does not depend on the config).
func (a *alerting) writeMetrics(w *metrics.Writer) {
	w.Family("sensorcast_alert_firing", metrics.Gauge, "1 while the alert rule fires, by rule.")
	var rules []alert.RuleStatus
	if a != nil {
		rules = a.engine.Rules()
	}
	for _, r := range rules {
		v := 0.0
		if r.State == "firing" {
			v = 1
		}
		w.Sample("sensorcast_alert_firing", v, "rule", r.Name)
	}
	w.Family("sensorcast_alert_firings_total", metrics.Counter, "Times the alert rule fired, by rule (a rule still firing after a restart counts once).")
	for _, r := range rules {
		w.Uint("sensorcast_alert_firings_total", r.Firings, "rule", r.Name)
	}
	var st alert.NotifierStats
	if a != nil && a.notifier != nil {
		st = a.notifier.Stats()
	}
	w.Family("sensorcast_alert_notifications_total", metrics.Counter, "Alert notifications by result: sent, failed (each failed attempt), dropped (given up).")
	w.Uint("sensorcast_alert_notifications_total", st.Sent, "result", "sent")
	w.Uint("sensorcast_alert_notifications_total", st.Failed, "result", "failed")
	w.Uint("sensorcast_alert_notifications_total", st.Dropped, "result", "dropped")
	w.One("sensorcast_alert_queue_depth", metrics.Gauge, "Alert notifications waiting for delivery (kept in the state directory).", float64(st.Queued))
}
