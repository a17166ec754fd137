package sensors_test

import (
	"fmt"
	"log"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// A Config is what one [[sensor]] table decodes into. Validate checks it
// and fills in the defaults without touching hardware; Hardware.Open makes
// the Source, with its filters applied.
func ExampleHardware_Open() {
	seed := int64(1)
	c := sensors.Config{
		Driver: "sim",
		Seed:   &seed,
		Filter: map[string]sensors.Filter{
			"temperature": {Offset: -0.5, Round: new(int)}, // whole degrees
		},
	}
	if err := c.Validate(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Interval)
	var hw sensors.Hardware // the real buses; a sim needs none
	src, err := hw.Open(&c)
	if err != nil {
		log.Fatal(err)
	}
	var r reading.Reading
	r.Reset("pi", src.Name(), time.Unix(0, 0))
	if err := src.Sense(&r); err != nil {
		log.Fatal(err)
	}
	v, _ := r.Lookup("temperature")
	fmt.Println(v.Float(), v.Unit)
	// Output:
	// sim 1s
	// 22 °C
}

// A mistake names the key, for the configuration file's error message.
func ExampleConfig_Validate() {
	c := sensors.Config{Driver: "bme280", Address: 0x80}
	fmt.Println(c.Validate())
	// Output:
	// key "address": 0x80 is not a 7-bit I²C device address (0x03 to 0x77)
}

// Filters smooth and thin out a Source's values: here the median of the
// last three pressures, published only when it moved by at least 0.5 hPa
// (or once a minute anyway); the simulated pressure drifts more slowly.
func ExampleNewFiltered() {
	src := sensors.NewSim(&sensors.SimOpts{Seed: 1})
	f, err := sensors.NewFiltered(src, map[string]sensors.Filter{
		"pressure": {Median: 3, Delta: 0.5, Heartbeat: time.Minute},
	})
	if err != nil {
		log.Fatal(err)
	}
	var r reading.Reading
	for i := range 3 {
		r.Reset("pi", f.Name(), time.Unix(int64(i), 0))
		err := f.Sense(&r)
		fmt.Println(i, err)
	}
	// Output:
	// 0 <nil>
	// 1 sensors: unchanged
	// 2 sensors: unchanged
}
