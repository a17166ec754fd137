package main

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/metrics"
	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/ws"
)

// Observability endpoints, served before access control decides (the
// health checks) or through it (the metrics):
//
//	GET /healthz   200 while serving, a small JSON body; no token
//	GET /readyz    200 once started and while a sensor works, else 503; no token
//	GET /metrics   Prometheus text format; the access token, or [metrics] token_file's
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
	metricsPath = "/metrics"
)

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	// TokenFile names a file holding a bearer token that lets a scraper
	// (Prometheus's authorization.credentials_file) read /metrics, and
	// nothing else, without the access token. "": only the access token.
	TokenFile string `toml:"token_file"`
}

// minScrapeToken is the shortest scrape token accepted: 128 bits as hex.
const minScrapeToken = 32

// loadScrapeToken reads the token of c.TokenFile, "" when none is set.
func (c MetricsConfig) loadScrapeToken() (string, error) {
	if c.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("[metrics] token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minScrapeToken || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("[metrics] token_file %s: want one token of at least %d characters without spaces (e.g. openssl rand -hex 16 > %s)",
			c.TokenFile, minScrapeToken, c.TokenFile)
	}
	return tok, nil
}

// observer holds what /healthz, /readyz and /metrics report. Its parts are
// set once, before the server starts; bridge may be nil.
type observer struct {
	start   time.Time
	ws      *ws.Server
	hub     *hub.Hub
	poller  *sensors.Poller
	bridge  bridgeStats   // nil without a bridge
	guard   *access.Guard // refusals by reason; may be nil
	alerts  *alerting     // the alert rules; may be nil
	scrape  string        // the scrape token; "" for none
	serving atomic.Bool   // the listener is open and served

	mu     sync.Mutex
	states []hub.SensorState // scratch of metricsBody, under mu
	vals   []valueSample     // likewise
	w      metrics.Writer    // likewise
	reqs   map[reqKey]uint64 // HTTP requests by route and status
}

// bridgeStats is what the observer needs of bridge.MQTT.
type bridgeStats interface{ Stats() bridge.Stats }

// reqKey is one HTTP requests counter.
type reqKey struct {
	route string
	code  int
}

// routes are the route labels of sensorcast_http_requests_total: a fixed
// set, so that a scan of random paths cannot grow the series without bound.
var routes = []string{"/api/sensors", "/api/history", "/api/history.csv", "/api/alerts", "/api/other", healthzPath, readyzPath, metricsPath, wsPath, "/"}

func route(path string) string {
	switch {
	case slices.Contains(routes, path) && path != "/api/other":
		return path
	case strings.HasPrefix(path, "/api/"):
		return "/api/other"
	}
	return "/" // the dashboard, and its 404s
}

// handler returns next behind the observability endpoints, counting every
// request it serves by route and status. admit, if not nil, is the access
// control /api is behind; /metrics goes through it unless the request
// carries the scrape token.
func (o *observer) handler(next http.Handler, admit func(http.Handler) http.Handler) http.Handler {
	var m http.Handler = http.HandlerFunc(o.metrics)
	if admit != nil {
		m = admit(m)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(healthzPath, o.healthz)
	mux.HandleFunc(readyzPath, o.readyz)
	mux.Handle(metricsPath, o.scrapeAuth(m))
	mux.Handle("/", next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		o.mu.Lock()
		if o.reqs == nil {
			o.reqs = make(map[reqKey]uint64)
		}
		o.reqs[reqKey{route(r.URL.Path), sw.code}]++
		o.mu.Unlock()
	})
}

// scrapeAuth serves the request with m's handler itself when it carries
// the scrape token, and through admitted (the access control) otherwise.
func (o *observer) scrapeAuth(admitted http.Handler) http.Handler {
	direct := http.HandlerFunc(o.metrics)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.scrape != "" {
			if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
				subtle.ConstantTimeCompare([]byte(tok), []byte(o.scrape)) == 1 {
				direct.ServeHTTP(w, r)
				return
			}
		}
		admitted.ServeHTTP(w, r)
	})
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack hands the connection over (a WebSocket upgrade that reaches
// net/http), recorded as 101.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.code == 0 {
		s.code = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// health is what /healthz and /readyz decide from.
type health struct {
	started, ok, failing int // sensors polled at least once; working; failing
	total                int
}

func (o *observer) health() health {
	var h health
	for _, s := range o.poller.Stats() {
		h.total++
		if s.Reads+s.Failures > 0 {
			h.started++
		}
		if s.Consecutive > 0 {
			h.failing++
		} else if s.Reads > 0 {
			h.ok++
		}
	}
	return h
}

// ready reports whether /readyz answers 200, and why not.
func (o *observer) ready() (bool, string) {
	h := o.health()
	switch {
	case !o.serving.Load():
		return false, "not serving yet"
	case h.started < h.total:
		return false, fmt.Sprintf("%d of %d sensors not polled yet", h.total-h.started, h.total)
	case h.ok == 0:
		return false, fmt.Sprintf("every sensor is failing (%d)", h.failing)
	}
	return true, ""
}

func noStore(w http.ResponseWriter, typ string) {
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// healthz answers 200 while the process serves, with
// {"status","version","uptime_s","sensors":{"ok","failing","total"},"bridge":null|{"connected","queued"}}.
func (o *observer) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	h := o.health()
	b := append([]byte(nil), `{"status":"ok","version":`...)
	b = reading.AppendString(b, version)
	b = append(b, `,"uptime_s":`...)
	b = strconv.AppendInt(b, int64(time.Since(o.start)/time.Second), 10)
	b = fmt.Appendf(b, `,"sensors":{"ok":%d,"failing":%d,"total":%d},"bridge":`, h.ok, h.failing, h.total)
	if o.bridge == nil {
		b = append(b, "null"...)
	} else {
		st := o.bridge.Stats()
		b = fmt.Appendf(b, `{"connected":%t,"queued":%d}`, st.Connected, st.Queued)
	}
	b = append(b, "}\n"...)
	noStore(w, "application/json")
	w.Write(b)
}

// readyz answers 200 once the listener is served and every configured
// sensor has been polled, while at least one works; 503 otherwise.
func (o *observer) readyz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	ok, why := o.ready()
	if !ok {
		apiError(w, http.StatusServiceUnavailable, "not ready: "+why)
		return
	}
	noStore(w, "application/json")
	w.Write([]byte(`{"status":"ready"}` + "\n"))
}

func (o *observer) metrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	body := o.metricsBody()
	noStore(w, metrics.ContentType)
	w.Write(body)
}
