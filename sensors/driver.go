package sensors

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
)

// driver describes one driver, once, in the driver's own file
// (driver_<name>.go), which registers it from an init function. Validate,
// Open, the datasheet ranges, scan and the README's driver table
// (DriverTable) all derive from these descriptions, so a new chip touches
// one file.
type driver struct {
	name     string
	doc      string        // the chip and what it measures, one line
	interval time.Duration // the default interval

	// I²C chips: the default address (0: not on I²C), whether the chip
	// answers only there, and how to open it on a bus.
	address  uint16
	fixed    bool
	openChip func(b i2c.Bus, c *Config) (device, error)

	// values are the names of the values reported; valuesOf replaces them
	// where they depend on the config (nil result: known only once it
	// runs).
	values   []string
	valuesOf func(c *Config) []string

	// options are the keys of the [[sensor]] table the driver takes,
	// besides driver, name, interval and filter (I²C drivers: bus and
	// address are added by register).
	options []string

	// valuesDoc and optionsDoc are the driver's cells in the README's
	// driver table.
	valuesDoc, optionsDoc string

	// check validates c's driver options and fills in their defaults;
	// errors are *KeyError. May be nil.
	check func(c *Config) error

	// ranges returns the datasheet ranges of the values. May be nil.
	ranges func(c *Config) []valueRange

	// open returns the Source for c (drivers not on I²C).
	open func(hw *Hardware, c *Config) (Source, error)

	// identify tells, for an I²C scan, whether the device answering at
	// addr (one of scanAddrs) is this driver's chip, and describes it.
	// Drivers tried at one address are tried in registration order of
	// their scanOrder, then name.
	scanAddrs []uint16
	scanOrder int
	identify  func(b i2c.Bus, addr uint16) (chip string, ok bool)

	// scan looks, under root ("/" on a real system), for devices of a
	// driver not on I²C, for `sensorcast scan`. May be nil.
	scan func(root string) Detected

	// serial is the protocol of a sensor on a serial port; scan
	// recognises the frames of those that stream.
	serial *serialProto
}

// systemScans are scans that serve several drivers (the serial ports),
// run after the drivers' own.
var systemScans []func(root string) Detected

// registry holds the drivers by name.
var registry = map[string]*driver{}

// register adds d to the registry; it panics on a duplicate or an
// incomplete description, which a test catches at once.
func register(d *driver) {
	switch {
	case registry[d.name] != nil:
		panic("sensors: driver " + d.name + " registered twice")
	case d.doc == "" || d.interval <= 0 || d.valuesDoc == "":
		panic("sensors: driver " + d.name + ": doc, interval and valuesDoc are required")
	case (d.open == nil) == (d.openChip == nil):
		panic("sensors: driver " + d.name + ": exactly one of open and openChip")
	case (d.address != 0) != (d.openChip != nil):
		panic("sensors: driver " + d.name + ": an I²C driver has an address and openChip")
	}
	if d.address != 0 {
		d.options = append([]string{"bus", "address"}, d.options...)
	}
	registry[d.name] = d
}

// isI2C reports whether d is for a chip on an I²C bus.
func (d *driver) isI2C() bool { return d.address != 0 }

// valueNames returns the names of the values of c's Source, or nil where
// they are known only once it runs.
func (d *driver) valueNames(c *Config) []string {
	if d.valuesOf != nil {
		return d.valuesOf(c)
	}
	return d.values
}

// Drivers returns the names of the known drivers, sorted.
func Drivers() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DriverDoc returns a one-line description of the named driver, or "" if
// there is no such driver.
func DriverDoc(name string) string {
	if d := registry[name]; d != nil {
		return d.doc
	}
	return ""
}

// DriverTable returns the README's driver table in Markdown: a header and
// one row per driver, sorted by name, with its values and its options.
func DriverTable() string {
	var b strings.Builder
	b.WriteString("| driver | values | options (besides name, interval) |\n|---|---|---|\n")
	for _, n := range Drivers() {
		d := registry[n]
		opts := d.optionsDoc
		if opts == "" {
			opts = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", n, d.valuesDoc, opts)
	}
	return b.String()
}

// driversWith returns the drivers that take option key, sorted.
func driversWith(key string) []string {
	var ds []string
	for _, n := range Drivers() {
		if slices.Contains(registry[n].options, key) {
			ds = append(ds, n)
		}
	}
	return ds
}

// Detected is what a scan found for one driver not on I²C: a heading
// ("1-Wire bus: 2 DS18B20 probe(s)", or why there is nothing to scan),
// one line per device, and [[sensor]] tables ready to paste.
type Detected struct {
	Heading string
	Items   []string
	Tables  []Table
	Present bool // there was a bus or a device tree to scan
}

// Table is a [[sensor]] table printed by scan: its driver, its name and
// its option lines ("probes = [...]").
type Table struct {
	Driver string
	Name   string // default: the driver's name (numbered by scan if used twice)
	Lines  []string
}

// ScanSystem runs the scan of every driver not on I²C that has one (the
// 1-Wire bus, IIO devices, …) under root, in driver-name order.
func ScanSystem(root string) []Detected {
	var out []Detected
	for _, n := range Drivers() {
		if d := registry[n]; d.scan != nil {
			out = append(out, d.scan(root))
		}
	}
	for _, scan := range systemScans {
		out = append(out, scan(root))
	}
	return out
}

// values returns the names of the values c's Source can report, or nil
// where they are known only once it runs (ds18b20 probe ids).
func (c *Config) values() []string {
	if d := registry[c.Driver]; d != nil {
		return d.valueNames(c)
	}
	return nil
}
