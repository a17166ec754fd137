package bridge

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func TestConfigDefaults(t *testing.T) {
	s, err := (&Config{Broker: "tcp://127.0.0.1:1883"}).check("pi")
	if err != nil {
		t.Fatal(err)
	}
	if s.prefix != "sensorcast" || s.discoveryPrefix != "homeassistant" || s.qos != 1 || s.retain ||
		!s.json || !s.values || !s.discovery || s.queue != DefaultQueue || s.reconnectMax != DefaultReconnectMax || s.syncInterval != time.Second ||
		s.clientID != "" || s.tls != nil { // the client ID is filled in by build (defaultClientID)
		t.Errorf("defaults = %+v", s)
	}
	s, err = (&Config{Broker: "mqtts://broker.local:8883"}).check("pi")
	if err != nil || s.tls == nil || s.tls.InsecureSkipVerify {
		t.Errorf("mqtts:// = %+v, %v: want TLS that verifies", s, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	four, neg := 4, -1
	off := false
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "missing broker"},
		{Config{Broker: "http://x:1"}, "scheme must be"},
		{Config{Broker: "tcp://"}, "no host"},
		{Config{Broker: "tcp://u:secret@x:1"}, "not in the URL"},
		{Config{Broker: "tcp://x:1", QoS: &four}, "qos 4"},
		{Config{Broker: "tcp://x:1", QoS: &neg}, "qos -1"},
		{Config{Broker: "tcp://x:1", JSON: &off, Values: &off}, "nothing to publish"},
		{Config{Broker: "tcp://x:1", Queue: -5}, "queue -5"},
		{Config{Broker: "tcp://x:1", ReconnectMax: -time.Second}, "reconnect_max"},
		{Config{Broker: "tcp://x:1", SyncInterval: -time.Second}, "sync_interval -1s: must be between 10ms and 1h0m0s"},
		{Config{Broker: "tcp://x:1", SyncInterval: time.Millisecond}, "sync_interval 1ms: must be between"},
		{Config{Broker: "tcp://x:1", SyncInterval: 2 * time.Hour}, "sync_interval 2h0m0s: must be between"},
		{Config{Broker: "tcp://x:1", Prefix: "a/#"}, "prefix"},
		{Config{Broker: "tcp://x:1", DiscoveryPrefix: "/ha"}, "discovery_prefix"},
		{Config{Broker: "tcp://x:1", Username: "u", PasswordFile: "f", PasswordEnv: "E"}, "only one"},
		{Config{Broker: "tcp://x:1", Username: "u", PasswordFile: filepath.Join(dir, "none")}, "password_file"},
		{Config{Broker: "tcp://x:1", Username: "u", PasswordEnv: "SENSORCAST_SURELY_UNSET_VAR"}, "is not set"},
		{Config{Broker: "tcp://x:1", PasswordFile: notPEM}, "needs a username"},
		{Config{Broker: "tcp://x:1", CAFile: notPEM}, "not ssl://"},
		{Config{Broker: "tcp://x:1", InsecureSkipVerify: true}, "not ssl://"},
		{Config{Broker: "ssl://x:1", CAFile: notPEM}, "no PEM certificate"},
		{Config{Broker: "ssl://x:1", CAFile: filepath.Join(dir, "none")}, "ca_file"},
		{Config{Broker: "ssl://x:1", CertFile: notPEM}, "go together"},
		{Config{Broker: "ssl://x:1", CertFile: notPEM, KeyFile: notPEM}, "cert_file/key_file"},
	} {
		_, err := tc.cfg.check("pi")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestDeviceClass(t *testing.T) {
	for _, tc := range []struct {
		name, unit, class, haUnit string
	}{
		{"temperature", "°C", "temperature", "°C"},
		{"cpu_temp", "°C", "temperature", "°C"},
		{"humidity", "%", "humidity", "%"},
		{"mem_used", "%", "", "%"},
		{"pressure", "hPa", "pressure", "hPa"},
		{"mem_available", "MB", "data_size", "MB"},
		{"uptime", "s", "duration", "s"},
		{"co2", "ppm", "carbon_dioxide", "ppm"},
		{"voc", "ppm", "", "ppm"},
		{"load1", "", "", ""},
	} {
		c, u := deviceClass(tc.name, reading.Unit(tc.unit))
		if c != tc.class || u != tc.haUnit {
			t.Errorf("deviceClass(%q, %q) = %q, %q; want %q, %q", tc.name, tc.unit, c, u, tc.class, tc.haUnit)
		}
	}
	for in, want := range map[time.Duration]int{100 * time.Millisecond: 1, time.Second: 2, 1500 * time.Millisecond: 3, time.Minute: 120} {
		if got := expireAfter(in); got != want {
			t.Errorf("expireAfter(%v) = %d, want %d", in, got, want)
		}
	}
	if got := topicSafe("a/b+c#d e"); got != "a_b_c_d_e" {
		t.Errorf("topicSafe = %q", got)
	}
	if got := idSafe("pi.local/ä"); got != "pi_local__" {
		t.Errorf("idSafe = %q", got)
	}
}

// A broker that cannot be reached is logged as a warning (it restarts now
// and then); a refused login or certificate as an error.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("network Error : dial tcp 127.0.0.1:1883: connect: connection refused"), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{io.EOF, true},
		{errors.New("status can only transition to connecting from disconnected"), true},
		{errors.New("not Authorized"), false},
		{errors.New("bad user name or password"), false},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
