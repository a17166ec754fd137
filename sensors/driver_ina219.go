package sensors

import (
	"math"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "ina219",
		doc:        "TI INA219: bus voltage, current, power",
		interval:   2 * time.Second,
		address:    0x40,
		values:     []string{"voltage", "current", "power"},
		options:    []string{"shunt_ohms", "max_amps"},
		valuesDoc:  "voltage, current, power",
		optionsDoc: "`bus`, `address` (0x40), `shunt_ohms` (0.1), `max_amps` (3.2)",
		check: func(c *Config) error {
			if c.ShuntOhms < 0 || math.IsNaN(c.ShuntOhms) || c.ShuntOhms > 1000 {
				return keyErr("shunt_ohms", "%v out of range (above 0, up to 1000)", c.ShuntOhms)
			}
			if c.MaxAmps < 0 || math.IsNaN(c.MaxAmps) || c.MaxAmps > 1000 {
				return keyErr("max_amps", "%v out of range (above 0, up to 1000)", c.MaxAmps)
			}
			return nil
		},
		ranges: func(c *Config) []valueRange {
			// Bus voltage 0…26 V; the shunt voltage is at most ±320 mV, so
			// the current at most 0.32 V / shunt either way.
			maxA := 0.32 / ina219Shunt(c)
			return []valueRange{
				span("voltage", reading.Volt, 0, 26),
				span("current", reading.Ampere, -maxA, maxA),
				span("power", reading.Watt, 0, 26*maxA),
			}
		},
		openChip: func(b i2c.Bus, c *Config) (device, error) {
			maxA := 3.2
			if c.MaxAmps > 0 {
				maxA = c.MaxAmps
			}
			return openINA219(b, uint16(c.Address), physic.ElectricResistance(ina219Shunt(c)*float64(physic.Ohm)), physic.ElectricCurrent(maxA*float64(physic.Ampere)))
		},
		scanAddrs: []uint16{0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f},
		scanOrder: 1, // after the SHT3x/SHT4x and ADS1x15/TMP102 at shared addresses
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			c, ok := reg16(b, addr, 0x00)
			return "INA219 (config register at its reset value 0x399f)", ok && c == 0x399F
		},
	})
}

// ina219Shunt returns the shunt resistor in ohms (default 0.1).
func ina219Shunt(c *Config) float64 {
	if c.ShuntOhms > 0 {
		return c.ShuntOhms
	}
	return 0.1
}
