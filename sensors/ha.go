package sensors

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// validateHA checks c's [sensor.ha.<value>] tables against the names of
// the values c's Source reports (nil: known only at run time).
func (c *Config) validateHA(values []string) error {
	names := make([]string, 0, len(c.HA))
	for name := range c.HA {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := c.HA[name].validate(c.Driver, name, values); err != nil {
			return &KeyError{Key: "ha." + name, Err: err}
		}
	}
	return nil
}

func (h HA) validate(driver, name string, values []string) error {
	if values != nil && !slices.Contains(values, name) {
		return fmt.Errorf("the %s driver has no value %q (it has: %s)", driver, name, strings.Join(values, ", "))
	}
	if h.DeviceClass != "" && !isSnake(h.DeviceClass) {
		return fmt.Errorf("device_class %q: lower-case letters, digits and _ only, such as \"moisture\"", h.DeviceClass)
	}
	switch h.EntityCategory {
	case "", "diagnostic", "none":
	default:
		return fmt.Errorf("entity_category %q: must be \"diagnostic\" or \"none\" (Home Assistant allows no other for sensors)", h.EntityCategory)
	}
	if prefix, icon, ok := strings.Cut(h.Icon, ":"); h.Icon != "" && (!ok || prefix == "" || icon == "" || strings.ContainsAny(h.Icon, " /")) {
		return fmt.Errorf("icon %q: must be like \"mdi:sprout\"", h.Icon)
	}
	if h.Precision != nil && (*h.Precision < 0 || *h.Precision > 6) {
		return fmt.Errorf("precision %d: must be 0 to 6 decimals", *h.Precision)
	}
	return nil
}

func isSnake(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

// Expect returns the values c's Source reports, with their units, as far
// as they are known before it runs, so that a sensor failing from the
// start can be announced (to Home Assistant) with them. It is nil for the
// drivers whose values depend on what they find (host, ds18b20) and for
// drivers it does not know. c must have passed Validate.
func (c *Config) Expect() []reading.Value {
	var names []string
	switch c.Driver {
	case "sim", "bme280":
		names = []string{"temperature", "humidity", "pressure"}
	case "bmp280":
		names = []string{"temperature", "pressure"}
	case "sht3x", "sht4x", "aht20":
		names = []string{"temperature", "humidity"}
	case "mcp9808", "tmp102":
		names = []string{"temperature"}
	case "bh1750":
		names = []string{"illuminance"}
	case "ina219":
		names = []string{"voltage", "current", "power"}
	case "scd4x":
		names = []string{"co2", "temperature", "humidity"}
	case "gpio":
		v := c.Value
		if v == "" {
			v = "state"
		}
		return []reading.Value{{Name: v, Unit: reading.None}}
	case "ads1115", "ads1015":
		v := make([]reading.Value, len(c.Channels))
		for i, ch := range c.Channels {
			v[i] = reading.Value{Name: ch.Name, Unit: reading.Unit(ch.Unit)}
		}
		return v
	default:
		return nil
	}
	unit := map[string]reading.Unit{
		"temperature": reading.Celsius, "humidity": reading.Percent, "pressure": reading.HPa,
		"illuminance": reading.Lux, "voltage": reading.Volt, "current": reading.Ampere,
		"power": reading.Watt, "co2": reading.PPM,
	}
	v := make([]reading.Value, len(names))
	for i, n := range names {
		v[i] = reading.Value{Name: n, Unit: unit[n]}
	}
	return v
}
