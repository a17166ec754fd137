package sensors

import "time"

func init() {
	register(&driver{
		name:       "sim",
		doc:        "simulated temperature, humidity and pressure",
		interval:   time.Second,
		values:     []string{"temperature", "humidity", "pressure"},
		options:    []string{"seed"},
		valuesDoc:  "temperature, humidity, pressure",
		optionsDoc: "`seed`",
		open: func(hw *Hardware, c *Config) (Source, error) {
			o := &SimOpts{Name: c.Name}
			if c.Seed != nil {
				o.Seed = *c.Seed
			}
			return NewSim(o), nil
		},
	})
}
