// Package access is sensorcast's admission: it decides, before any handler
// runs, whether a request or a connection is served. Three rules, in order:
//
//   - the Host must name this device (its hostname, hostname.local,
//     localhost, an IP address, or a name from the config), and an Origin,
//     when a browser sends one, must name one of those too: this defeats
//     DNS rebinding, where a page on another site reaches the device
//     under the attacker's own name;
//   - the request must carry the access token (Authorization: Bearer, the
//     cookie that ?token= sets, or ?token=), unless it comes from a
//     loopback address to a loopback Host and Options.TrustLoopback is set;
//     wrong tokens are counted per client address and, beyond
//     Options.MaxFailures a minute, answered 429;
//   - per-address caps on WebSockets and HTTP connections, and a cap on
//     all HTTP connections.
//
// Every refusal is counted by reason (Guard.Rejections) and logged at Info,
// at most once per reason every few seconds with a count of the others.
// Start with New; Guard.Handler wraps the HTTP handler, Guard.Admit is the
// WebSocket server's Options.Admit, Guard.ConnState is the http.Server's.
package access

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CookieName is the cookie that holds the token in a browser.
const CookieName = "sensorcast_token"

// Defaults for zero Options fields.
const (
	DefaultMaxFailures  = 10
	DefaultMaxWSPerIP   = 16
	DefaultMaxHTTPPerIP = 32
	DefaultMaxHTTP      = 256
	DefaultLogEvery     = 10 * time.Second
)

// Options configures a Guard. Zero fields take their defaults.
type Options struct {
	// Token is the access token; "" turns the token check off (auth =
	// "none"): anyone who reaches the port reads every sensor.
	Token string

	// TrustLoopback lets requests from a loopback address with a loopback
	// Host (localhost, 127.0.0.1, [::1]) in without the token, and exempts
	// loopback addresses from the per-address caps, so that local scripts
	// and a laptop's own browser keep working. A reverse proxy on the same
	// machine makes every request loopback, but it forwards the public
	// Host, so the token is still needed through it.
	TrustLoopback bool

	// Hostname is this machine's name; default os.Hostname. It and
	// Hostname + ".local" are allowed in Host.
	Hostname string

	// Hosts lists more names that Host may give (a DNS name pointing at
	// the device, a reverse proxy's name), compared without regard to case.
	Hosts []string

	// Secure marks the cookie Secure (set it when serving TLS).
	Secure bool

	// APIPrefix is the path under which ?token= is taken and removed
	// from the query, without the redirect that pages get. Default "/api/".
	APIPrefix string

	// MaxFailures is how many wrong tokens one client address (an IPv6
	// /64) may send in a minute; beyond it, requests that need the token
	// get 429 until failures age out at MaxFailures a minute. Default 10.
	MaxFailures int

	// MaxWSPerIP caps the WebSockets of one address. Default 16.
	MaxWSPerIP int

	// MaxHTTPPerIP caps the HTTP connections (WebSockets not included) of
	// one address. Default 32.
	MaxHTTPPerIP int

	// MaxHTTP caps all HTTP connections (WebSockets not included); more
	// are closed at once. Default 256.
	MaxHTTP int

	// LogEvery is the least time between two log lines of one kind of
	// refusal. Default 10 s.
	LogEvery time.Duration

	// Logger receives refusals at Info. Default: discard.
	Logger *slog.Logger

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Reasons for a refusal, the keys of Guard.Rejections.
const (
	RejectHost      = "host"        // Host does not name this device (421)
	RejectOrigin    = "origin"      // Origin does not name this device (403)
	RejectNoToken   = "no-token"    // no token given (401)
	RejectBadToken  = "bad-token"   // a wrong token (401)
	RejectThrottled = "throttled"   // too many wrong tokens from the address (429)
	RejectWSPerIP   = "ws-per-ip"   // MaxWSPerIP reached (429)
	RejectHTTPPerIP = "http-per-ip" // MaxHTTPPerIP reached (connection closed)
	RejectHTTP      = "http-total"  // MaxHTTP reached (connection closed)
)

// Guard applies the rules of Options. Its methods are safe for concurrent
// use.
type Guard struct {
	o     Options
	token atomic.Pointer[string]
	hosts map[string]bool

	mu       sync.Mutex
	failures map[netip.Addr]*bucket // wrong tokens per client address
	ws       map[netip.Addr]int     // open WebSockets per address
	http     map[netip.Addr]int     // open HTTP connections per address
	httpN    int                    // all open HTTP connections
	counts   map[string]uint64
	logged   map[string]time.Time // last log line of each reason
	quiet    map[string]int       // refusals not logged since
}

// bucket is a token bucket of allowed failures.
type bucket struct {
	left float64
	at   time.Time
}

// New returns a Guard configured by o (nil for defaults, which checks a
// Host and no token).
func New(o *Options) *Guard {
	g := &Guard{
		failures: make(map[netip.Addr]*bucket),
		ws:       make(map[netip.Addr]int),
		http:     make(map[netip.Addr]int),
		counts:   make(map[string]uint64),
		logged:   make(map[string]time.Time),
		quiet:    make(map[string]int),
	}
	if o != nil {
		g.o = *o
	}
	if g.o.Hostname == "" {
		g.o.Hostname, _ = os.Hostname()
	}
	if g.o.APIPrefix == "" {
		g.o.APIPrefix = "/api/"
	}
	if g.o.MaxFailures <= 0 {
		g.o.MaxFailures = DefaultMaxFailures
	}
	if g.o.MaxWSPerIP <= 0 {
		g.o.MaxWSPerIP = DefaultMaxWSPerIP
	}
	if g.o.MaxHTTPPerIP <= 0 {
		g.o.MaxHTTPPerIP = DefaultMaxHTTPPerIP
	}
	if g.o.MaxHTTP <= 0 {
		g.o.MaxHTTP = DefaultMaxHTTP
	}
	if g.o.LogEvery <= 0 {
		g.o.LogEvery = DefaultLogEvery
	}
	if g.o.Logger == nil {
		g.o.Logger = slog.New(slog.DiscardHandler)
	}
	if g.o.Now == nil {
		g.o.Now = time.Now
	}
	g.hosts = map[string]bool{"localhost": true}
	if h := strings.ToLower(strings.TrimSuffix(g.o.Hostname, ".")); h != "" {
		g.hosts[h] = true
		if !strings.Contains(h, ".") {
			g.hosts[h+".local"] = true
		}
	}
	for _, h := range g.o.Hosts {
		g.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	g.SetToken(g.o.Token)
	return g
}

// SetToken replaces the token (after a rotation); "" turns the check off.
func (g *Guard) SetToken(t string) { g.token.Store(&t) }

// Token returns the token, "" when the check is off.
func (g *Guard) Token() string { return *g.token.Load() }

// Rejections returns how many refusals there have been, by reason (the
// Reject constants).
func (g *Guard) Rejections() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]uint64, len(g.counts))
	for k, v := range g.counts {
		m[k] = v
	}
	return m
}

// Count records a refusal for reason from remote (an address as in
// http.Request.RemoteAddr) and logs it at Info, rate-limited: at most one
// line per reason every Options.LogEvery, which tells how many were not
// logged since. It is exported for refusals decided elsewhere (a busy
// endpoint), so that all of them are counted and logged alike.
func (g *Guard) Count(reason, remote, detail string) {
	now := g.o.Now()
	g.mu.Lock()
	g.counts[reason]++
	last, seen := g.logged[reason]
	if seen && now.Sub(last) < g.o.LogEvery {
		g.quiet[reason]++
		g.mu.Unlock()
		return
	}
	g.logged[reason] = now
	quiet := g.quiet[reason]
	g.quiet[reason] = 0
	g.mu.Unlock()
	g.o.Logger.Info("request refused", "reason", reason, "remote", remote, "detail", detail, "not_logged_since", quiet)
}

// hostAllowed reports whether host (a Host header or an Origin's host,
// with or without a port) names this device. Any IP address does: DNS
// rebinding needs a name, and a browser that reached the device by address
// has it as its origin.
func (g *Guard) hostAllowed(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.ToLower(h)
	return g.hosts[h] || strings.HasSuffix(h, ".localhost")
}

// loopbackHost reports whether a Host names the loopback interface.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().IsLoopback()
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// clientAddr is the address that per-client limits key on: the remote IP,
// or its /64 for IPv6, where one host commonly holds a whole /64.
func clientAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	a := ap.Addr().Unmap()
	if a.Is6() && !a.IsLoopback() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a, true
}

// exempt reports whether remote is a loopback address with TrustLoopback.
func (g *Guard) exempt(remote string) bool {
	a, ok := clientAddr(remote)
	return ok && g.o.TrustLoopback && a.IsLoopback()
}

// refusal is why a request was refused.
type refusal struct {
	status int
	reason string
	msg    string
	retry  int // Retry-After seconds, or 0
}

// check applies the Host, Origin and token rules to r; nil admits it.
func (g *Guard) check(r *http.Request) *refusal {
	if !g.hostAllowed(r.Host) {
		return &refusal{http.StatusMisdirectedRequest, RejectHost,
			fmt.Sprintf("this device does not answer to the name %.100q: use its hostname, its address or a name listed in [http] hosts", r.Host), 0}
	}
	if origins := r.Header.Values("Origin"); len(origins) > 0 {
		u, err := url.Parse(origins[0])
		if len(origins) > 1 || err != nil || (u.Scheme != "http" && u.Scheme != "https") || !g.hostAllowed(u.Host) {
			return &refusal{http.StatusForbidden, RejectOrigin,
				fmt.Sprintf("requests from pages of %.100q are not allowed", origins[0]), 0}
		}
	}
	want := *g.token.Load()
	if want == "" || (g.exempt(r.RemoteAddr) && loopbackHost(r.Host)) {
		return nil
	}
	got, given := presented(r)
	a, _ := clientAddr(r.RemoteAddr)
	if g.throttled(a) {
		return &refusal{http.StatusTooManyRequests, RejectThrottled,
			"too many wrong access tokens from your address: try again in a minute", (60 + g.o.MaxFailures - 1) / g.o.MaxFailures}
	}
	if !given {
		return &refusal{http.StatusUnauthorized, RejectNoToken,
			"this sensorcast needs its access token: open the URL it printed at start (sensorcast token -url prints it again), or send Authorization: Bearer <token>", 0}
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		g.fail(a)
		return &refusal{http.StatusUnauthorized, RejectBadToken, "wrong access token", 0}
	}
	return nil
}

// presented returns the token r carries: Authorization: Bearer, else the
// cookie, else ?token=.
func presented(r *http.Request) (string, bool) {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, t, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t), true
		}
		return "", true // another scheme: a wrong token
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	if q := r.URL.Query(); q.Has("token") {
		return q.Get("token"), true
	}
	return "", false
}

// throttled reports whether a has used up its failures.
func (g *Guard) throttled(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.refill(a)
	return b != nil && b.left < 1
}

// refill brings a's bucket up to date and returns it (nil if a has none).
// g.mu is held.
func (g *Guard) refill(a netip.Addr) *bucket {
	b := g.failures[a]
	if b == nil {
		return nil
	}
	now := g.o.Now()
	rate := float64(g.o.MaxFailures) / float64(time.Minute)
	b.left = min(float64(g.o.MaxFailures), b.left+rate*float64(now.Sub(b.at)))
	b.at = now
	return b
}

// maxBuckets bounds the failure table; beyond it, full buckets (addresses
// whose failures have all aged out) are dropped.
const maxBuckets = 4096

// fail records a wrong token from a.
func (g *Guard) fail(a netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.refill(a)
	if b == nil {
		if len(g.failures) >= maxBuckets {
			for k := range g.failures {
				if g.refill(k).left >= float64(g.o.MaxFailures) {
					delete(g.failures, k)
				}
			}
			if len(g.failures) >= maxBuckets {
				clear(g.failures) // a flood from many addresses: start again
			}
		}
		b = &bucket{left: float64(g.o.MaxFailures), at: g.o.Now()}
		g.failures[a] = b
	}
	b.left = max(0, b.left-1)
}

// refuse writes f as a JSON error, counts and logs it.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, f *refusal) {
	g.Count(f.reason, r.RemoteAddr, f.msg)
	h := w.Header()
	switch f.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="sensorcast"`)
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(max(1, f.retry)))
	}
	WriteError(w, f.status, f.msg)
}

// WriteError writes {"error":msg} with status code, as the API does.
func WriteError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b := append([]byte(`{"error":`), strconv.Quote(msg)...)
	w.Write(append(b, "}\n"...))
}

// Handler returns next behind the rules: refused requests get a JSON
// error. A page request (GET or HEAD outside APIPrefix) whose ?token= is
// right gets the cookie (HttpOnly, SameSite=Strict) and a 303 redirect to
// the same URL without the token; under APIPrefix the token is taken out
// of the query and the request goes on.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := g.check(r); f != nil {
			g.refuse(w, r, f)
			return
		}
		q := r.URL.Query()
		if !q.Has("token") {
			next.ServeHTTP(w, r)
			return
		}
		t := q.Get("token")
		q.Del("token")
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r2.RequestURI = r2.URL.RequestURI()
		if strings.HasPrefix(r.URL.Path, g.o.APIPrefix) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r2)
			return
		}
		if want := *g.token.Load(); want != "" && subtle.ConstantTimeCompare([]byte(t), []byte(want)) == 1 {
			http.SetCookie(w, &http.Cookie{
				Name:     CookieName,
				Value:    t,
				Path:     "/",
				MaxAge:   400 * 24 * 3600,
				HttpOnly: true,
				Secure:   g.o.Secure,
				SameSite: http.SameSiteStrictMode,
			})
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, r2.URL.RequestURI(), http.StatusSeeOther)
	})
}

// Admit is the WebSocket server's Options.Admit: the rules of Handler,
// then MaxWSPerIP. The release it returns frees the connection's place.
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	if f := g.check(r); f != nil {
		g.refuse(w, r, f)
		return nil, false
	}
	if g.exempt(r.RemoteAddr) {
		return nil, true
	}
	a, ok := clientAddr(r.RemoteAddr)
	if !ok {
		return nil, true
	}
	g.mu.Lock()
	if g.ws[a] >= g.o.MaxWSPerIP {
		g.mu.Unlock()
		g.refuse(w, r, &refusal{http.StatusTooManyRequests, RejectWSPerIP,
			fmt.Sprintf("too many WebSockets from your address (%d)", g.o.MaxWSPerIP), 5})
		return nil, false
	}
	g.ws[a]++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		if g.ws[a]--; g.ws[a] <= 0 {
			delete(g.ws, a)
		}
		g.mu.Unlock()
	}, true
}

// ConnState is the http.Server's ConnState: it counts HTTP connections and
// closes a new one beyond MaxHTTP, or beyond MaxHTTPPerIP for its address.
// (It runs on the server's accept loop, so it only closes: no response.)
func (g *Guard) ConnState(c net.Conn, st http.ConnState) {
	remote := c.RemoteAddr().String()
	a, ok := clientAddr(remote)
	if !ok {
		return
	}
	exempt := g.exempt(remote)
	switch st {
	case http.StateNew:
		g.mu.Lock()
		g.httpN++
		g.http[a]++
		var reason string
		switch {
		case g.httpN > g.o.MaxHTTP:
			reason = RejectHTTP
		case !exempt && g.http[a] > g.o.MaxHTTPPerIP:
			reason = RejectHTTPPerIP
		}
		g.mu.Unlock()
		if reason != "" {
			// Still counted: StateClosed follows and uncounts it.
			c.Close()
			g.Count(reason, remote, "too many HTTP connections")
		}
	case http.StateHijacked, http.StateClosed:
		g.mu.Lock()
		g.httpN--
		if g.http[a]--; g.http[a] <= 0 {
			delete(g.http, a)
		}
		g.mu.Unlock()
	}
}
