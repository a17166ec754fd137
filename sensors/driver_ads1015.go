package sensors

import (
	"time"

	"periph.io/x/conn/v3/i2c"
)

func init() {
	// scan names the ADS1115 for both: their reset state is the same.
	register(&driver{
		name:       "ads1015",
		doc:        "TI ADS1015 12-bit ADC channels",
		interval:   2 * time.Second,
		address:    0x48,
		options:    []string{"channel"},
		valuesOf:   channelNames,
		valuesDoc:  adcValuesDoc,
		optionsDoc: "`bus`, `address` (0x48)",
		check:      (*Config).validateChannels,
		openChip: func(b i2c.Bus, c *Config) (device, error) {
			return openADS1x15(b, uint16(c.Address), true, c.Channels)
		},
	})
}
