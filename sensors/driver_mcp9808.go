package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "mcp9808",
		doc:        "Microchip MCP9808: temperature",
		interval:   2 * time.Second,
		address:    0x18,
		values:     []string{"temperature"},
		valuesDoc:  "temperature",
		optionsDoc: "`bus`, `address` (0x18)",
		ranges: func(*Config) []valueRange {
			return []valueRange{span("temperature", reading.Celsius, -40, 125)}
		},
		openChip:  func(b i2c.Bus, c *Config) (device, error) { return openMCP9808(b, uint16(c.Address)) },
		scanAddrs: []uint16{0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			m, ok1 := reg16(b, addr, 0x06)
			d, ok2 := reg16(b, addr, 0x07)
			return "MCP9808 (manufacturer 0x0054, device 0x04)", ok1 && ok2 && m == 0x0054 && d>>8 == 0x04
		},
	})
}
