package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the [mqtt] table of sensorcast's configuration file. The zero
// value of every field means its default.
type Config struct {
	// Broker is the broker's URL: tcp://host:1883 (or mqtt://),
	// ssl://host:8883 (or mqtts://, tls://), ws://host/mqtt or wss://.
	Broker string `toml:"broker"`
	// ClientID identifies the session on the broker; default
	// "sensorcast-" and 12 hex digits unique to the install (see
	// DefaultClientID). Two clients with one ID take turns: the broker
	// drops the first when the second connects.
	ClientID string `toml:"client_id"`
	// Username, and the password read from the file PasswordFile (trailing
	// newline removed) or from the environment variable named PasswordEnv.
	// The password is never logged. PasswordFile, like KeyFile, must not
	// be readable by group or others (as Mosquitto requires of its own):
	// chmod 600, owned by the service's user. A password sent over plain
	// tcp:// or ws:// is logged as a warning at start: anyone on the path
	// can read it.
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	PasswordEnv  string `toml:"password_env"`

	// Prefix is the first segment of every topic; default "sensorcast".
	Prefix string `toml:"prefix"`
	// JSON publishes <prefix>/<device>/<sensor> with the reading's JSON;
	// default true.
	JSON *bool `toml:"json"`
	// Values publishes <prefix>/<device>/<sensor>/<value> with the plain
	// number; default true.
	Values *bool `toml:"values"`
	// QoS of every publication: 0, 1 or 2; default 1.
	QoS *int `toml:"qos"`
	// Retain sets the retain flag on readings (status and discovery
	// messages are always retained); default false.
	Retain bool `toml:"retain"`

	// Discovery publishes Home Assistant MQTT discovery configs; default
	// true. DiscoveryPrefix is Home Assistant's; default "homeassistant".
	Discovery       *bool  `toml:"discovery"`
	DiscoveryPrefix string `toml:"discovery_prefix"`

	// Queue bounds the readings kept while the broker is unreachable;
	// default 10000. When it is full the oldest are dropped and counted.
	Queue int `toml:"queue"`
	// SyncInterval is how often the queue is written to disk and fsynced;
	// default 1s, at least 10ms, at most 1h. A power cut loses at most the
	// readings of the last SyncInterval that the broker had not taken yet;
	// a longer interval means fewer writes to the SD card.
	SyncInterval time.Duration `toml:"sync_interval"`
	// MaxPacketSize is the largest inbound MQTT packet accepted, in bytes
	// (its remaining length); default 256 KiB, at least 16 KiB. A larger
	// packet (a huge retained message on a topic the bridge subscribes
	// to) closes the connection before it is read into memory, and is
	// counted (Stats.Oversized) and logged.
	MaxPacketSize int `toml:"max_packet_size"`
	// ReconnectMax caps the wait between connection attempts, which doubles
	// from one second; default 30s.
	ReconnectMax time.Duration `toml:"reconnect_max"`

	// TLS, for ssl://, mqtts://, tls:// and wss:// brokers: CAFile verifies
	// the broker (default: the system's roots), CertFile and KeyFile are the
	// client certificate, ServerName overrides the host name checked in the
	// broker's certificate. InsecureSkipVerify turns the check off: anyone
	// on the path can then read and change the traffic, so it is only ever
	// on when set explicitly.
	CAFile             string `toml:"ca_file"`
	CertFile           string `toml:"cert_file"`
	KeyFile            string `toml:"key_file"`
	ServerName         string `toml:"server_name"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// Defaults, and the bounds of SyncInterval.
const (
	DefaultPrefix          = "sensorcast"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultQueue           = 10000
	DefaultReconnectMax    = 30 * time.Second
	DefaultSyncInterval    = time.Second
	MinSyncInterval        = 10 * time.Millisecond
	MaxSyncInterval        = time.Hour
)

// settings is a Config checked and with its defaults filled in.
type settings struct {
	broker          *url.URL
	clientID        string
	username        string
	password        string
	prefix          string
	json, values    bool
	qos             byte
	retain          bool
	discovery       bool
	discoveryPrefix string
	queue           int
	reconnectMax    time.Duration
	syncInterval    time.Duration
	tls             *tls.Config
	maxPacket       int64
	warnings        []string // logged at start
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// check validates c and fills in the defaults. Every error names the key.
func (c *Config) check(device string) (*settings, error) {
	s := &settings{
		clientID:        c.ClientID,
		username:        c.Username,
		prefix:          c.Prefix,
		json:            boolOr(c.JSON, true),
		values:          boolOr(c.Values, true),
		qos:             1,
		retain:          c.Retain,
		discovery:       boolOr(c.Discovery, true),
		discoveryPrefix: c.DiscoveryPrefix,
		queue:           c.Queue,
		reconnectMax:    c.ReconnectMax,
		syncInterval:    c.SyncInterval,
	}
	if c.Broker == "" {
		return nil, errors.New("mqtt: missing broker URL")
	}
	u, err := url.Parse(c.Broker)
	if err != nil {
		return nil, fmt.Errorf("mqtt: broker: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "tcp", "mqtt", "ws":
	case "ssl", "tls", "mqtts", "tcps", "wss":
		secure = true
	default:
		return nil, fmt.Errorf("mqtt: broker %q: scheme must be tcp, mqtt, ssl, mqtts, tls, ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mqtt: broker %q: no host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("mqtt: broker %q: put the user name in username and the password in password_file or password_env, not in the URL", u.Redacted())
	}
	s.broker = u
	if c.QoS != nil {
		if *c.QoS < 0 || *c.QoS > 2 {
			return nil, fmt.Errorf("mqtt: qos %d: must be 0, 1 or 2", *c.QoS)
		}
		s.qos = byte(*c.QoS)
	}
	if !s.json && !s.values {
		return nil, errors.New("mqtt: json and values are both off: nothing to publish")
	}
	if s.queue < 0 {
		return nil, fmt.Errorf("mqtt: queue %d: must be positive", s.queue)
	}
	if s.queue == 0 {
		s.queue = DefaultQueue
	}
	switch mp := c.MaxPacketSize; {
	case mp == 0:
		s.maxPacket = DefaultMaxPacketSize
	case mp < MinMaxPacketSize || mp > MaxMaxPacketSize:
		return nil, fmt.Errorf("mqtt: max_packet_size %d: must be between %d and %d bytes", mp, MinMaxPacketSize, MaxMaxPacketSize)
	default:
		s.maxPacket = int64(mp)
	}
	if s.reconnectMax < 0 {
		return nil, fmt.Errorf("mqtt: reconnect_max %v: must be positive", s.reconnectMax)
	}
	if s.reconnectMax == 0 {
		s.reconnectMax = DefaultReconnectMax
	}
	if s.reconnectMax < time.Second {
		s.reconnectMax = time.Second
	}
	switch {
	case s.syncInterval == 0:
		s.syncInterval = DefaultSyncInterval
	case s.syncInterval < MinSyncInterval || s.syncInterval > MaxSyncInterval:
		return nil, fmt.Errorf("mqtt: sync_interval %v: must be between %v and %v (e.g. \"1s\")", s.syncInterval, MinSyncInterval, MaxSyncInterval)
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.discoveryPrefix == "" {
		s.discoveryPrefix = DefaultDiscoveryPrefix
	}
	for k, v := range map[string]string{"prefix": s.prefix, "discovery_prefix": s.discoveryPrefix} {
		if strings.ContainsAny(v, "+#\x00") || strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") {
			return nil, fmt.Errorf("mqtt: %s %q: no +, #, NUL, or leading or trailing /", k, v)
		}
	}
	switch {
	case c.PasswordFile != "" && c.PasswordEnv != "":
		return nil, errors.New("mqtt: password_file and password_env: give only one")
	case c.PasswordFile != "":
		b, err := readSecret("password_file", c.PasswordFile)
		if err != nil {
			return nil, err
		}
		s.password = strings.TrimRight(string(b), "\r\n")
	case c.PasswordEnv != "":
		p, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("mqtt: password_env: environment variable %q is not set", c.PasswordEnv)
		}
		s.password = p
	}
	if s.password != "" && s.username == "" {
		return nil, errors.New("mqtt: a password needs a username")
	}
	tlsSet := c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify
	if tlsSet && !secure {
		return nil, fmt.Errorf("mqtt: TLS settings given but broker %q is not ssl://, mqtts://, tls:// or wss://", u.Redacted())
	}
	if s.password != "" && !secure {
		s.warnings = append(s.warnings, fmt.Sprintf("mqtt: the password goes to %s in clear text over %s://: anyone on the network path can read it; use ssl:// or wss://", u.Redacted(), u.Scheme))
	}
	if c.InsecureSkipVerify {
		s.warnings = append(s.warnings, "mqtt: insecure_skip_verify = true: the broker's certificate is not checked, so anyone on the network path can read and change the traffic, password included")
	}
	if secure {
		t, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		s.tls = t
	}
	return s, nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: ca_file %s: no PEM certificate in it", c.CAFile)
		}
		t.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("mqtt: cert_file and key_file go together")
	}
	if c.CertFile != "" {
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: cert_file: %w", err)
		}
		keyPEM, err := readSecret("key_file", c.KeyFile)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("mqtt: cert_file/key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// readSecret reads a password or key file, refusing one that group or
// others may read or write, as Mosquitto does: a secret another local
// user can read is not one. The mode checked is the opened file's.
func readSecret(key, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("mqtt: %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("mqtt: %s %s: not a regular file", key, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("mqtt: %s %s: mode %04o lets group or others read or change it; run chmod 600 %s (owned by the user sensorcast runs as)", key, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("mqtt: %s: %w", key, err)
	}
	return b, nil
}
