package sensors

import "time"

func init() {
	register(&driver{
		name:       "gpio",
		doc:        "a digital input: PIR, door contact, button",
		interval:   time.Minute,
		options:    []string{"line", "pull", "invert", "debounce", "value"},
		valuesDoc:  "one on/off value (`value`, default `state`), published at once on each debounced change",
		optionsDoc: "`line` (`\"GPIO17\"`), `pull` (`up`/`down`/`off`), `invert`, `debounce` (50ms)",
		valuesOf: func(c *Config) []string {
			if c.Value != "" {
				return []string{c.Value}
			}
			return []string{"state"}
		},
		check: checkLine,
		open: func(hw *Hardware, c *Config) (Source, error) {
			p, err := hw.pin(c.Line)
			if err != nil {
				return nil, err
			}
			pull, _ := parsePull(c.Pull)
			return NewGPIO(GPIOOpts{Name: c.Name, Pin: p, Pull: pull, Invert: c.Invert, Debounce: c.Debounce, Value: c.Value})
		},
	})
}

// checkLine checks the options of a driver on a GPIO line: line, pull and
// debounce.
func checkLine(c *Config) error {
	if c.Line == "" {
		return keyErr("line", `missing: the line's name, such as "GPIO17"`)
	}
	if _, err := parsePull(c.Pull); err != nil {
		return keyErr("pull", "%v", err)
	}
	if c.Debounce < 0 || c.Debounce > 10*time.Second {
		return keyErr("debounce", "%v out of range (0 to 10s)", c.Debounce)
	}
	return nil
}
