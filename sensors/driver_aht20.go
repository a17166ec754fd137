package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "aht20",
		doc:        "Aosong AHT20: temperature, humidity",
		interval:   2 * time.Second,
		address:    0x38,
		fixed:      true,
		values:     []string{"temperature", "humidity"},
		valuesDoc:  "temperature, humidity",
		optionsDoc: "`bus` (always 0x38)",
		ranges: func(*Config) []valueRange {
			return []valueRange{span("temperature", reading.Celsius, -40, 85), humidityRange}
		},
		openChip:  func(b i2c.Bus, c *Config) (device, error) { return openAHT20(b) },
		scanAddrs: []uint16{0x38},
		identify:  func(i2c.Bus, uint16) (string, bool) { return "AHT20 (by address)", true },
	})
}
