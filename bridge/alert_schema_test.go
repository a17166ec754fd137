package bridge

import (
	"encoding/json"
	"strings"
	"testing"
)

// Each alert rule's binary_sensor passes Home Assistant's discovery schema,
// with device class problem, on "firing" and off "resolved".
func TestAlertDiscoveryMatchesHASchema(t *testing.T) {
	schema := loadHASchema(t)
	m, err := build(&Options{
		Config: Config{Broker: "tcp://127.0.0.1:1"}, Device: "Green House.1", Version: "v1",
		Sensors: exampleSensors(t), ConfigurationURL: "http://greenhouse:8080/",
		Alerts: []string{"frost", "server room hot", "sensor-down_2"},
	}, osFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.q.close()
	m.mu.Lock()
	topics, payloads := m.alertPubsLocked()
	m.mu.Unlock()
	if len(topics) != 3 {
		t.Fatalf("alert configs %q", topics)
	}
	ids := map[string]bool{}
	for i, topic := range topics {
		if err := schema.check(topic, payloads[i]); err != nil {
			t.Errorf("%s: %v\n%s", topic, err, payloads[i])
		}
		var c map[string]any
		json.Unmarshal(payloads[i], &c)
		if !strings.HasPrefix(topic, "homeassistant/binary_sensor/") || c["device_class"] != "problem" ||
			c["payload_on"] != "firing" || c["payload_off"] != "resolved" || !strings.HasPrefix(c["state_topic"].(string), "sensorcast/Green_House.1/alert/") {
			t.Errorf("%s: %s", topic, payloads[i])
		}
		ids[c["unique_id"].(string)] = true
	}
	if len(ids) != 3 {
		t.Errorf("unique_ids not unique: %v", ids)
	}
}

func TestAlertNamesChecked(t *testing.T) {
	for _, tc := range []struct {
		sensors []Sensor
		alerts  []string
		want    string
	}{
		{nil, []string{"a b", "a_b"}, `would share a topic`},
		{nil, []string{"a/b"}, `mqtt: alert "a/b"`},
		{[]Sensor{{Name: "alert"}}, []string{"x"}, `a sensor named "alert"`},
		{nil, []string{"availability"}, `taken by the availability topics`},
	} {
		_, err := build(&Options{Config: Config{Broker: "tcp://127.0.0.1:1"}, Device: "pi", Sensors: tc.sensors, Alerts: tc.alerts}, osFS{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("alerts %q: %v, want %q", tc.alerts, err, tc.want)
		}
	}
}
