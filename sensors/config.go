package sensors

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	_ "periph.io/x/host/v3/gpioioctl" // registers the GPIO character device's lines
	"periph.io/x/host/v3/sysfs"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Config is one [[sensor]] table of the configuration file: the driver,
// its options and the filters of its values. The toml tags are the keys.
// Validate checks it and fills in the defaults; it never touches hardware.
// Open turns it into a Source.
type Config struct {
	Driver   string        `toml:"driver"`   // one of Drivers
	Name     string        `toml:"name"`     // default: the driver's name
	Interval time.Duration `toml:"interval"` // e.g. "2s"; default per driver

	// I²C drivers.
	Bus     string `toml:"bus"`     // default "/dev/i2c-1"
	Address int    `toml:"address"` // 7-bit, e.g. 0x76; default per driver

	Seed *int64 `toml:"seed"` // sim: the random seed
	Disk string `toml:"disk"` // host: a path whose file system's usage is reported; default "/"

	// ds18b20: probe ids to read (default: all on the bus) and value
	// names by probe id (default: the id).
	Probes []string          `toml:"probes"`
	Names  map[string]string `toml:"names"`

	// gpio: the line by name ("GPIO17"), its bias ("up", "down", "off";
	// default: unchanged), whether low means on, the debounce time
	// (default 50ms) and the value's name (default "state").
	Line     string        `toml:"line"`
	Pull     string        `toml:"pull"`
	Invert   bool          `toml:"invert"`
	Debounce time.Duration `toml:"debounce"`
	Value    string        `toml:"value"`

	// ina219: the shunt resistor in ohms (default 0.1) and the largest
	// current expected in amperes (default 3.2).
	ShuntOhms float64 `toml:"shunt_ohms"`
	MaxAmps   float64 `toml:"max_amps"`

	// ads1115, ads1015: one [[sensor.channel]] table per input read.
	Channels []Channel `toml:"channel"`

	// iio: the device, by its name ("dht11"), its device-tree node's name
	// or its directory ("iio:device0"); default: the only one.
	Device string `toml:"device"`

	// pms5003, pms7003, sds011, mhz19: the serial port; default
	// "/dev/serial0".
	Port string `toml:"port"`

	// pulse: what one pulse is worth (rate and total count pulses ÷
	// Scale, e.g. 450 pulses per litre; default 1), the total's unit
	// (default "pulses") and the rate's time base ("second", "minute" or
	// "hour"; default "minute"). line, pull, invert and debounce as for
	// gpio.
	Scale float64 `toml:"scale"`
	Unit  string  `toml:"unit"`
	Per   string  `toml:"per"`

	// Filter holds per-value processing, one [sensor.filter.<value>]
	// table per value name.
	Filter map[string]Filter `toml:"filter"`

	// HA sets what Home Assistant's MQTT discovery announces for a value,
	// one [sensor.ha.<value>] table per value name.
	HA map[string]HA `toml:"ha"`
}

// HA is what Home Assistant gets for one value, overriding what the MQTT
// bridge would choose. Every field is optional. Whether a device class fits
// the value's unit is checked by the bridge, which knows Home Assistant's
// rules.
type HA struct {
	// DeviceClass is the sensor's device class ("moisture", "voltage"),
	// or for a gpio value the binary_sensor's ("door", "motion"); "none"
	// announces no class.
	DeviceClass string `toml:"device_class"`
	// EntityCategory is "diagnostic" (shown apart from the controls and
	// sensors), or "none" for a primary entity.
	EntityCategory string `toml:"entity_category"`
	// Icon is a Material Design icon, such as "mdi:sprout".
	Icon string `toml:"icon"`
	// Precision is the number of decimals Home Assistant shows, 0 to 6.
	Precision *int `toml:"precision"`
}

// Channel is one ADS1x15 input, converted as volts × Scale + Offset.
type Channel struct {
	Name   string   `toml:"name"`   // the value's name; required
	Input  string   `toml:"input"`  // "A0" … "A3", or differential "A0-A1", "A0-A3", "A1-A3", "A2-A3"
	Range  float64  `toml:"range"`  // full scale in volts (6.144, 4.096, 2.048, 1.024, 0.512, 0.256); default 4.096
	Unit   string   `toml:"unit"`   // default "V"
	Scale  *float64 `toml:"scale"`  // default 1
	Offset float64  `toml:"offset"` // default 0
}

// DefaultBus is the I²C bus of a Raspberry Pi's header pins.
const DefaultBus = "/dev/i2c-1"

// optionKeys are the driver options of a [[sensor]] table, and whether c
// sets each; a driver's description lists those it takes.
var optionKeys = []struct {
	key string
	set func(c *Config) bool
}{
	{"bus", func(c *Config) bool { return c.Bus != "" }},
	{"address", func(c *Config) bool { return c.Address != 0 }},
	{"seed", func(c *Config) bool { return c.Seed != nil }},
	{"disk", func(c *Config) bool { return c.Disk != "" }},
	{"probes", func(c *Config) bool { return c.Probes != nil }},
	{"names", func(c *Config) bool { return c.Names != nil }},
	{"line", func(c *Config) bool { return c.Line != "" }},
	{"pull", func(c *Config) bool { return c.Pull != "" }},
	{"invert", func(c *Config) bool { return c.Invert }},
	{"debounce", func(c *Config) bool { return c.Debounce != 0 }},
	{"value", func(c *Config) bool { return c.Value != "" }},
	{"shunt_ohms", func(c *Config) bool { return c.ShuntOhms != 0 }},
	{"max_amps", func(c *Config) bool { return c.MaxAmps != 0 }},
	{"channel", func(c *Config) bool { return c.Channels != nil }},
	{"device", func(c *Config) bool { return c.Device != "" }},
	{"port", func(c *Config) bool { return c.Port != "" }},
	{"scale", func(c *Config) bool { return c.Scale != 0 }},
	{"unit", func(c *Config) bool { return c.Unit != "" }},
	{"per", func(c *Config) bool { return c.Per != "" }},
}

// KeyError is a Validate error about one key of the table.
type KeyError struct {
	Key string // "address", "filter.temperature", "channel"
	Err error
}

// Error says which key is wrong and why.
func (e *KeyError) Error() string { return fmt.Sprintf("key %q: %v", e.Key, e.Err) }

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }

func keyErr(key, format string, a ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, a...)}
}

// adcRanges are the ADS1x15's full-scale ranges in volts.
var adcRanges = []float64{6.144, 4.096, 2.048, 1.024, 0.512, 0.256}

// Validate checks c and fills in the defaults (name, interval, bus,
// address, channel ranges and units). A mistake about a key is returned as
// a *KeyError. Validate opens nothing.
func (c *Config) Validate() error {
	info, ok := registry[c.Driver]
	switch {
	case c.Driver == "":
		return keyErr("driver", "missing (one of: %s)", strings.Join(Drivers(), ", "))
	case !ok:
		return keyErr("driver", "unknown driver %q (one of: %s)", c.Driver, strings.Join(Drivers(), ", "))
	case c.Interval < 0 || (c.Interval > 0 && c.Interval < 10*time.Millisecond):
		return keyErr("interval", "%v out of range (at least 10ms)", c.Interval)
	}
	for _, k := range optionKeys {
		if !k.set(c) || slices.Contains(info.options, k.key) {
			continue
		}
		if k.key == "bus" || k.key == "address" {
			return keyErr(k.key, "is for I²C drivers, not %q", c.Driver)
		}
		return keyErr(k.key, "is for driver %s, not %q", `"`+strings.Join(driversWith(k.key), `" or "`)+`"`, c.Driver)
	}
	if c.Name == "" {
		c.Name = c.Driver
	}
	if err := reading.CheckName(c.Name); err != nil {
		return keyErr("name", "%v", err)
	}
	if c.Interval == 0 {
		c.Interval = info.interval
	}
	if info.isI2C() {
		if c.Bus == "" {
			c.Bus = DefaultBus
		}
		switch {
		case c.Address == 0:
			c.Address = int(info.address)
		case c.Address < 0x03 || c.Address > 0x77:
			return keyErr("address", "%#x is not a 7-bit I²C device address (0x03 to 0x77)", c.Address)
		case info.fixed && c.Address != int(info.address):
			return keyErr("address", "the %s answers only at %#x", c.Driver, info.address)
		}
	}
	if info.check != nil {
		if err := info.check(c); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(c.Filter))
	for name := range c.Filter {
		names = append(names, name)
	}
	slices.Sort(names)
	values := info.valueNames(c)
	for _, name := range names {
		f := c.Filter[name]
		if values != nil && !slices.Contains(values, name) {
			return &KeyError{Key: "filter." + name, Err: fmt.Errorf("the %s driver has no value %q (it has: %s)", c.Driver, name, strings.Join(values, ", "))}
		}
		if err := f.Validate(); err != nil {
			return &KeyError{Key: "filter." + name, Err: err}
		}
	}
	return c.validateHA(values)
}

func (c *Config) validateChannels() error {
	if len(c.Channels) == 0 {
		return keyErr("channel", "missing: at least one [[sensor.channel]] table with name and input")
	}
	seen := map[string]bool{}
	for i := range c.Channels {
		ch := &c.Channels[i]
		switch {
		case ch.Name == "":
			return keyErr("channel", "#%d: missing \"name\"", i+1)
		case seen[ch.Name]:
			return keyErr("channel", "#%d: name %q used twice", i+1, ch.Name)
		}
		seen[ch.Name] = true
		if _, ok := adcInputs[ch.Input]; !ok {
			return keyErr("channel", "%q: input %q is not one of A0, A1, A2, A3, A0-A1, A0-A3, A1-A3, A2-A3", ch.Name, ch.Input)
		}
		if ch.Range == 0 {
			ch.Range = 4.096
		}
		if !slices.Contains(adcRanges, ch.Range) {
			return keyErr("channel", "%q: range %v is not one of 6.144, 4.096, 2.048, 1.024, 0.512, 0.256", ch.Name, ch.Range)
		}
		if ch.Unit == "" {
			ch.Unit = string(reading.Volt)
		}
		if ch.Scale != nil && (math.IsNaN(*ch.Scale) || math.IsInf(*ch.Scale, 0)) {
			return keyErr("channel", "%q: scale %v is not a finite number", ch.Name, *ch.Scale)
		}
	}
	return nil
}

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case "":
		return gpio.PullNoChange, nil
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "off":
		return gpio.Float, nil
	}
	return 0, fmt.Errorf("%q is not one of up, down, off", s)
}

// Hardware opens the buses and lines that Sources need. The zero value
// opens the real ones, through periph.io's host drivers, initialised on
// first use; tests set the fields.
type Hardware struct {
	// Root is the directory under which /proc, /sys and /dev are found,
	// for the host, ds18b20, iio and pulse drivers. Default: "/".
	Root string

	// OpenI2C opens an I²C bus by name, such as "/dev/i2c-1". Default:
	// i2creg.Open.
	OpenI2C func(name string) (i2c.BusCloser, error)

	// Pin returns a GPIO line by name, such as "GPIO17". Default:
	// gpioreg.ByName.
	Pin func(name string) (gpio.PinIO, error)

	// Edges requests a GPIO line by name for its edge events, with the
	// kernel's timestamps, for pulse counters. Default: OpenEdgeLine.
	Edges func(name string, o EdgeOpts) (EdgeReader, error)

	// Logger receives notes about the host metrics found. Default:
	// discard.
	Logger *slog.Logger

	// StateDir is where sources keep state across restarts (a pulse
	// counter's total). Default: "", nothing kept.
	StateDir string

	initOnce sync.Once
	initErr  error
}

// InitHost loads the periph.io host drivers that the sensors use, and only
// those: periph's sysfs drivers (the I²C buses of /dev/i2c-N) and the lines
// of the kernel's GPIO character device, which GPIO sources find by name
// ("GPIO17"). periph's host.Init would also link and probe every board and
// SoC driver (Allwinner, BCM283x registers through /dev/gpiomem, Pine64,
// the Pi's header pin aliases): about 300 kB of an arm64 binary and their
// tables in memory at start, for register access no sensor here uses. Like
// host.Init, it may be called more than once; later calls return the first
// result.
func InitHost() (*driverreg.State, error) {
	return driverreg.Init()
}

// initHost loads periph's host drivers once.
func (hw *Hardware) initHost() error {
	hw.initOnce.Do(func() {
		if _, err := InitHost(); err != nil {
			hw.initErr = fmt.Errorf("sensors: load periph host drivers: %w", err)
		}
	})
	return hw.initErr
}

func (hw *Hardware) openI2C(name string) (i2c.BusCloser, error) {
	if hw.OpenI2C != nil {
		return hw.OpenI2C(name)
	}
	if err := hw.initHost(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) && strings.HasPrefix(name, "/dev/") {
		return nil, fmt.Errorf("i2c bus %s: not found (on a Raspberry Pi, enable I²C with dtparam=i2c_arm=on)", name)
	}
	// /dev/i2c-N is opened directly rather than through periph's registry,
	// which knows only the buses present when the host drivers loaded.
	var b i2c.BusCloser
	var err error
	if n, ok := strings.CutPrefix(name, "/dev/i2c-"); ok && isDigits(n) {
		var num int
		fmt.Sscan(n, &num)
		b, err = sysfs.NewI2C(num)
	} else {
		b, err = i2creg.Open(name)
	}
	if err != nil {
		return nil, fmt.Errorf("i2c bus %s: %w", name, err)
	}
	return b, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != "" && len(s) < 6
}

func (hw *Hardware) pin(name string) (gpio.PinIO, error) {
	if hw.Pin != nil {
		return hw.Pin(name)
	}
	if err := hw.initHost(); err != nil {
		return nil, err
	}
	p := gpioreg.ByName(name)
	if p == nil {
		if isPinNumber(name) {
			// Header pin numbers and bare BCM numbers are not line names.
			return nil, fmt.Errorf("gpio line %q: not found (lines go by their kernel names, such as \"GPIO17\"; see gpioinfo)", name)
		}
		return nil, fmt.Errorf("gpio line %q: not found", name)
	}
	return p, nil
}

// edges requests a line for its edge events.
func (hw *Hardware) edges(name string, o EdgeOpts) (EdgeReader, error) {
	if hw.Edges != nil {
		return hw.Edges(name, o)
	}
	l, err := openEdgeLine(filepath.Join(hw.root(), "dev"), name, o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// isPinNumber reports whether name looks like a BCM number ("17") or a
// header pin ("P1_11"), names the GPIO character devices do not use.
func isPinNumber(name string) bool {
	name = strings.TrimPrefix(strings.ToUpper(name), "P1_")
	if name == "" {
		return false
	}
	for _, r := range name {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (hw *Hardware) root() string {
	if hw.Root == "" {
		return "/"
	}
	return hw.Root
}

// Open returns the Source that c describes; c must have passed Validate.
// I²C sources open their bus and chip on their first Sense (and reopen
// them after a failure), so Open succeeds for a chip that is absent now;
// ds18b20, gpio and host sources fail here if their bus, line or files
// are missing. The values go through c's filters.
func (hw *Hardware) Open(c *Config) (Source, error) {
	src, err := hw.open(c)
	if err != nil {
		return nil, fmt.Errorf("sensor %q (%s): %w", c.Name, c.Driver, err)
	}
	if len(c.Filter) == 0 {
		return src, nil
	}
	return NewFiltered(src, c.Filter)
}

func (hw *Hardware) open(c *Config) (Source, error) {
	d := registry[c.Driver]
	if d == nil {
		return nil, fmt.Errorf("unknown driver %q", c.Driver)
	}
	if d.open != nil {
		return d.open(hw, c)
	}
	addr := uint16(c.Address)
	desc := fmt.Sprintf("%s at %#x on %s", c.Driver, addr, c.Bus)
	return &I2C{name: c.Name, desc: desc, ranges: chipRanges(c), bus: &lazyBus{name: c.Bus, open: hw.openI2C}, open: func(b i2c.Bus) (device, error) {
		dev, err := d.openChip(b, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
		return dev, nil
	}}, nil
}
