package sensors_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// [sensor.ha.<value>] tables are checked: the value must exist, and every
// key must have a form Home Assistant accepts; a mistake names the key.
func TestConfigHA(t *testing.T) {
	two, eight := 2, 8
	ok := []sensors.Config{
		{Driver: "sim", HA: map[string]sensors.HA{"temperature": {Precision: &two, Icon: "mdi:thermometer", EntityCategory: "diagnostic"}}},
		{Driver: "gpio", Line: "GPIO4", Value: "open", HA: map[string]sensors.HA{"open": {DeviceClass: "door"}}},
		{Driver: "ads1115", Channels: []sensors.Channel{{Name: "soil", Input: "A0", Unit: "%"}}, HA: map[string]sensors.HA{"soil": {DeviceClass: "moisture", EntityCategory: "none"}}},
		{Driver: "ds18b20", HA: map[string]sensors.HA{"tank": {Precision: &two}}}, // probe names known only at run time
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Driver, err)
		}
	}
	bad := []struct {
		c    sensors.Config
		key  string
		want string
	}{
		{sensors.Config{Driver: "sim", HA: map[string]sensors.HA{"temprature": {}}}, "ha.temprature", "has no value"},
		{sensors.Config{Driver: "sim", HA: map[string]sensors.HA{"temperature": {DeviceClass: "Temperature"}}}, "ha.temperature", "device_class"},
		{sensors.Config{Driver: "sim", HA: map[string]sensors.HA{"temperature": {EntityCategory: "config"}}}, "ha.temperature", "entity_category"},
		{sensors.Config{Driver: "sim", HA: map[string]sensors.HA{"temperature": {Icon: "thermometer"}}}, "ha.temperature", "icon"},
		{sensors.Config{Driver: "sim", HA: map[string]sensors.HA{"temperature": {Precision: &eight}}}, "ha.temperature", "precision"},
	}
	for _, b := range bad {
		err := b.c.Validate()
		var ke *sensors.KeyError
		if !errors.As(err, &ke) || ke.Key != b.key || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: err = %v; want a KeyError for %s about %s", b.c.HA, err, b.key, b.want)
		}
	}
}

// Expect gives the values and units the sim's first reading has, and nil
// for the drivers whose values are found at run time.
func TestConfigExpect(t *testing.T) {
	c := sensors.Config{Driver: "sim"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := (&sensors.Hardware{}).Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	var r reading.Reading
	if err := src.Sense(&r); err != nil {
		t.Fatal(err)
	}
	want := c.Expect()
	if len(want) != r.Len() {
		t.Fatalf("Expect = %v, reading has %v", want, r.Values())
	}
	for i, v := range r.Values() {
		if v.Name != want[i].Name || v.Unit != want[i].Unit {
			t.Errorf("value %d: Expect %+v, reading %+v", i, want[i], v)
		}
	}
	for _, c := range []sensors.Config{
		{Driver: "ina219"}, {Driver: "scd4x"}, {Driver: "bh1750"},
		{Driver: "gpio", Line: "GPIO4", Value: "motion"},
		{Driver: "ads1015", Channels: []sensors.Channel{{Name: "soil", Input: "A0", Unit: "%"}, {Name: "bat", Input: "A1"}}},
	} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, v := range c.Expect() {
			if v.Name == "" || (c.Driver != "gpio" && v.Unit == "") {
				t.Errorf("%s: Expect has %+v", c.Driver, v)
			}
		}
	}
	g := sensors.Config{Driver: "gpio", Line: "GPIO4", Value: "motion"}
	g.Validate()
	if e := g.Expect(); len(e) != 1 || e[0].Name != "motion" {
		t.Errorf("gpio Expect = %v", e)
	}
	a := sensors.Config{Driver: "ads1015", Channels: []sensors.Channel{{Name: "soil", Input: "A0", Unit: "%"}, {Name: "bat", Input: "A1"}}}
	a.Validate()
	if e := a.Expect(); len(e) != 2 || e[0].Unit != "%" || e[1].Unit != "V" {
		t.Errorf("ads Expect = %v", e)
	}
	for _, d := range []string{"host", "ds18b20"} {
		c := sensors.Config{Driver: d}
		c.Validate()
		if e := c.Expect(); e != nil {
			t.Errorf("%s: Expect = %v, want nil", d, e)
		}
	}
}
