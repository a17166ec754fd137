package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
)

// hardwareRoot is the directory under which the sensors find /proc, /sys
// and /dev: "" for the machine's own; tests point it at a fake tree.
var hardwareRoot string

type source struct {
	src      sensors.Source
	interval time.Duration
	maxGap   time.Duration // the longest legitimate gap between readings; 0 for no bound
}

// openSources builds the configured sources. A source that cannot start on
// this machine (a missing 1-Wire bus or GPIO line, no host metric at all)
// is logged, once and clearly, and skipped. I²C and serial sources always
// start: they open their bus or port on each attempt, so a chip that is absent or
// failing shows as a failing sensor, retried with backoff, and recovers by
// itself.
func openSources(cfg *Config, stateDir string, log *slog.Logger) ([]source, error) {
	// The state directory (-state, resolved by run) keeps pulse counters'
	// totals across restarts.
	hw := &sensors.Hardware{Logger: log.With("component", "sensors"), Root: hardwareRoot, StateDir: stateDir}
	var out []source
	for i := range cfg.Sensors {
		sc := &cfg.Sensors[i]
		src, err := hw.Open(sc)
		if err != nil {
			log.Warn("sensor skipped", "sensor", sc.Name, "driver", sc.Driver, "err", err)
			continue
		}
		if sc.Interval <= 0 {
			return nil, fmt.Errorf("sensor %q: no interval", sc.Name)
		}
		out = append(out, source{src, sc.Interval, sc.MaxGap()})
	}
	return out, nil
}
