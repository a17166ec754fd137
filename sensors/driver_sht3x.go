package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sht"
)

func init() {
	register(&driver{
		name:       "sht3x",
		doc:        "Sensirion SHT30/31/35: temperature, humidity",
		interval:   2 * time.Second,
		address:    0x44,
		values:     []string{"temperature", "humidity"},
		valuesDoc:  "temperature, humidity (CRC-checked)",
		optionsDoc: "`bus`, `address` (0x44)",
		ranges:     func(*Config) []valueRange { return shtRanges },
		openChip:   func(b i2c.Bus, c *Config) (device, error) { return openSHT(b, uint16(c.Address), sht.SHT3x) },
		scanAddrs:  []uint16{0x44, 0x45, 0x46},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			return "SHT3x (status register with a valid CRC)", probeSensirion(b, addr, []byte{0xF3, 0x2D}, 3)
		},
	})
}

// shtRanges are the SHT3x's and SHT4x's datasheet ranges.
var shtRanges = []valueRange{span("temperature", reading.Celsius, -40, 125), humidityRange}
