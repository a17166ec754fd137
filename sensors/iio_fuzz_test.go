package sensors

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseIIONumber: any bytes give a finite number or an error, never a
// panic; a number accepted is what the text says.
func FuzzParseIIONumber(f *testing.F) {
	for _, s := range []string{"21300\n", "-3\n", "100.325000\n", "0.019073486\n", "", "abc", "1e9", "NaN", "0x10"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseIIONumber(b)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%q gave %v", b, v)
		}
		if strings.ContainsAny(string(b), "eExXnN") {
			t.Fatalf("%q accepted: not how sysfs writes numbers", b)
		}
	})
}

// FuzzParseIIOChannel: any file name is a channel or not, never a panic; a
// channel's value name is made of lower-case letters, digits and '_' and
// starts with its type's value name.
func FuzzParseIIOChannel(f *testing.F) {
	for _, s := range []string{"in_temp_input", "in_voltage0-voltage1_raw", "in_temp_object_raw", "in_humidityrelative_input",
		"in_voltage_scale", "in_accel_x_raw", "in_temperature_input", "in_illuminance0_input", "name"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, ok := parseIIOChannel(name)
		if !ok {
			return
		}
		if !strings.HasPrefix(c.value, c.typ.value) || c.input != name {
			t.Fatalf("%q gave %+v", name, c)
		}
		for _, r := range c.value {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("%q gave value name %q", name, c.value)
			}
		}
	})
}
