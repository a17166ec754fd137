package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "scd4x",
		doc:        "Sensirion SCD40/41: CO₂, temperature, humidity",
		interval:   5 * time.Second,
		address:    0x62,
		fixed:      true,
		values:     []string{"co2", "temperature", "humidity"},
		valuesDoc:  "co2 (ppm), temperature, humidity",
		optionsDoc: "`bus` (always 0x62)",
		ranges: func(*Config) []valueRange {
			return []valueRange{
				span("co2", reading.PPM, 0, 40000),
				span("temperature", reading.Celsius, -10, 60),
				humidityRange,
			}
		},
		openChip:  func(b i2c.Bus, c *Config) (device, error) { return openSCD4x(b, uint16(c.Address)) },
		scanAddrs: []uint16{0x62},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			if probeSensirion(b, addr, []byte{0x36, 0x82}, 9) {
				return "SCD4x (serial number with a valid CRC)", true
			}
			return "SCD4x (by address; serial number not read: measuring?)", true
		},
	})
}
