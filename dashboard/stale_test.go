package dashboard

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/sensorcast/sensorcast/sensors"
)

// deployConfig is the example configuration that the .deb installs.
const deployConfig = "../deploy/rpi/sensorcast.toml"

// staleCase is one sensor of deployConfig as testdata/stale_deploy.mjs
// takes it: what hello announces, and how often the sensor publishes.
type staleCase struct {
	Sensor      string `json:"sensor"`
	IntervalMS  int64  `json:"interval_ms"`
	MaxGapMS    int64  `json:"max_gap_ms"`   // sensors.Config.MaxGap, as the server announces it
	HeartbeatMS int64  `json:"heartbeat_ms"` // the longest heartbeat of its delta filters; 0 without
	DeltaNoBeat bool   `json:"delta_without_heartbeat"`
}

// TestDeployConfigNeverStale loads the sensors of deployConfig, computes
// what the server announces for each (interval_ms, and max_gap_ms from
// sensors.Config.MaxGap), and has model.js judge each sensor while it
// publishes as rarely as it legitimately may (exactly at its heartbeat, and
// at the heartbeat plus an interval, with network delays): none may ever be
// shown stale. It also checks that each does go stale once it really stops.
func TestDeployConfigNeverStale(t *testing.T) {
	src, err := os.ReadFile(deployConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Sensor []sensors.Config `toml:"sensor"`
	}
	if _, err := toml.Decode(string(src), &cfg); err != nil {
		t.Fatalf("%s: %v", deployConfig, err)
	}
	var cases []staleCase
	beats := 0
	for i := range cfg.Sensor {
		c := &cfg.Sensor[i]
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: sensor #%d: %v", deployConfig, i+1, err)
		}
		sc := staleCase{Sensor: c.Name, IntervalMS: c.Interval.Milliseconds(), MaxGapMS: c.MaxGap().Milliseconds()}
		for _, f := range c.Filter {
			if f.Delta > 0 {
				sc.HeartbeatMS = max(sc.HeartbeatMS, f.Heartbeat.Milliseconds())
				sc.DeltaNoBeat = sc.DeltaNoBeat || f.Heartbeat <= 0
			}
		}
		if sc.HeartbeatMS > 0 {
			beats++
		}
		cases = append(cases, sc)
	}
	// The test means something only if the config has quiet sensors.
	if len(cases) < 5 || beats < 2 {
		t.Fatalf("%s has %d sensors, %d with a delta filter and heartbeat; the test expects at least 5 and 2", deployConfig, len(cases), beats)
	}
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "sensors.json")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
	runNode(t, filepath.Join("testdata", "stale_deploy.mjs"), in)
}
