package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/alert"
)

const alertSensors = `device = "greenhouse-pi"

[[sensor]]
driver = "sim"
name = "greenhouse"

[[sensor]]
driver = "host"
name = "pi"

[[sensor]]
driver = "ds18b20"
name = "pond"
[sensor.filter.temperature]
delta = 0.5
`

func TestParseConfigAlerts(t *testing.T) {
	src := alertSensors + `
[[alert]]
name = "frost"
when = "greenhouse.temperature < 2"
for = "5m"
clear = "greenhouse.temperature > 3"
notify = ["http://127.0.0.1:9000/hook", "ntfy://ntfy.example/my-greenhouse"]

[[alert]]
name = "hot_pi"
when = "pi.cpu_temperature > 75"   # host values are found at run time

[[alert]]
name = "sensor_down"
when = "greenhouse failing"
for = "10m"
clear_for = "0s"
`
	c, err := parseConfig("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rules := alertRules(c)
	if len(rules) != 3 {
		t.Fatalf("rules = %+v", rules)
	}
	r := rules[0]
	if r.Name != "frost" || r.When.String() != "greenhouse.temperature < 2" || r.For != 5*time.Minute ||
		r.Clear == nil || r.Clear.String() != "greenhouse.temperature > 3" || r.ClearFor != 5*time.Minute || len(r.Notify) != 2 {
		t.Errorf("frost = %+v", r)
	}
	if r := rules[1]; r.For != 0 || r.ClearFor != time.Minute || r.Clear != nil {
		t.Errorf("hot_pi = %+v", r)
	}
	if r := rules[2]; r.When.Kind != alert.Failing || r.ClearFor != 0 {
		t.Errorf("sensor_down = %+v", r)
	}
}

func TestParseConfigAlertErrors(t *testing.T) {
	n := strings.Count(alertSensors, "\n") // the [[alert]] header is on line n+2: line(1)
	line := func(k int) string { return "test.toml:" + strconv.Itoa(n+1+k) + ": alert #1: " }
	for _, tc := range []struct {
		name, rule, want string
	}{
		{"unknown sensor", "name = \"a\"\nwhen = \"attic.temperature < 2\"\n", line(3) + `key "when": "attic.temperature < 2": unknown sensor "attic" (configured: greenhouse, pi, pond)`},
		{"unknown value", "name = \"a\"\nwhen = \"greenhouse.moisture < 2\"\n", line(3) + `key "when": "greenhouse.moisture < 2": sensor "greenhouse" has no value "moisture" (it reports temperature, humidity, pressure)`},
		{"bad operator", "name = \"a\"\nwhen = \"greenhouse.temperature => 2\"\n", line(3) + `key "when": "greenhouse.temperature => 2": bad operator "=>"`},
		{"bad number", "name = \"a\"\nwhen = \"greenhouse.temperature < cold\"\n", line(3) + `key "when": "greenhouse.temperature < cold": "cold" is not a number`},
		{"bad clear", "name = \"a\"\nwhen = \"greenhouse.temperature < 2\"\nclear = \"greenhouse.temp > 3\"\n", line(4) + `key "clear": "greenhouse.temp > 3": sensor "greenhouse" has no value "temp"`},
		{"stale without bound", "name = \"a\"\nwhen = \"pond stale\"\n", line(3) + `key "when": "pond stale": sensor "pond" may stay silent`},
		{"no name", "when = \"greenhouse failing\"\n", line(1) + `key "name": missing`},
		{"bad name", "name = \"a/b\"\nwhen = \"greenhouse failing\"\n", line(2) + `key "name": `},
		{"no when", "name = \"a\"\n", line(1) + `key "when": missing`},
		{"negative for", "name = \"a\"\nwhen = \"greenhouse failing\"\nfor = \"-1m\"\n", line(4) + `key "for": -1m0s out of range`},
		{"bad clear_for", "name = \"a\"\nwhen = \"greenhouse failing\"\nclear_for = \"-1s\"\n", line(4) + `key "clear_for": -1s out of range`},
		{"bad scheme", "name = \"a\"\nwhen = \"greenhouse failing\"\nnotify = [\"carrier-pigeon://loft/1\"]\n", line(4) + `key "notify": notification URL "carrier-pigeon://loft/1": scheme "carrier-pigeon" not supported`},
		{"no host", "name = \"a\"\nwhen = \"greenhouse failing\"\nnotify = [\"http:///hook\"]\n", line(4) + `key "notify": notification URL "http:///hook": no host`},
		{"ntfy without topic", "name = \"a\"\nwhen = \"greenhouse failing\"\nnotify = [\"ntfy://ntfy.example\"]\n", line(4) + `key "notify": notification URL "ntfy://ntfy.example": want ntfy://`},
		{"unknown key", "name = \"a\"\nwhen = \"greenhouse failing\"\nnotfy = []\n", "test.toml:" + strconv.Itoa(n+5) + `: unknown key "alert.notfy"`},
		{"for not a duration", "name = \"a\"\nwhen = \"greenhouse failing\"\nfor = \"soon\"\n", "test.toml:" + strconv.Itoa(n+5) + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("test.toml", []byte(alertSensors+"\n[[alert]]\n"+tc.rule))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant   %s…", err, tc.want)
			}
		})
	}
	// The second of two rules: its own header's line, and a duplicate name.
	src := alertSensors + "\n[[alert]]\nname = \"a\"\nwhen = \"greenhouse failing\"\n\n[[alert]]\nname = \"a\"\nwhen = \"pi stale\"\n"
	want := "test.toml:" + strconv.Itoa(n+7) + `: alert #2: key "name": "a" already used by alert #1`
	if _, err := parseConfig("test.toml", []byte(src)); err == nil || err.Error() != want {
		t.Errorf("duplicate: %v\nwant %s", err, want)
	}
}
