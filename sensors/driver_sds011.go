package sensors

import (
	"fmt"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(serialDriver("sds011", "Nova Fitness SDS011: particulate matter PM2.5, PM10 on a serial port", sds011,
		[]string{"pm25", "pm10"}, "pm25, pm10 (µg/m³)"))
}

// sds011 is the Nova SDS011's protocol: in its default continuous mode, a
// 10-byte frame every second, 9600 baud.
var sds011 = &serialProto{
	chip:    "SDS011",
	header:  []byte{0xAA, 0xC0},
	size:    10,
	timeout: 3 * time.Second,
	parse:   parseSDS011,
	ranges: []valueRange{
		span("pm25", MicrogramsPerM3, 0, 999.9),
		span("pm10", MicrogramsPerM3, 0, 999.9),
	},
}

// parseSDS011 checks an SDS011 data frame and adds its concentrations:
//
//	0xAA 0xC0, PM2.5 low, high, PM10 low, high (0.1 µg/m³), id low, high,
//	checksum (the sum of the six data bytes, 8 bits), 0xAB.
func parseSDS011(f []byte, r *reading.Reading) error {
	if len(f) != 10 || f[0] != 0xAA || f[1] != 0xC0 {
		return fmt.Errorf("not an SDS011 data frame: % x", f[:min(len(f), 2)])
	}
	if f[9] != 0xAB {
		return fmt.Errorf("frame tail %#02x, want 0xab", f[9])
	}
	var sum byte
	for _, b := range f[2:8] {
		sum += b
	}
	if sum != f[8] {
		return fmt.Errorf("%w: sum %#02x, frame says %#02x", errChecksum, sum, f[8])
	}
	if err := r.Add("pm25", MicrogramsPerM3, (int64(f[3])<<8|int64(f[2]))*100); err != nil {
		return err
	}
	return r.Add("pm10", MicrogramsPerM3, (int64(f[5])<<8|int64(f[4]))*100)
}

// NewSDS011 returns a Source for a Nova SDS011.
func NewSDS011(o SerialOpts) *Serial { return newSerial(sds011, named(o, "sds011")) }
