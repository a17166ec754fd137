package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/dashboard"
	"github.com/sensorcast/sensorcast/ws"
)

// wsPath is where the live stream is served; the dashboard's JavaScript
// learns it from the page.
const wsPath = "/ws"

// newMux routes the dashboard, the WebSocket stream and the JSON API:
//
//	GET /api/sensors                          every sensor, its health and latest reading
//	GET /api/history?sensor=NAME&since=WHEN   the history message the charts get
//	GET /api/history.csv?sensor=NAME&since=WHEN  one sensor's history as CSV
//	GET /api/alerts                           every alert rule and its state (given in more)
//
// sensor is optional for /api/history (default: all); since is optional
// everywhere (see parseSince).
//
// g, if not nil, admits every request first (see package access): the
// page and the API through g.Handler, wsPath through wsSrv's
// Options.Admit, which must be g.Admit, so that each request is checked
// once. At most maxHistory history requests (JSON or CSV) are served at
// once; more get 503 (0: the default). more adds API routes behind the
// same admission.
func newMux(wsSrv *ws.Server, h *hub.Hub, g *access.Guard, maxHistory int, more ...apiRoute) http.Handler {
	if maxHistory <= 0 {
		maxHistory = defaultMaxHistory
	}
	mux := http.NewServeMux()
	a := &api{hub: h, now: time.Now, guard: g, historySlots: make(chan struct{}, maxHistory)}
	mux.HandleFunc("/api/sensors", a.sensors)
	mux.HandleFunc("/api/history", a.history)
	mux.HandleFunc("/api/history.csv", a.historyCSV)
	for _, m := range more {
		mux.HandleFunc(m.path, m.h)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such endpoint: try /api/sensors, /api/history, /api/history.csv or /api/alerts")
	})
	mux.Handle("/", dashboard.Handler(&dashboard.Options{WSPath: wsPath}))
	var rest http.Handler = mux
	if g != nil {
		rest = g.Handler(mux)
	}
	top := http.NewServeMux()
	top.Handle(wsPath, wsSrv)
	top.Handle("/", rest)
	return top
}

// apiRoute is an API endpoint served beside the hub's.
type apiRoute struct {
	path string
	h    http.HandlerFunc
}

// api serves the HTTP API from the hub's state.
type api struct {
	hub   *hub.Hub
	now   func() time.Time // the clock for relative since values
	guard *access.Guard    // counts and logs busy refusals; may be nil

	// historySlots holds one token per history request being served: the
	// history of every sensor is the largest response, built in memory.
	historySlots chan struct{}
}

// RejectBusy is the refusal reason (see access.Guard.Rejections) of a
// history request beyond [http] max_history_requests.
const RejectBusy = "history-busy"

// acquire takes a history slot, or answers 503 and returns false.
func (a *api) acquire(w http.ResponseWriter, r *http.Request) bool {
	if a.historySlots == nil {
		return true
	}
	select {
	case a.historySlots <- struct{}{}:
		return true
	default:
	}
	msg := fmt.Sprintf("busy: %d history requests are being served; try again in a second", cap(a.historySlots))
	if a.guard != nil {
		a.guard.Count(RejectBusy, r.RemoteAddr, msg)
	}
	w.Header().Set("Retry-After", "1")
	apiError(w, http.StatusServiceUnavailable, msg)
	return false
}

func (a *api) release() {
	if a.historySlots != nil {
		<-a.historySlots
	}
}

// apiError writes {"error":msg} with status code.
func apiError(w http.ResponseWriter, code int, msg string) { access.WriteError(w, code, msg) }

// start checks the method and the query keys; it writes the error and
// returns false when the request is bad.
func start(w http.ResponseWriter, r *http.Request, keys ...string) (url.Values, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use GET")
		return nil, false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad query: "+err.Error())
		return nil, false
	}
	for k, v := range q {
		known := false
		for _, want := range keys {
			known = known || k == want
		}
		switch {
		case !known:
			apiError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q (known: %s)", k, strings.Join(keys, ", ")))
			return nil, false
		case len(v) > 1:
			apiError(w, http.StatusBadRequest, fmt.Sprintf("query parameter %q given %d times", k, len(v)))
			return nil, false
		}
	}
	return q, true
}

func reply(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func (a *api) sensors(w http.ResponseWriter, r *http.Request) {
	if _, ok := start(w, r); !ok {
		return
	}
	reply(w, r, "application/json", append(a.hub.AppendSensors(nil), '\n'))
}

// query reads the sensor and since parameters; it writes the error and
// returns false when they are bad or the sensor is unknown.
func (a *api) query(w http.ResponseWriter, r *http.Request, needSensor bool) (sensor string, since time.Time, ok bool) {
	q, ok := start(w, r, "sensor", "since")
	if !ok {
		return "", time.Time{}, false
	}
	sensor = q.Get("sensor")
	if _, given := q["sensor"]; given || needSensor {
		if sensor == "" {
			apiError(w, http.StatusBadRequest, "query parameter \"sensor\" is required: the name of a sensor, as /api/sensors lists them")
			return "", time.Time{}, false
		}
		if !a.hub.Has(sensor) {
			apiError(w, http.StatusNotFound, fmt.Sprintf("no sensor %q on this device: see /api/sensors", sensor))
			return "", time.Time{}, false
		}
	}
	if s := q.Get("since"); s != "" {
		t, err := parseSince(s, a.now())
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return "", time.Time{}, false
		}
		since = t
	}
	return sensor, since, true
}

func (a *api) history(w http.ResponseWriter, r *http.Request) {
	sensor, since, ok := a.query(w, r, false)
	if !ok || !a.acquire(w, r) {
		return
	}
	defer a.release()
	reply(w, r, "application/json", append(a.hub.AppendHistory(nil, sensor, since), '\n'))
}

func (a *api) historyCSV(w http.ResponseWriter, r *http.Request) {
	sensor, since, ok := a.query(w, r, true)
	if !ok || !a.acquire(w, r) {
		return
	}
	defer a.release()
	body, ok := a.hub.AppendHistoryCSV(nil, sensor, since)
	if !ok { // the sensor was checked; the hub never forgets one
		apiError(w, http.StatusNotFound, fmt.Sprintf("no sensor %q on this device", sensor))
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(sensor)+`.csv"`)
	reply(w, r, "text/csv; charset=utf-8; header=present", body)
}

// safeFileName replaces each character of s but ASCII letters, digits,
// '.', '_' and '-' with '_' (an invalid UTF-8 byte counts as one).
func safeFileName(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// errSince explains the forms parseSince accepts.
var errSince = errors.New(`since must be Unix milliseconds (1795721607120), an RFC 3339 time (2026-11-26T19:33:27Z) or a duration back from now (10m, 1h30m)`)

// parseSince reads the since query parameter: Unix milliseconds, an RFC 3339
// time, or a positive Go duration meaning that long before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" || len(s) > 64 {
		return time.Time{}, fmt.Errorf("since %.64q: %w", s, errSince)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 || ms > 1<<53 {
			return time.Time{}, fmt.Errorf("since %q: out of range: %w", s, errSince)
		}
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("since %q: a duration must be positive: %w", s, errSince)
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since %q: %w", s, errSince)
}
