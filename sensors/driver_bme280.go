package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:       "bme280",
		doc:        "Bosch BME280 (or BMP280): temperature, humidity, pressure",
		interval:   2 * time.Second,
		address:    0x76,
		values:     []string{"temperature", "humidity", "pressure"},
		valuesDoc:  "temperature, humidity, pressure",
		optionsDoc: "`bus`, `address` (0x76)",
		ranges:     func(*Config) []valueRange { return bmx280Ranges },
		openChip:   func(b i2c.Bus, c *Config) (device, error) { return openBMx280(b, uint16(c.Address)) },
		scanAddrs:  []uint16{0x76, 0x77},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			id, ok := reg8(b, addr, 0xD0)
			return "BME280 (chip id 0x60)", ok && id == 0x60
		},
	})
}

// bmx280Ranges are the BME280's and BMP280's datasheet ranges.
var bmx280Ranges = []valueRange{
	span("temperature", reading.Celsius, -40, 85),
	humidityRange,
	span("pressure", reading.HPa, 300, 1100),
}
