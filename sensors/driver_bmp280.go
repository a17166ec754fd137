package sensors

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
)

func init() {
	register(&driver{
		name:       "bmp280",
		doc:        "Bosch BMP280: temperature, pressure",
		interval:   2 * time.Second,
		address:    0x76,
		values:     []string{"temperature", "pressure"},
		valuesDoc:  "temperature, pressure",
		optionsDoc: "`bus`, `address` (0x76)",
		ranges:     func(*Config) []valueRange { return bmx280Ranges },
		openChip:   func(b i2c.Bus, c *Config) (device, error) { return openBMx280(b, uint16(c.Address)) },
		scanAddrs:  []uint16{0x76, 0x77},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			id, ok := reg8(b, addr, 0xD0)
			return fmt.Sprintf("BMP280 (chip id %#x)", id), ok && (id == 0x56 || id == 0x57 || id == 0x58)
		},
	})
}
