package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"
)

func init() {
	register(&driver{
		name:       "ads1115",
		doc:        "TI ADS1115 16-bit ADC channels",
		interval:   2 * time.Second,
		address:    0x48,
		options:    []string{"channel"},
		valuesOf:   channelNames,
		valuesDoc:  adcValuesDoc,
		optionsDoc: "`bus`, `address` (0x48)",
		check:      (*Config).validateChannels,
		openChip: func(b i2c.Bus, c *Config) (device, error) {
			return openADS1x15(b, uint16(c.Address), false, c.Channels)
		},
		scanAddrs: []uint16{0x48, 0x49, 0x4a, 0x4b},
		identify: func(b i2c.Bus, addr uint16) (string, bool) {
			c, ok := reg16(b, addr, 0x01)
			return "ADS1115 or ADS1015 (config register at its reset value 0x8583)", ok && c == 0x8583
		},
	})
}

// adcValuesDoc is the README's values cell of the ADS1x15 drivers.
const adcValuesDoc = "one value per `[[sensor.channel]]`: `name`, `input` (`A0`…`A3`, `A0-A1`, …), `range` (full-scale V, 4.096), `unit` (V), `scale`, `offset`"

// channelNames returns the names of c's ADC channels.
func channelNames(c *Config) []string {
	v := make([]string, len(c.Channels))
	for i, ch := range c.Channels {
		v[i] = ch.Name
	}
	return v
}
