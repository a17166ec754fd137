package bridge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// msg is one message a subscriber received.
type msg struct {
	topic    string
	payload  string
	retained bool
}

// collector subscribes to topics and keeps every message.
type collector struct {
	mu   sync.Mutex
	msgs []msg
	c    paho.Client
}

func subscribe(t *testing.T, url string, topics ...string) *collector {
	t.Helper()
	col := &collector{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("sub-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetOrderMatters(true)
	col.c = paho.NewClient(o)
	if tok := col.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { col.c.Disconnect(100) })
	for _, tp := range topics {
		tok := col.c.Subscribe(tp, 1, func(_ paho.Client, m paho.Message) {
			col.mu.Lock()
			col.msgs = append(col.msgs, msg{m.Topic(), string(m.Payload()), m.Retained()})
			col.mu.Unlock()
		})
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", tp, tok.Error())
		}
	}
	return col
}

// on returns the messages received on topic so far.
func (c *collector) on(topic string) []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []msg
	for _, m := range c.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// wait waits until at least n messages arrived on topic and returns them.
func (c *collector) wait(t *testing.T, topic string, n int) []msg {
	t.Helper()
	for range 200 {
		if got := c.on(topic); len(got) >= n {
			return got
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("fewer than %d messages on %s after 5s: %v", n, topic, c.on(topic))
	return nil
}

// logBuf is a log destination safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) waitFor(t *testing.T, s string) {
	t.Helper()
	for range 400 {
		if strings.Contains(l.String(), s) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no %q in the log after 10s:\n%s", s, l)
}

func newBridge(t *testing.T, cfg bridge.Config, logs *logBuf) *bridge.MQTT {
	t.Helper()
	if logs == nil {
		logs = &logBuf{}
	}
	m, err := bridge.New(&bridge.Options{
		Config:   cfg,
		Device:   "pi",
		Version:  "v1.2.3",
		Sensors:  []bridge.Sensor{{Name: "sim", Interval: 1500 * time.Millisecond}},
		StateDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func simReading() *reading.Reading {
	var r reading.Reading
	r.Reset("pi", "sim", time.Date(2026, 11, 26, 19, 33, 27, 120e6, time.UTC))
	r.Add("temperature", reading.Celsius, 21375)
	r.Add("humidity", reading.Percent, 45200)
	r.Add("load1", reading.None, 250)
	return &r
}

func TestTopicsPayloadsAndDiscovery(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	col := subscribe(t, b.URL, "sensorcast/#", "homeassistant/#")
	m := newBridge(t, bridge.Config{Broker: b.URL}, nil)
	r := simReading()
	m.PublishReading(r)

	if got := col.wait(t, "sensorcast/pi/status", 1)[0].payload; got != "online" {
		t.Errorf("status = %q, want online", got)
	}
	if got, want := col.wait(t, "sensorcast/pi/sim", 1)[0].payload, string(r.AppendJSON(nil)); got != want {
		t.Errorf("JSON topic:\n got %s\nwant %s", got, want)
	}
	for topic, want := range map[string]string{
		"sensorcast/pi/sim/temperature": "21.375",
		"sensorcast/pi/sim/humidity":    "45.2",
		"sensorcast/pi/sim/load1":       "0.25",
	} {
		if got := col.wait(t, topic, 1)[0].payload; got != want {
			t.Errorf("%s = %q, want %q", topic, got, want)
		}
	}

	// One discovery config per value, with every field Home Assistant needs.
	type check struct{ class, unit string }
	for value, want := range map[string]check{
		"temperature": {"temperature", "°C"},
		"humidity":    {"humidity", "%"},
		"load1":       {"", ""},
	} {
		topic := "homeassistant/sensor/pi/sim_" + value + "/config"
		var c map[string]any
		m := col.wait(t, topic, 1)[0]
		if err := json.Unmarshal([]byte(m.payload), &c); err != nil {
			t.Fatalf("%s: %v: %s", topic, err, m.payload)
		}
		wantFields := map[string]any{
			"unique_id":         "sensorcast_pi_sim_" + value,
			"state_topic":       "sensorcast/pi/sim",
			"value_template":    `{{ value_json['values']["` + value + `"].v }}`,
			"availability_mode": "all",
			"default_entity_id": "sensor.pi_sim_" + value,
			"state_class":       "measurement",
			"expire_after":      3.0, // 2 × 1.5 s
		}
		if want.class != "" {
			wantFields["device_class"] = want.class
			wantFields["unit_of_measurement"] = want.unit
		} else if _, ok := c["device_class"]; ok {
			t.Errorf("%s: device_class %v for a dimensionless value", topic, c["device_class"])
		}
		for k, v := range wantFields {
			if c[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", topic, k, c[k], v)
			}
		}
		dev, _ := c["device"].(map[string]any)
		if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "sensorcast_pi" ||
			dev["name"] != "pi" || dev["model"] != "sensorcast" || dev["sw_version"] != "v1.2.3" {
			t.Errorf("%s: device = %v", topic, dev)
		}
		if o, _ := c["origin"].(map[string]any); o["name"] != "sensorcast" || o["sw_version"] != "v1.2.3" {
			t.Errorf("%s: origin = %v", topic, c["origin"])
		}
		if c["name"] == nil || c["object_id"] != nil {
			t.Errorf("%s: no name, or the object_id Home Assistant ignores since 2026.4: %v", topic, c)
		}
		// Available when both the node and the sensor are.
		if av, _ := json.Marshal(c["availability"]); string(av) != `[{"topic":"sensorcast/pi/status"},{"topic":"sensorcast/pi/sim/availability"}]` {
			t.Errorf("%s: availability = %s", topic, av)
		}
	}

	// A sensor that reads is available; a failing one is reported
	// unavailable, and available again.
	if got := col.wait(t, "sensorcast/pi/sim/availability", 1)[0].payload; got != "online" {
		t.Errorf("reading sensor availability = %q", got)
	}
	m.PublishStatus(&reading.Status{Sensor: "sim"})
	if got := col.wait(t, "sensorcast/pi/sim/availability", 2)[1].payload; got != "offline" {
		t.Errorf("failing sensor availability = %q", got)
	}
	m.PublishStatus(&reading.Status{Sensor: "sim", OK: true})
	if got := col.wait(t, "sensorcast/pi/sim/availability", 3)[2].payload; got != "online" {
		t.Errorf("recovered sensor availability = %q", got)
	}

	// Home Assistant restarted: every config is published again.
	cfgTopic := "homeassistant/sensor/pi/sim_temperature/config"
	before := len(col.on(cfgTopic))
	if tok := col.c.Publish("homeassistant/status", 1, false, "online"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	col.wait(t, cfgTopic, before+1)
	// offline does not trigger anything.
	before = len(col.on(cfgTopic))
	col.c.Publish("homeassistant/status", 1, false, "offline").Wait()
	time.Sleep(1500 * time.Millisecond)
	if n := len(col.on(cfgTopic)); n != before {
		t.Errorf("homeassistant/status offline re-published configs (%d → %d)", before, n)
	}

	// The retained state a new subscriber (Home Assistant) sees.
	late := subscribe(t, b.URL, "sensorcast/pi/status", "homeassistant/sensor/pi/+/config")
	if m := late.wait(t, cfgTopic, 1)[0]; !m.retained {
		t.Errorf("discovery config not retained")
	}
	if m := late.wait(t, "sensorcast/pi/status", 1)[0]; !m.retained || m.payload != "online" {
		t.Errorf("status = %+v, want retained online", m)
	}

	// Clean shutdown: offline.
	m.Close()
	if got := col.wait(t, "sensorcast/pi/status", 2)[1].payload; got != "offline" {
		t.Errorf("status after Close = %q, want offline", got)
	}
	if st := m.Stats(); st.Delivered != 1 || st.Published != 1 || st.Connects != 1 || st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestValuesOnlyAndOptions(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	col := subscribe(t, b.URL, "nodes/#", "ha/#")
	no, two := false, 2
	m := newBridge(t, bridge.Config{Broker: b.URL, Prefix: "nodes", JSON: &no, QoS: &two, Retain: true, DiscoveryPrefix: "ha"}, nil)
	m.PublishReading(simReading())
	if got := col.wait(t, "nodes/pi/sim/temperature", 1)[0].payload; got != "21.375" {
		t.Errorf("value = %q", got)
	}
	var c map[string]any
	json.Unmarshal([]byte(col.wait(t, "ha/sensor/pi/sim_temperature/config", 1)[0].payload), &c)
	if c["state_topic"] != "nodes/pi/sim/temperature" || c["value_template"] != "{{ value }}" || fmt.Sprint(c["availability"]) != "[map[topic:nodes/pi/status] map[topic:nodes/pi/sim/availability]]" {
		t.Errorf("values-only discovery config = %v", c)
	}
	late := subscribe(t, b.URL, "nodes/pi/sim/humidity")
	if m := late.wait(t, "nodes/pi/sim/humidity", 1)[0]; !m.retained {
		t.Errorf("retain = true, but the reading was not retained")
	}
	if len(col.on("nodes/pi/sim")) != 0 {
		t.Errorf("json = false, but the JSON topic was published")
	}
}

// TestRemovedSensorDiscoveryCleared: without a StateDir, a retained
// config of this node's name whose sensor is not configured is cleared.
// With one, only what this install published (its list) is cleared: a
// config of the same name that it never published is another install's,
// a Pi still named like this one, and is left alone.
func TestRemovedSensorDiscoveryCleared(t *testing.T) {
	t.Parallel()
	for _, withState := range []bool{false, true} {
		b := mosquittotest.Start(t, nil)
		pre := subscribe(t, b.URL)
		old := "homeassistant/sensor/pi/gone_temperature/config"
		other := "homeassistant/sensor/otherpi/x_temperature/config"
		for _, tp := range []string{old, other} {
			pre.c.Publish(tp, 1, true, `{"state_topic":"sensorcast/pi/gone","unique_id":"x"}`).Wait()
		}
		col := subscribe(t, b.URL, "homeassistant/#")
		col.wait(t, old, 1)
		state := ""
		if withState {
			state = t.TempDir()
		}
		m, err := bridge.New(&bridge.Options{
			Config: bridge.Config{Broker: b.URL}, Device: "pi", Version: "v1",
			Sensors: []bridge.Sensor{{Name: "sim", Interval: 1500 * time.Millisecond}}, StateDir: state,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		m.PublishReading(simReading())
		col.wait(t, "homeassistant/sensor/pi/sim_temperature/config", 1)
		if withState {
			time.Sleep(500 * time.Millisecond)
			if got := col.on(old); len(got) != 1 {
				t.Errorf("with a StateDir, a config this install never published was touched: %v", got)
			}
			continue
		}
		got := col.wait(t, old, 2)
		if got[1].payload != "" {
			t.Errorf("removed sensor's config: %q, want an empty payload", got[1].payload)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(col.on(other)); n != 1 {
			t.Errorf("another node's config was touched: %v", col.on(other))
		}
		if n := len(col.on("homeassistant/sensor/pi/sim_temperature/config")); n != 1 {
			t.Errorf("configured sensor's config cleared or repeated: %v", col.on("homeassistant/sensor/pi/sim_temperature/config"))
		}
	}
}

func TestTLSAndPasswords(t *testing.T) {
	t.Parallel()
	pki := mosquittotest.NewPKI(t)
	b := mosquittotest.Start(t, &mosquittotest.Options{TLS: pki, Users: map[string]string{"node": "s3cret-pw"}})
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600)
	badFile := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(badFile, []byte("wrong-pw\n"), 0o600)
	os.Setenv("SENSORCAST_TEST_MQTT_PW", "s3cret-pw") // t.Setenv does not mix with t.Parallel
	t.Cleanup(func() { os.Unsetenv("SENSORCAST_TEST_MQTT_PW") })

	good := func(cfg bridge.Config) bridge.Config {
		cfg.Broker = strings.Replace(b.URL, "ssl://", "mqtts://", 1)
		if cfg.CAFile == "" {
			cfg.CAFile = pki.CAFile
		}
		cfg.Username = "node"
		return cfg
	}
	for name, cfg := range map[string]bridge.Config{
		"password file":   good(bridge.Config{PasswordFile: pwFile}),
		"password env":    good(bridge.Config{PasswordEnv: "SENSORCAST_TEST_MQTT_PW"}),
		"server name":     good(bridge.Config{PasswordFile: pwFile, ServerName: "localhost"}),
		"skip verify set": good(bridge.Config{PasswordFile: pwFile, InsecureSkipVerify: true}),
	} {
		if cfg.InsecureSkipVerify {
			cfg.CAFile = ""
		}
		t.Run(name, func(t *testing.T) {
			logs := &logBuf{}
			m := newBridge(t, cfg, logs)
			logs.waitFor(t, "mqtt: connected")
			m.PublishReading(simReading())
			for range 200 {
				if m.Stats().Delivered == 1 {
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if st := m.Stats(); st.Delivered != 1 {
				t.Errorf("stats = %+v, want 1 delivered", st)
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Errorf("password in the log:\n%s", logs)
			}
		})
	}

	for name, tc := range map[string]struct {
		cfg  bridge.Config
		want string
	}{
		"wrong password": {good(bridge.Config{PasswordFile: badFile}), "not Authorized"},
		"no password":    {good(bridge.Config{}), "not Authorized"},
		"unknown CA":     {good(bridge.Config{PasswordFile: pwFile, CAFile: pki.OtherCAFile}), "certificate signed by unknown authority"},
		"wrong name":     {good(bridge.Config{PasswordFile: pwFile, ServerName: "elsewhere.example"}), "certificate is valid for"},
		"plain to TLS":   {bridge.Config{Broker: "tcp://" + b.Addr, Username: "node", PasswordFile: pwFile}, "cannot connect"},
		"unknown host":   {bridge.Config{Broker: "tcp://no-such-host.invalid:1883"}, "no such host"},
		"refused port":   {bridge.Config{Broker: "tcp://127.0.0.1:1"}, "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			logs := &logBuf{}
			m := newBridge(t, tc.cfg, logs)
			m.PublishReading(simReading()) // kept, not lost
			logs.waitFor(t, tc.want)
			if !strings.Contains(logs.String(), "mqtt: cannot connect; retrying") {
				t.Errorf("no clear error line:\n%s", logs)
			}
			if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "wrong-pw") {
				t.Errorf("password in the log:\n%s", logs)
			}
			if st := m.Stats(); st.Connected || st.Queued != 1 {
				t.Errorf("stats = %+v, want not connected with 1 queued", st)
			}
			if name == "wrong password" {
				// Attempts at 1 s and 2 s later fail the same way: still
				// one line.
				time.Sleep(3500 * time.Millisecond)
				if n := strings.Count(logs.String(), "cannot connect"); n != 1 {
					t.Errorf("%d error lines for one failure in one window, want 1:\n%s", n, logs)
				}
			}
		})
	}
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	pki := mosquittotest.NewPKI(t)
	b := mosquittotest.Start(t, &mosquittotest.Options{TLS: pki, RequireClientCert: true})
	logs := &logBuf{}
	m := newBridge(t, bridge.Config{Broker: b.URL, CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, logs)
	logs.waitFor(t, "mqtt: connected")
	m.Close()

	logs = &logBuf{}
	newBridge(t, bridge.Config{Broker: b.URL, CAFile: pki.CAFile}, logs)
	logs.waitFor(t, "mqtt: cannot connect; retrying")
}

// TestReconnectResubscribes: after the broker restarts, the bridge is
// connected again, says online, delivers what it queued meanwhile, and
// still hears Home Assistant's birth message.
func TestReconnectResubscribes(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	logs := &logBuf{}
	m := newBridge(t, bridge.Config{Broker: b.URL, ReconnectMax: time.Second}, logs)
	m.PublishReading(simReading())
	logs.waitFor(t, "mqtt: connected")
	b.Stop()
	logs.waitFor(t, "mqtt: connection lost")
	r := simReading()
	r.Time = r.Time.Add(time.Second)
	m.PublishReading(r) // queued during the outage
	b.Restart()
	col := subscribe(t, b.URL, "sensorcast/#", "homeassistant/#")
	for range 200 {
		if strings.Count(logs.String(), "mqtt: connected") >= 2 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "mqtt: connected"); n != 2 {
		t.Fatalf("connected %d times, want 2:\n%s", n, logs)
	}
	cfg := "homeassistant/sensor/pi/sim_temperature/config"
	col.wait(t, cfg, 1) // retained, or announced again on connect
	for range 200 {
		if m.Stats().Delivered == 2 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if st := m.Stats(); st.Delivered != 2 || st.Published < 2 || st.Connects != 2 || st.Queued != 0 || !st.Connected {
		t.Errorf("stats after reconnect = %+v", st)
	}
	time.Sleep(200 * time.Millisecond)
	before := len(col.on(cfg))
	col.c.Publish("homeassistant/status", 1, false, "online").Wait()
	col.wait(t, cfg, before+1)
}
