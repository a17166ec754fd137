package reading

import (
	"fmt"
	"time"
)

// MaxValues is the most named values one Reading can carry.
const MaxValues = 16

// Unit is the unit of a value, as shown to people and written on the wire
// ("°C", "%", "hPa"). Any string is allowed; the constants below are the ones
// sensorcast's own sources use, so consumers can match on them.
type Unit string

// Units used by sensorcast's sources.
const (
	Celsius   Unit = "°C"
	Percent   Unit = "%"
	HPa       Unit = "hPa"
	Lux       Unit = "lx"
	PPM       Unit = "ppm"
	Volt      Unit = "V"
	Ampere    Unit = "A"
	Watt      Unit = "W"
	Byte      Unit = "B"
	Second    Unit = "s"
	DBm       Unit = "dBm"
	Mebibytes Unit = "MiB" // 1024 × 1024 bytes, as free -m and df -m count
	// Megabytes is 10⁶ bytes. sensorcast's own sources report memory and
	// disk space in Mebibytes.
	Megabytes Unit = "MB"
	None      Unit = "" // dimensionless: a load average, an on/off state (1 or 0)
)

// Value is one named measurement in milli-units: Milli 21375 with Unit Celsius
// is 21.375 °C.
type Value struct {
	Name  string // short, stable, snake_case: "temperature", "load1"
	Unit  Unit
	Milli int64
}

// Float returns the value in whole units, for display and arithmetic.
func (v Value) Float() float64 { return float64(v.Milli) / 1000 }

// Milli converts a float in whole units to milli-units, rounding half away
// from zero. It is the helper sources use when a driver reports floats.
func Milli(f float64) int64 {
	if f < 0 {
		return -int64(-f*1000 + 0.5)
	}
	return int64(f*1000 + 0.5)
}

// Reading is one sample of one sensor: who measured it, when, and up to
// MaxValues named values. The zero value is an empty reading. A Reading is a
// value type: copying it copies all of its values.
type Reading struct {
	Device string    // the node that measured, by default its hostname
	Sensor string    // the sensor's configured name, unique on the device
	Time   time.Time // when the sample was taken

	n    int
	vals [MaxValues]Value
}

// Reset empties r and sets its identity and time, ready for Add. Sources are
// given a Reset reading; they only call Add.
func (r *Reading) Reset(device, sensor string, t time.Time) {
	r.Device, r.Sensor, r.Time = device, sensor, t
	r.n = 0
}

// Add appends a value. It returns an error, and changes nothing, when r
// already holds MaxValues values.
func (r *Reading) Add(name string, unit Unit, milli int64) error {
	if r.n == MaxValues {
		return fmt.Errorf("reading: add %q: already %d values", name, MaxValues)
	}
	r.vals[r.n] = Value{Name: name, Unit: unit, Milli: milli}
	r.n++
	return nil
}

// Len returns the number of values in r.
func (r *Reading) Len() int { return r.n }

// At returns the i'th value, in the order they were added. It panics if i is
// out of range, like a slice index.
func (r *Reading) At(i int) Value {
	if i < 0 || i >= r.n {
		panic(fmt.Sprintf("reading: index %d out of range [0:%d]", i, r.n))
	}
	return r.vals[i]
}

// Values returns r's values as a slice that aliases r: it is valid until r
// is next changed.
func (r *Reading) Values() []Value { return r.vals[:r.n] }

// Lookup returns the value with the given name.
func (r *Reading) Lookup(name string) (Value, bool) {
	for _, v := range r.vals[:r.n] {
		if v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}
