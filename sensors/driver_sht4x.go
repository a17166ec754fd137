package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/sht"
)

func init() {
	register(&driver{
		name:       "sht4x",
		doc:        "Sensirion SHT40/41/45: temperature, humidity",
		interval:   2 * time.Second,
		address:    0x44,
		values:     []string{"temperature", "humidity"},
		valuesDoc:  "temperature, humidity (CRC-checked)",
		optionsDoc: "`bus`, `address` (0x44)",
		ranges:     func(*Config) []valueRange { return shtRanges },
		openChip:   func(b i2c.Bus, c *Config) (device, error) { return openSHT(b, uint16(c.Address), sht.SHT4x) },
		scanAddrs:  []uint16{0x44, 0x45, 0x46},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			return "SHT4x (serial number with a valid CRC)", probeSensirion(b, addr, []byte{0x89}, 6)
		},
	})
}
