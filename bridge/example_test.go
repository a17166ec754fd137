package bridge_test

import (
	"log/slog"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// A node that publishes its sensor to a local broker, keeping readings on
// disk while the broker is away.
func ExampleNew() {
	m, err := bridge.New(&bridge.Options{
		Config:   bridge.Config{Broker: "tcp://127.0.0.1:1883"},
		Device:   "greenhouse",
		Version:  "v1.0.0",
		Sensors:  []bridge.Sensor{{Name: "sim", Interval: time.Second}},
		StateDir: "/var/lib/sensorcast",
		Logger:   slog.Default(),
	})
	if err != nil {
		slog.Error("mqtt", "err", err)
		return
	}
	defer m.Close()

	var r reading.Reading
	r.Reset("greenhouse", "sim", time.Now())
	r.Add("temperature", reading.Celsius, 21375)
	m.PublishReading(&r) // sensorcast/greenhouse/sim and sensorcast/greenhouse/sim/temperature
	m.PublishStatus(&reading.Status{Sensor: "sim", OK: true})
}
