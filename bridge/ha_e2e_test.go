package bridge_test

import (
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

func haBridge(t *testing.T, url, device, state string) *bridge.MQTT {
	t.Helper()
	m, err := bridge.New(&bridge.Options{
		Config: bridge.Config{Broker: url}, Device: device, Version: "v1", StateDir: state,
		Sensors: []bridge.Sensor{{Name: "bme", Interval: time.Second, Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Against a real Mosquitto: a sensor failing from the start has its entity
// announced and unavailable, then available when it recovers; its config
// reaches subscribers before its first reading; after a rename the old
// node's retained configs and status are cleared.
func TestHAFailingFromStartOrderAndRename(t *testing.T) {
	t.Parallel()
	b := mosquittotest.Start(t, nil)
	state := t.TempDir()
	col := subscribe(t, b.URL, "sensorcast/#", "homeassistant/#")
	m := haBridge(t, b.URL, "pi", state)
	cfg := "homeassistant/sensor/pi/bme_temperature/config"
	m.PublishStatus(&reading.Status{Sensor: "bme"}) // fails from the start
	col.wait(t, cfg, 1)
	if got := col.wait(t, "sensorcast/pi/bme/availability", 1)[0].payload; got != "offline" {
		t.Errorf("availability of a failing sensor = %q, want offline", got)
	}
	var r reading.Reading
	r.Reset("pi", "bme", time.Now())
	r.Add("temperature", reading.Celsius, 20000)
	m.PublishStatus(&reading.Status{Sensor: "bme", OK: true})
	m.PublishReading(&r)
	col.wait(t, "sensorcast/pi/bme", 1)
	if got := col.wait(t, "sensorcast/pi/bme/availability", 2)[1].payload; got != "online" {
		t.Errorf("availability after recovery = %q, want online", got)
	}
	col.mu.Lock()
	cfgAt, stateAt := -1, -1
	for i, x := range col.msgs {
		if x.topic == cfg && cfgAt < 0 {
			cfgAt = i
		}
		if x.topic == "sensorcast/pi/bme" && stateAt < 0 {
			stateAt = i
		}
	}
	col.mu.Unlock()
	if cfgAt < 0 || stateAt < cfgAt {
		t.Errorf("config at %d, first state at %d: the config must come first", cfgAt, stateAt)
	}
	m.Close()

	// Renamed: the old node's config and status are cleared (empty
	// retained payloads), the new node's announced.
	m2 := haBridge(t, b.URL, "greenhouse", state)
	defer m2.Close()
	col.wait(t, "homeassistant/sensor/greenhouse/bme_temperature/config", 1)
	for _, topic := range []string{cfg, "sensorcast/pi/status"} {
		var cleared bool
		for range 200 {
			msgs := col.on(topic)
			if len(msgs) > 0 && msgs[len(msgs)-1].payload == "" {
				cleared = true
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		if !cleared {
			t.Errorf("%s not cleared after the rename: %v", topic, col.on(topic))
		}
	}
	late := subscribe(t, b.URL, "homeassistant/#")
	time.Sleep(300 * time.Millisecond) // retained messages arrive at subscription
	if got := late.on(cfg); len(got) != 0 {
		t.Errorf("the old node's config is still retained: %v", got)
	}
}
