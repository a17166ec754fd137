package hub

import (
	"testing"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func TestSetAlert(t *testing.T) {
	f := &frames{}
	h := New(&Options{Device: "pi", Frames: f, Sensors: []SensorInfo{{Name: "gh"}}})
	h.Publish(newReading("gh", 1500))
	h.SetStatus(Status{Sensor: "gh", OK: false, Err: "no ack", Failures: 1, Time: t0})
	h.SetAlert(Alert{Rule: "frost", Sensor: "gh", Firing: true, When: "gh.temperature < 2",
		Value: "temperature", Milli: 1500, Unit: reading.Celsius, HasValue: true, Since: t0, Time: t0})
	h.SetAlert(Alert{Rule: "down", Sensor: "gh", Firing: true, When: "gh failing", Since: t0, Time: t0})
	h.SetAlert(Alert{Rule: "frost", Sensor: "gh", Firing: false, When: "gh.temperature < 2",
		Value: "temperature", Milli: 3200, Unit: reading.Celsius, HasValue: true, Since: t0, Time: t0.Add(1e9)})
	if len(f.msgs) != 5 {
		t.Fatalf("broadcast %q", f.msgs)
	}
	want := `{"type":"alert","device":"pi","rule":"frost","sensor":"gh","state":"firing","when":"gh.temperature \u003c 2","value":"temperature","v":1.5,"unit":"°C","since":"2026-11-26T19:33:27.120Z","time":"2026-11-26T19:33:27.120Z","ts":1795721607120}`
	if f.msgs[2] != want {
		t.Errorf("alert message\n%s\nwant\n%s", f.msgs[2], want)
	}
	if m := decode(t, f.msgs[3]); m["state"] != "firing" || m["rule"] != "down" || m["value"] != nil {
		t.Errorf("health alert %v", m)
	}

	// A client joining now gets each rule's latest message, after the
	// statuses.
	c := newClient()
	if err := h.Snapshot(c); err != nil {
		t.Fatal(err)
	}
	var types, states []string
	for _, s := range c.msgs {
		m := decode(t, s)
		types = append(types, m["type"].(string))
		if m["type"] == "alert" {
			states = append(states, m["rule"].(string)+" "+m["state"].(string))
		}
	}
	if got := types; len(got) != 6 || got[2] != "reading" || got[3] != "status" || got[4] != "alert" || got[5] != "alert" {
		t.Errorf("snapshot types %q", got)
	}
	if len(states) != 2 || states[0] != "frost resolved" || states[1] != "down firing" {
		t.Errorf("snapshot alerts %q", states)
	}
}
