package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
)

type source struct {
	src      sensors.Source
	interval time.Duration
}

// openSources builds the configured sources. A source that cannot run on
// this machine (no host metric at all, say) is logged and skipped.
func openSources(cfg *Config, log *slog.Logger) ([]source, error) {
	var out []source
	for _, sc := range cfg.Sensors {
		switch sc.Driver {
		case "sim":
			o := &sensors.SimOpts{Name: sc.Name}
			if sc.Seed != nil {
				o.Seed = *sc.Seed
			}
			out = append(out, source{sensors.NewSim(o), sc.Interval})
		case "host":
			h, err := sensors.NewHost(&sensors.HostOpts{Name: sc.Name, Logger: log.With("sensor", sc.Name)})
			if err != nil {
				log.Warn("sensor skipped", "sensor", sc.Name, "err", err)
				continue
			}
			out = append(out, source{h, sc.Interval})
		default:
			return nil, fmt.Errorf("sensor %q: unknown driver %q", sc.Name, sc.Driver)
		}
	}
	return out, nil
}
