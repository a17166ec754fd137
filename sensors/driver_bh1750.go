package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"
)

func init() {
	register(&driver{
		name:       "bh1750",
		doc:        "Rohm BH1750: illuminance",
		interval:   2 * time.Second,
		address:    0x23,
		values:     []string{"illuminance"},
		valuesDoc:  "illuminance (lx)",
		optionsDoc: "`bus`, `address` (0x23)",
		// No range: every code it returns is within its range by construction.
		openChip:  func(b i2c.Bus, c *Config) (device, error) { return openBH1750(b, uint16(c.Address)) },
		scanAddrs: []uint16{0x23, 0x5c},
		identify:  func(i2c.Bus, uint16) (string, bool) { return "BH1750 (by address)", true },
	})
}
