package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Config is the whole configuration of sensorcast, as read from the TOML
// file given with -config. Flags given on the command line override it.
type Config struct {
	Device  string         `toml:"device"` // default: the hostname
	Listen  string         `toml:"listen"` // default: ":8080"
	Sensors []SensorConfig `toml:"sensor"` // one [[sensor]] table each
	History HistoryConfig  `toml:"history"`
	HTTP    HTTPConfig     `toml:"http"`
	Metrics MetricsConfig  `toml:"metrics"` // see observe.go
	MQTT    *bridge.Config `toml:"mqtt"`    // the [mqtt] table; nil: no bridge unless -mqtt
	Fleet   FleetConfig    `toml:"fleet"`   // read by sensorcast fleet only, see fleet.go
	Alerts  []AlertConfig  `toml:"alert"`   // one [[alert]] table each, see alert.go
}

// HTTPConfig is the [http] table: who may read the dashboard, the API and
// the stream, and the limits that keep a busy or hostile LAN from
// exhausting a Pi. Zero values take the defaults given.
type HTTPConfig struct {
	// Auth is "token" (the default: the token kept in the state
	// directory is needed, see package access) or "none" (anyone who
	// reaches the port reads every sensor; a warning is logged at start).
	Auth string `toml:"auth"`
	// TrustLoopback lets requests from this machine to a loopback Host in
	// without the token, and exempts it from the per-address caps.
	// Default true.
	TrustLoopback *bool `toml:"trust_loopback"`
	// Hosts lists more names the device answers to (besides its
	// hostname, hostname.local, localhost and any IP address).
	Hosts []string `toml:"hosts"`

	// TLS is "self-signed" (HTTPS with a certificate made on first start
	// and kept in the state directory, see package tlscert), or "" or
	// "off": HTTPS only if CertFile and KeyFile are given.
	TLS string `toml:"tls"`
	// CertFile and KeyFile are a PEM certificate chain and its key to
	// serve HTTPS with, read again at SIGHUP; give both or neither. The
	// key must be readable by its owner only.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`

	MaxWebSockets      int `toml:"max_websockets"`         // default 1024
	MaxWebSocketsPerIP int `toml:"max_websockets_per_ip"`  // default 16
	MaxConns           int `toml:"max_connections"`        // HTTP, WebSockets not included; default 256
	MaxConnsPerIP      int `toml:"max_connections_per_ip"` // default 32
	MaxHistory         int `toml:"max_history_requests"`   // /api/history requests at once; default 4
}

// Defaults of the [http] limits.
const (
	defaultMaxHistory = 4
	maxHTTPLimit      = 1 << 16
)

// check returns the key that is wrong and why, or "" and nil.
func (h HTTPConfig) check() (key string, err error) {
	switch h.Auth {
	case "", "token", "none":
	default:
		return "auth", fmt.Errorf("key \"http.auth\": %q: want \"token\" or \"none\"", h.Auth)
	}
	switch {
	case h.TLS != "" && h.TLS != "off" && h.TLS != "self-signed":
		return "tls", fmt.Errorf("key \"http.tls\": %q: want \"self-signed\" or \"off\" (or give cert_file and key_file)", h.TLS)
	case (h.CertFile == "") != (h.KeyFile == ""):
		key := "cert_file"
		if h.CertFile == "" {
			key = "key_file"
		}
		return key, fmt.Errorf("key \"http.%s\": cert_file and key_file go together: give both, or neither", key)
	case h.CertFile != "" && h.TLS != "":
		return "tls", fmt.Errorf("key \"http.tls\": %q with cert_file and key_file: leave tls out to serve those files", h.TLS)
	}
	for _, l := range []struct {
		key string
		v   int
	}{
		{"max_websockets", h.MaxWebSockets}, {"max_websockets_per_ip", h.MaxWebSocketsPerIP},
		{"max_connections", h.MaxConns}, {"max_connections_per_ip", h.MaxConnsPerIP},
		{"max_history_requests", h.MaxHistory},
	} {
		if l.v < 0 || l.v > maxHTTPLimit {
			return l.key, fmt.Errorf("key \"http.%s\": %d out of range (0 for the default, up to %d)", l.key, l.v, maxHTTPLimit)
		}
	}
	for _, name := range h.Hosts {
		if name == "" || strings.ContainsAny(name, " \t/:@[]") {
			return "hosts", fmt.Errorf("key \"http.hosts\": %q is not a host name (give names without scheme or port)", name)
		}
	}
	return "", nil
}

// tlsMode is how the [http] table serves: "off" (plain HTTP),
// "self-signed" or "files" (cert_file and key_file).
func (h HTTPConfig) tlsMode() string {
	switch {
	case h.CertFile != "":
		return "files"
	case h.TLS == "self-signed":
		return "self-signed"
	}
	return "off"
}

// HistoryConfig is the [history] table: how much recent history the device
// keeps of every value for the dashboard's charts and /api/history.
type HistoryConfig struct {
	Window time.Duration `toml:"window"` // e.g. "1h"; default 1h
	Points int           `toml:"points"` // per value; default 3600
}

// Limits of the [history] table: enough for a day at one point a second,
// about 0.7 MB per value at most.
const (
	maxHistoryWindow = 7 * 24 * time.Hour
	maxHistoryPoints = 86400
)

// check returns the key that is out of range and why, or "" and nil.
func (h HistoryConfig) check() (key string, err error) {
	switch {
	case h.Window < 0 || h.Window > maxHistoryWindow:
		return "window", fmt.Errorf("key \"history.window\": %v out of range (0 for the default, up to %v)", h.Window, maxHistoryWindow)
	case h.Points < 0 || h.Points > maxHistoryPoints:
		return "points", fmt.Errorf("key \"history.points\": %d out of range (0 for the default, up to %d)", h.Points, maxHistoryPoints)
	}
	return "", nil
}

// SensorConfig is one [[sensor]] table: the driver, its options and the
// filters of its values, documented in package sensors.
type SensorConfig = sensors.Config

// defaultConfig is what runs without a config file: the simulated sensor and
// this machine's own metrics.
func defaultConfig() *Config {
	return &Config{
		Listen: ":8080",
		Sensors: []SensorConfig{
			{Driver: "sim", Name: "sim", Interval: time.Second},
			{Driver: "host", Name: "host", Interval: 2 * time.Second},
		},
	}
}

// loadConfig reads and checks the file at path. Every error names the file
// and, where it can be found, the line and key.
func loadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(path, src)
}

func parseConfig(path string, src []byte) (*Config, error) {
	c := &Config{Listen: ":8080"}
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := ""
			if pe.LastKey != "" {
				key = fmt.Sprintf(" (key %q)", pe.LastKey)
			}
			return nil, fmt.Errorf("%s:%d: %s%s", path, pe.Position.Line, pe.Message, key)
		}
		// Type mismatches come as "toml: line N (last key ...): ...".
		if line, rest, ok := tomlLine(err.Error()); ok {
			return nil, fmt.Errorf("%s:%s: %s", path, line, rest)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		k := un[0]
		return nil, fmt.Errorf("%s:%d: unknown key %q", path, lineOfKey(src, k[len(k)-1]), k.String())
	}
	if key, err := c.History.check(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, lineOfKey(src, key), err)
	}
	if key, err := c.HTTP.check(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, lineOfKey(src, key), err)
	}
	if c.Device != "" {
		if err := reading.CheckName(c.Device); err != nil {
			return nil, fmt.Errorf("%s:%d: device: %w", path, lineOfKey(src, "device"), err)
		}
	}
	headers := sensorHeaderLines(src)
	seen, topics := make(map[string]int), make(map[string]int)
	for i := range c.Sensors {
		s := &c.Sensors[i]
		line, next := 0, len(src)+1
		if i < len(headers) {
			line = headers[i]
		}
		if i+1 < len(headers) {
			next = headers[i+1]
		}
		where := fmt.Sprintf("%s:%d: sensor #%d", path, line, i+1)
		if err := s.Validate(); err != nil {
			var ke *sensors.KeyError
			if errors.As(err, &ke) {
				if l := lineOfKeyIn(src, ke.Key, line, next); l > 0 {
					where = fmt.Sprintf("%s:%d: sensor #%d", path, l, i+1)
				}
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if j, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("%s: name %q already used by sensor #%d", where, s.Name, j+1)
		}
		seen[s.Name] = i
		// MQTT topics carry a space in a name as _.
		topic := strings.ReplaceAll(s.Name, " ", "_")
		if j, dup := topics[topic]; dup {
			return nil, fmt.Errorf("%s: name %q and sensor #%d's %q would share MQTT topics (a space is published as _): rename one",
				where, s.Name, j+1, c.Sensors[j].Name)
		}
		topics[topic] = i
	}
	if err := checkAlerts(path, src, c); err != nil {
		return nil, err
	}
	return c, nil
}

// lineOfKeyIn returns the 1-based line, from line from up to (not
// including) line to, where a sensor's key is assigned or, for a table
// such as "filter.temperature", where its header is; or 0.
func lineOfKeyIn(src []byte, key string, from, to int) int {
	match := func(l string) bool { return assigns(l, key) }
	if strings.Contains(key, ".") {
		match = func(l string) bool { return isHeader(l, "[", "sensor."+key, "]") }
	}
	for i, l := range strings.Split(string(src), "\n") {
		if n := i + 1; n >= from && n < to && match(l) {
			return n
		}
	}
	return 0
}

// The line matching below is written out by hand rather than with regexp,
// which would be its only user in the binary (about 200 kB of an arm64
// build with its Unicode tables).

// isSpace reports whether b is white space as in a regexp's \s.
func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\f' || b == '\r'
}

func trimSpaceLeft(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// assigns reports whether line l assigns key: it starts, after white
// space, with key or "key", then white space and "=". (A key may itself
// start with white space, so each indent is tried.)
func assigns(l, key string) bool {
	for {
		for _, open := range []string{"", `"`} {
			rest, ok := strings.CutPrefix(l, open+key)
			if !ok {
				continue
			}
			for _, shut := range []string{"", `"`} {
				if r, ok := strings.CutPrefix(rest, shut); ok && strings.HasPrefix(trimSpaceLeft(r), "=") {
					return true
				}
			}
		}
		if l == "" || !isSpace(l[0]) {
			return false
		}
		l = l[1:]
	}
}

// isHeader reports whether line l starts, after white space, with the
// header open+name+shut ("[" or "[[" and "]" or "]]"), with white space
// allowed inside the brackets.
func isHeader(l, open, name, shut string) bool {
	rest, ok := strings.CutPrefix(trimSpaceLeft(l), open)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(trimSpaceLeft(rest), name)
	return ok && strings.HasPrefix(trimSpaceLeft(rest), shut)
}

// tomlLine splits toml's "toml: line N rest" error text into N and rest.
func tomlLine(msg string) (line, rest string, ok bool) {
	msg, ok = strings.CutPrefix(msg, "toml: line ")
	if !ok {
		return "", "", false
	}
	n := 0
	for n < len(msg) && msg[n] >= '0' && msg[n] <= '9' {
		n++
	}
	if n == 0 || n == len(msg) || msg[n] != ' ' || strings.Contains(msg[n+1:], "\n") {
		return "", "", false
	}
	return msg[:n], msg[n+1:], true
}

// sensorHeaderLines returns the 1-based line of each [[sensor]] header.
func sensorHeaderLines(src []byte) []int {
	var lines []int
	for i, l := range strings.Split(string(src), "\n") {
		if isHeader(l, "[[", "sensor", "]]") {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// lineOfKey returns the 1-based line where key is first assigned, or 0.
func lineOfKey(src []byte, key string) int {
	for i, l := range strings.Split(string(src), "\n") {
		if assigns(l, key) {
			return i + 1
		}
	}
	return 0
}
