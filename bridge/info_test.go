package bridge_test

import (
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// TestInfoRetained: the node describes itself on <prefix>/<device>/info,
// retained (a subscriber that comes later gets it), with the version, the
// dashboard URL and every sensor's interval, longest legitimate gap (0 for
// no bound) and values with their units; it is published again at the
// next connect with a new configuration.
func TestInfoRetained(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	start := func(sensors []bridge.Sensor, version string) *bridge.MQTT {
		m, err := bridge.New(&bridge.Options{
			Config:           bridge.Config{Broker: b.URL, Prefix: "farm"},
			Device:           "Green House",
			Version:          version,
			Sensors:          sensors,
			ConfigurationURL: "http://greenhouse:8080/",
			StateDir:         t.TempDir(),
			Logger:           slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := start([]bridge.Sensor{
		{Name: "air", Interval: 2 * time.Second, MaxGap: 5 * time.Second,
			Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}, {Name: "humidity", Unit: reading.Percent}}},
		{Name: "door", Interval: 100 * time.Millisecond, MaxGap: -1},
		{Name: "host", Interval: time.Second},
	}, "v1.2.3")
	const topic = "farm/Green_House/info"
	col := subscribe(t, b.URL, "farm/#")
	got := col.wait(t, topic, 1)[0]
	m.Close()
	var in bridge.Info
	if err := json.Unmarshal([]byte(got.payload), &in); err != nil {
		t.Fatalf("info %s: %v", got.payload, err)
	}
	want := bridge.Info{Type: "info", Device: "Green House", Version: "v1.2.3", URL: "http://greenhouse:8080/", Sensors: []bridge.InfoSensor{
		{Sensor: "air", IntervalMS: 2000, MaxGapMS: 5000, Values: []bridge.InfoValue{{"temperature", "°C"}, {"humidity", "%"}}},
		{Sensor: "door", IntervalMS: 100, MaxGapMS: 0, Values: []bridge.InfoValue{}},
		{Sensor: "host", IntervalMS: 1000, MaxGapMS: 1000, Values: []bridge.InfoValue{}},
	}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("info:\n got %+v\nwant %+v", in, want)
	}

	// A later subscriber gets it retained; a new configuration replaces it.
	m = start([]bridge.Sensor{{Name: "air", Interval: time.Second}}, "v1.2.4")
	defer m.Close()
	late := subscribe(t, b.URL, topic)
	for range 200 {
		msgs := late.on(topic)
		if len(msgs) > 0 && json.Unmarshal([]byte(msgs[len(msgs)-1].payload), &in) == nil && in.Version == "v1.2.4" {
			if len(in.Sensors) != 1 || in.Sensors[0].Sensor != "air" {
				t.Errorf("new configuration's info: %+v", in)
			}
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the new configuration's info did not replace the old: %v", late.on(topic))
}
