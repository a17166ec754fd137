package sensors

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(pmsDriver("pms5003", "Plantower PMS5003: particulate matter PM1, PM2.5, PM10 on a serial port", pms5003))
}

// pms5003 is the Plantower PMS5003's protocol in active mode, its
// default: a 32-byte frame every 0.2 to 2.3 s, 9600 baud.
var pms5003 = &serialProto{
	chip:    "PMS5003",
	header:  []byte{0x42, 0x4D},
	size:    32,
	timeout: 4 * time.Second,
	parse:   parsePMS,
	ranges:  pmsRanges,
}

// pmsRanges are the PMS5003's and PMS7003's ranges: 0…500 µg/m³
// effective, 1000 µg/m³ at most.
var pmsRanges = []valueRange{
	span("pm1", MicrogramsPerM3, 0, 1000),
	span("pm25", MicrogramsPerM3, 0, 1000),
	span("pm10", MicrogramsPerM3, 0, 1000),
}

// parsePMS checks a Plantower frame and adds its atmospheric-environment
// concentrations. The frame:
//
//	0x42 0x4D, frame length 2×13+2 (big-endian 16 bits),
//	data 1…3: PM1.0, PM2.5, PM10 in µg/m³ for standard particles (CF=1),
//	data 4…6: PM1.0, PM2.5, PM10 in µg/m³ under atmospheric environment,
//	data 7…12: particle counts per 0.1 L (> 0.3, 0.5, 1, 2.5, 5, 10 µm),
//	data 13: reserved (PMS7003: version and error code),
//	checksum: the sum of every byte before it, 16 bits.
func parsePMS(f []byte, r *reading.Reading) error {
	if len(f) != 32 || f[0] != 0x42 || f[1] != 0x4D {
		return fmt.Errorf("not a Plantower frame: % x", f[:min(len(f), 4)])
	}
	if n := binary.BigEndian.Uint16(f[2:]); n != 28 {
		return fmt.Errorf("frame length %d, want 28", n)
	}
	var sum uint16
	for _, b := range f[:30] {
		sum += uint16(b)
	}
	if want := binary.BigEndian.Uint16(f[30:]); sum != want {
		return fmt.Errorf("%w: sum %#04x, frame says %#04x", errChecksum, sum, want)
	}
	word := func(i int) int64 { return int64(binary.BigEndian.Uint16(f[2+2*i:])) * 1000 }
	for i, name := range []string{"pm1", "pm25", "pm10"} {
		if err := r.Add(name, MicrogramsPerM3, word(4+i)); err != nil {
			return err
		}
	}
	return nil
}

// pmsDriver describes a Plantower sensor's driver.
func pmsDriver(name, doc string, p *serialProto) *driver {
	return serialDriver(name, doc, p, []string{"pm1", "pm25", "pm10"}, "pm1, pm25, pm10 (µg/m³, atmospheric)")
}

// serialDriver describes the driver of a sensor on a serial port.
func serialDriver(name, doc string, p *serialProto, values []string, valuesDoc string) *driver {
	return &driver{
		name:       name,
		doc:        doc,
		interval:   10 * time.Second,
		values:     values,
		options:    []string{"port"},
		valuesDoc:  valuesDoc,
		optionsDoc: "`port` (`/dev/serial0`)",
		check:      checkSerialPort,
		ranges:     func(*Config) []valueRange { return p.ranges },
		open: func(hw *Hardware, c *Config) (Source, error) {
			return newSerial(p, SerialOpts{Name: c.Name, Port: c.Port}), nil
		},
		serial: p,
	}
}

// NewPMS5003 returns a Source for a Plantower PMS5003.
func NewPMS5003(o SerialOpts) *Serial { return newSerial(pms5003, named(o, "pms5003")) }

// named returns o with a default name.
func named(o SerialOpts, name string) SerialOpts {
	if o.Name == "" {
		o.Name = name
	}
	return o
}
