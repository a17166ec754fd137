package sensors_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/sensorcast/sensorcast/sensors"
)

func TestConfigDefaults(t *testing.T) {
	c := sensors.Config{Driver: "bme280"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "bme280" || c.Interval != 2*time.Second || c.Bus != "/dev/i2c-1" || c.Address != 0x76 {
		t.Errorf("defaults %+v", c)
	}
	a := sensors.Config{Driver: "ads1115", Channels: []sensors.Channel{{Name: "soil", Input: "A0"}}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if ch := a.Channels[0]; ch.Range != 4.096 || ch.Unit != "V" {
		t.Errorf("channel defaults %+v", ch)
	}
	g := sensors.Config{Driver: "gpio", Line: "GPIO17"}
	if err := g.Validate(); err != nil || g.Interval != time.Minute {
		t.Errorf("gpio: %v, %+v", err, g)
	}
	if d := sensors.Drivers(); len(d) < 17 || d[0] != "ads1015" || !slices.IsSorted(d) || !slices.Contains(d, "iio") {
		t.Errorf("Drivers() = %v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	one := 1.0
	for _, tc := range []struct {
		c    sensors.Config
		key  string
		want string
	}{
		{sensors.Config{}, "driver", "missing (one of: ads1015, ads1115, aht20,"},
		{sensors.Config{Driver: "bme999"}, "driver", `unknown driver "bme999"`},
		{sensors.Config{Driver: "sim", Name: "green/house"}, "name", `'/' is not allowed in names`},
		{sensors.Config{Driver: "sim", Name: " sim"}, "name", "begins or ends with a space"},
		{sensors.Config{Driver: "sim", Interval: time.Millisecond}, "interval", "1ms out of range (at least 10ms)"},
		{sensors.Config{Driver: "host", Seed: new(int64)}, "seed", `is for driver "sim", not "host"`},
		{sensors.Config{Driver: "sim", Bus: "/dev/i2c-0"}, "bus", `is for I²C drivers, not "sim"`},
		{sensors.Config{Driver: "bme280", Address: 0x80}, "address", "0x80 is not a 7-bit I²C device address"},
		{sensors.Config{Driver: "aht20", Address: 0x39}, "address", "the aht20 answers only at 0x38"},
		{sensors.Config{Driver: "sht3x", Channels: []sensors.Channel{}}, "channel", `is for driver "ads1015" or "ads1115", not "sht3x"`},
		{sensors.Config{Driver: "gpio"}, "line", `missing: the line's name, such as "GPIO17"`},
		{sensors.Config{Driver: "gpio", Line: "GPIO4", Pull: "sideways"}, "pull", `"sideways" is not one of up, down, off`},
		{sensors.Config{Driver: "gpio", Line: "GPIO4", Debounce: time.Minute}, "debounce", "1m0s out of range"},
		{sensors.Config{Driver: "ina219", ShuntOhms: -1}, "shunt_ohms", "-1 out of range"},
		{sensors.Config{Driver: "ina219", MaxAmps: 5000}, "max_amps", "5000 out of range"},
		{sensors.Config{Driver: "ads1115"}, "channel", "missing: at least one [[sensor.channel]]"},
		{sensors.Config{Driver: "ads1115", Channels: []sensors.Channel{{Input: "A0"}}}, "channel", `#1: missing "name"`},
		{sensors.Config{Driver: "ads1115", Channels: []sensors.Channel{{Name: "a", Input: "A0"}, {Name: "a", Input: "A1"}}}, "channel", `#2: name "a" used twice`},
		{sensors.Config{Driver: "ads1015", Channels: []sensors.Channel{{Name: "a", Input: "A4"}}}, "channel", `"a": input "A4" is not one of`},
		{sensors.Config{Driver: "ads1015", Channels: []sensors.Channel{{Name: "a", Input: "A1", Range: 5}}}, "channel", `"a": range 5 is not one of`},
		{sensors.Config{Driver: "ds18b20", Probes: []string{"10-1234"}}, "probes", `"10-1234" is not a DS18B20 id`},
		{sensors.Config{Driver: "ds18b20", Probes: []string{"28-*"}}, "probes", `"28-*" is not a DS18B20 id`},
		{sensors.Config{Driver: "sim", Filter: map[string]sensors.Filter{"temperature": {Scale: &one, Calibrate: [][]float64{{0, 0}, {1, 1}}}}},
			"filter.temperature", `"scale" and "calibrate" exclude each other`},
		{sensors.Config{Driver: "bmp280", Filter: map[string]sensors.Filter{"humidity": {Offset: 1}}},
			"filter.humidity", `the bmp280 driver has no value "humidity" (it has: temperature, pressure)`},
		{sensors.Config{Driver: "gpio", Line: "GPIO4", Value: "motion", Filter: map[string]sensors.Filter{"state": {}}},
			"filter.state", `the gpio driver has no value "state" (it has: motion)`},
		{sensors.Config{Driver: "ads1115", Channels: []sensors.Channel{{Name: "soil", Input: "A0"}}, Filter: map[string]sensors.Filter{"soli": {}}},
			"filter.soli", `the ads1115 driver has no value "soli" (it has: soil)`},
	} {
		err := tc.c.Validate()
		var ke *sensors.KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want key %q and %q", tc.c, err, tc.key, tc.want)
		}
	}
}

func TestOpenNonI2C(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level)}
	hw := &sensors.Hardware{
		Root: "testdata/w1/pi",
		Pin: func(name string) (gpio.PinIO, error) {
			if name != "GPIO17" {
				return nil, errors.New("gpio line " + name + ": not found")
			}
			return pin, nil
		},
	}
	w := openConfig(t, hw, sensors.Config{Driver: "ds18b20", Name: "probes", Filter: map[string]sensors.Filter{"28-0316a2797aff": {Offset: -0.062}}})
	got, err := senseValues(t, w)
	if err != nil || valuesString(got) != "28-0316a2797aff=25°C 28-0416b0c1f2ff=-10.125°C" {
		t.Errorf("ds18b20 with an offset: %s, %v", valuesString(got), err)
	}
	g := openConfig(t, hw, sensors.Config{Driver: "gpio", Name: "door", Line: "GPIO17", Pull: "up", Invert: true})
	if got, err := senseValues(t, g); err != nil || valuesString(got) != "state=0" {
		t.Errorf("gpio: %s, %v", valuesString(got), err)
	}
	g.(sensors.Halter).Halt()
	<-g.(*sensors.GPIO).Done()

	c := sensors.Config{Driver: "gpio", Line: "GPIO99"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := hw.Open(&c); err == nil || err.Error() != `sensor "gpio" (gpio): gpio line GPIO99: not found` {
		t.Errorf("missing line: %v", err)
	}
	c = sensors.Config{Driver: "ds18b20"}
	c.Validate()
	if _, err := (&sensors.Hardware{Root: t.TempDir()}).Open(&c); err == nil || !strings.Contains(err.Error(), "no 1-Wire bus") {
		t.Errorf("missing w1 bus: %v", err)
	}
}

// TestMissingBus uses the real periph host drivers: a bus that does not
// exist is a clear error on each attempt, and never a panic.
func TestMissingBus(t *testing.T) {
	c := sensors.Config{Driver: "sht3x", Bus: "/dev/i2c-99"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var hw sensors.Hardware
	src, err := hw.Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := senseValues(t, src)
		if err == nil || err.Error() != "i2c bus /dev/i2c-99: not found (on a Raspberry Pi, enable I²C with dtparam=i2c_arm=on)" {
			t.Errorf("Sense = %v", err)
		}
	}
	g := sensors.Config{Driver: "gpio", Line: "NO_SUCH_LINE"}
	g.Validate()
	if _, err := hw.Open(&g); err == nil || !strings.Contains(err.Error(), `gpio line "NO_SUCH_LINE": not found`) {
		t.Errorf("missing line: %v", err)
	}
	for _, name := range []string{"17", "P1_11"} {
		g := sensors.Config{Driver: "gpio", Line: name}
		g.Validate()
		if _, err := hw.Open(&g); err == nil || !strings.Contains(err.Error(), `such as "GPIO17"`) {
			t.Errorf("line %q: %v", name, err)
		}
	}
}
