package bridge

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// TestExpireAfterUsesMaxGap: a sensor with a delta filter is silent until
// its heartbeat, so Home Assistant's expire_after follows MaxGap, not
// Interval; no bound means no expire_after at all.
func TestExpireAfterUsesMaxGap(t *testing.T) {
	m, err := New(&Options{
		Config: Config{Broker: "tcp://127.0.0.1:1"},
		Device: "pi",
		Sensors: []Sensor{
			{Name: "plain", Interval: 2 * time.Second},
			{Name: "delta", Interval: 2 * time.Second, MaxGap: 5 * time.Minute},
			{Name: "event", Interval: time.Second, MaxGap: -1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, s := range []string{"plain", "delta", "event"} {
		var r reading.Reading
		r.Reset("pi", s, time.Now())
		r.Add("temperature", reading.Celsius, 20000)
		m.PublishReading(&r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for sensor, want := range map[string]string{
		"plain": `"expire_after":4,`,
		"delta": `"expire_after":600,`,
		"event": "",
	} {
		es := m.discoveryLocked(sensor)
		if len(es) != 1 {
			t.Fatalf("%s: %d entities, want 1", sensor, len(es))
		}
		b, _ := json.Marshal(es[0].cfg)
		if want == "" {
			if strings.Contains(string(b), "expire_after") {
				t.Errorf("%s: no bound, but the config has expire_after: %s", sensor, b)
			}
		} else if !strings.Contains(string(b), want) {
			t.Errorf("%s: config %s, want %s", sensor, b, want)
		}
	}
}

func TestSensorGap(t *testing.T) {
	for _, tc := range []struct {
		s    Sensor
		want time.Duration
	}{
		{Sensor{Interval: time.Second}, time.Second},
		{Sensor{Interval: time.Second, MaxGap: time.Hour}, time.Hour},
		{Sensor{Interval: time.Second, MaxGap: -1}, -1},
	} {
		if got := tc.s.gap(); got != tc.want {
			t.Errorf("%+v.gap() = %v, want %v", tc.s, got, tc.want)
		}
	}
	if got := expireAfter(-1); got != 0 {
		t.Errorf("expireAfter(-1) = %d, want 0 (none)", got)
	}
}
