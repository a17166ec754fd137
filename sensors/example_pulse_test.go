package sensors_test

import (
	"log"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/sensorcast/sensorcast/sensors"
)

// A water meter's reed contact to ground on GPIO22, 1 pulse per litre: the
// line is requested for its falling edges with the pull-up on, and the
// Pulse counts them with a 20 ms debounce (between the kernel's timestamps
// of the edges), keeping its total in a state file. (It needs the GPIO
// character device of a Pi, so it is compiled here, not run.)
func ExampleOpenEdgeLine() {
	line, err := sensors.OpenEdgeLine("GPIO22", sensors.EdgeOpts{Falling: true, Pull: gpio.PullUp})
	if err != nil {
		log.Fatal(err) // no such line, or another program holds it
	}
	p, err := sensors.NewPulse(sensors.PulseOpts{
		Name: "water", Line: line, Debounce: 20 * time.Millisecond,
		Unit: "L", StateFile: "/var/lib/sensorcast/pulse/water.count",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Halt() // closes the line and keeps the total
}
