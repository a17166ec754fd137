package sensors_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// A Poller reads each Source at its own interval and hands every reading to
// OnReading, until its context is done.
func ExamplePoller() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := sensors.NewPoller(&sensors.PollerOptions{
		Device: "pi",
		OnReading: func(r *reading.Reading) {
			// r is reused after this call returns: encode or copy it here.
			for _, v := range r.Values() {
				fmt.Printf("%s/%s %s: %g %s\n", r.Device, r.Sensor, v.Name, v.Float(), v.Unit)
			}
			cancel() // one reading is enough for this example
		},
	})
	if err := p.Add(sensors.NewSim(&sensors.SimOpts{Seed: 1}), time.Second); err != nil {
		log.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// pi/sim temperature: 22.49 °C
	// pi/sim humidity: 50 %
	// pi/sim pressure: 1010.12 hPa
}

// The same Seed always gives the same values, which makes a Sim usable in
// tests and demos.
func ExampleSim() {
	sim := sensors.NewSim(&sensors.SimOpts{Name: "greenhouse", Seed: 7})
	var r reading.Reading
	for i := range 2 {
		r.Reset("pi", sim.Name(), time.Date(2026, 11, 26, 19, 33, 27+i, 120e6, time.UTC))
		if err := sim.Sense(&r); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", r.AppendJSON(nil))
	}
	// Output:
	// {"type":"reading","device":"pi","sensor":"greenhouse","time":"2026-11-26T19:33:27.120Z","ts":1795721607120,"values":{"temperature":{"v":22.43,"unit":"°C"},"humidity":{"v":50,"unit":"%"},"pressure":{"v":1010.01,"unit":"hPa"}}}
	// {"type":"reading","device":"pi","sensor":"greenhouse","time":"2026-11-26T19:33:28.120Z","ts":1795721608120,"values":{"temperature":{"v":22.45,"unit":"°C"},"humidity":{"v":49.9,"unit":"%"},"pressure":{"v":1010.04,"unit":"hPa"}}}
}
