package sensors

import (
	"fmt"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// RangeError is the error of a Sense that read a value outside the range
// its chip's datasheet gives. Such a value is garbage, never weather: a
// calibration read while the chip was still copying it from its NVM, or
// while a test harness was still writing it, a different chip at the
// address, a glitch on the bus. The Source fails rather than publish it,
// and an I²C chip is reopened, its calibration read afresh, on the next
// attempt.
type RangeError struct {
	Value  string       // the value's name, such as "temperature"
	Milli  int64        // what was read, in milli-units
	Unit   reading.Unit // the unit of Milli, Lo and Hi
	Lo, Hi int64        // the chip's range, in milli-units, both included
}

// Error names the value, what was read and the range, as in
// "temperature -140.79 °C outside the chip's range -40…85 °C".
func (e *RangeError) Error() string {
	return fmt.Sprintf("%s %s outside the chip's range %s…%s", e.Value,
		withUnit(e.Milli, e.Unit), reading.AppendMilli(nil, e.Lo), withUnit(e.Hi, e.Unit))
}

func withUnit(milli int64, u reading.Unit) string {
	s := string(reading.AppendMilli(nil, milli))
	if u != reading.None {
		s += " " + string(u)
	}
	return s
}

// valueRange is the datasheet range of one value of a chip.
type valueRange struct {
	name   string
	unit   reading.Unit
	lo, hi int64 // milli-units, both included
}

// span returns the range lo…hi, given in whole units, of the value name.
func span(name string, unit reading.Unit, lo, hi float64) valueRange {
	return valueRange{name: name, unit: unit, lo: reading.Milli(lo), hi: reading.Milli(hi)}
}

// checkRanges returns a *RangeError for the first value of r, among those
// that ranges name, that lies outside its range.
func checkRanges(r *reading.Reading, ranges []valueRange) error {
	for _, v := range r.Values() {
		for _, vr := range ranges {
			if vr.name == v.Name && (v.Milli < vr.lo || v.Milli > vr.hi) {
				return &RangeError{Value: v.Name, Milli: v.Milli, Unit: vr.unit, Lo: vr.lo, Hi: vr.hi}
			}
		}
	}
	return nil
}

// Datasheet ranges shared by several chips.
var (
	humidityRange = span("humidity", reading.Percent, 0, 100)
	ds18b20Range  = span("temperature", reading.Celsius, -55, 125)
)

// chipRanges returns the datasheet ranges of the values of the sensor c
// describes, as its driver's description gives them: its operating range
// for each quantity it measures. The ADS1x15 and the BH1750 have none:
// every code they return is within their range by construction (an
// ADS1x15 channel's scale and offset are the user's).
func chipRanges(c *Config) []valueRange {
	if d := registry[c.Driver]; d != nil && d.ranges != nil {
		return d.ranges(c)
	}
	return nil
}
