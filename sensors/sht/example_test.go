package sht_test

import (
	"fmt"
	"log"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/sensorcast/sensorcast/sensors/sht"
)

func Example() {
	// On a Pi: bus, err := i2creg.Open("/dev/i2c-1"). Here a recorded
	// transcript stands in for the sensor.
	bus := &i2ctest.Playback{Ops: append(append([]i2ctest.IO{}, open3x...), measure3x...)}
	d, err := sht.NewSHT3x(bus, &sht.Opts{Addr: sht.AddrDefault})
	if err != nil {
		log.Fatal(err)
	}
	var e physic.Env
	if err := d.Sense(&e); err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Temperature, e.Humidity)
	// Output: 25°C 50%rH
}
