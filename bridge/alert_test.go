package bridge_test

import (
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

func alertBridge(t *testing.T, url, state string, alerts ...string) *bridge.MQTT {
	t.Helper()
	m, err := bridge.New(&bridge.Options{
		Config: bridge.Config{Broker: url}, Device: "pi", Version: "v1", StateDir: state, Alerts: alerts,
		Sensors: []bridge.Sensor{{Name: "bme", Interval: time.Second, Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Against a real Mosquitto: an alert rule's retained state topic says
// firing and resolved, its Home Assistant binary_sensor is announced and
// kept across a restart (the bridge does not take its own config for a
// removed sensor's), and a rule removed from the config has both cleared.
func TestAlertTopicsAndDiscovery(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	state := t.TempDir()
	col := subscribe(t, b.URL, "sensorcast/#", "homeassistant/#")
	const (
		cfg   = "homeassistant/binary_sensor/pi/alert_frost/config"
		topic = "sensorcast/pi/alert/frost"
	)
	m := alertBridge(t, b.URL, state, "frost")
	col.wait(t, cfg, 1)
	m.PublishAlert("frost", true)
	if got := col.wait(t, topic, 1)[0]; got.payload != "firing" {
		t.Errorf("state %q, want firing", got.payload)
	}
	m.PublishAlert("frost", false)
	if got := col.wait(t, topic, 2)[1]; got.payload != "resolved" {
		t.Errorf("state %q, want resolved", got.payload)
	}
	m.Close()

	// Retained: a subscriber that comes later gets the state and the config.
	late := subscribe(t, b.URL, topic, cfg)
	if got := late.wait(t, topic, 1)[0]; got.payload != "resolved" || !got.retained {
		t.Errorf("late subscriber: %+v", got)
	}
	if got := late.wait(t, cfg, 1)[0]; got.payload == "" || !got.retained {
		t.Errorf("late subscriber: config %+v", got)
	}

	// A restart with the same rule: announced again, never cleared.
	m = alertBridge(t, b.URL, state, "frost")
	col.wait(t, cfg, 2)
	m.PublishAlert("frost", true)
	col.wait(t, topic, 3)
	m.Close()

	// The rule removed: its entity and state are cleared.
	m = alertBridge(t, b.URL, state)
	defer m.Close()
	var cfgs []string
	for _, c := range col.wait(t, cfg, 3) {
		cfgs = append(cfgs, c.payload)
	}
	for i, p := range cfgs {
		if (p == "") != (i == len(cfgs)-1) {
			t.Fatalf("config messages %q: want it announced twice, then cleared once", cfgs)
		}
	}
	if got := col.wait(t, topic, 4)[3]; got.payload != "" {
		t.Errorf("state of a removed rule: %q, want cleared", got.payload)
	}
}

// Without a state directory the bridge clears the retained configs of its
// node whose sensor is gone (onOldConfig); an alert's config is not one.
func TestAlertConfigKeptWithoutStateDir(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	col := subscribe(t, b.URL, "homeassistant/binary_sensor/#", "sensorcast/pi/alert/#")
	const cfg = "homeassistant/binary_sensor/pi/alert_frost/config"
	for i := 1; i <= 3; i++ {
		m := alertBridge(t, b.URL, "", "frost")
		col.wait(t, cfg, i)
		m.PublishAlert("frost", i%2 == 1)
		col.wait(t, "sensorcast/pi/alert/frost", i)
		m.Close()
	}
	for _, c := range col.on(cfg) {
		if c.payload == "" {
			t.Fatalf("the alert's config was cleared: %+v", col.on(cfg))
		}
	}
}
