package sensors

import (
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "tmp102",
		doc:        "TI TMP102: temperature",
		interval:   2 * time.Second,
		address:    0x48,
		values:     []string{"temperature"},
		valuesDoc:  "temperature",
		optionsDoc: "`bus`, `address` (0x48)",
		ranges: func(*Config) []valueRange {
			return []valueRange{span("temperature", reading.Celsius, -55, 150)}
		},
		openChip:  func(b i2c.Bus, c *Config) (device, error) { return openTMP102(b, uint16(c.Address)) },
		scanAddrs: []uint16{0x48, 0x49, 0x4a, 0x4b},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			c, ok := reg16(b, addr, 0x01)
			return fmt.Sprintf("TMP102 (config register %#04x)", c), ok && c&0xFF00 == 0x6000
		},
	})
}
