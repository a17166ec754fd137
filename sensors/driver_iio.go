package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:     "iio",
		doc:      "any Linux Industrial I/O device: DHT11/DHT22 (dtoverlay=dht11) and every chip with a kernel driver",
		interval: 5 * time.Second,
		options:  []string{"device"},
		valuesOf: func(*Config) []string { return nil }, // the device's channels: known once it runs
		valuesDoc: "one value per channel of an IIO device under `/sys/bus/iio/devices`: temperature, humidity, pressure (hPa), " +
			"illuminance, voltage, current (`_input`, or `_raw` × scale + offset), numbered or with the kernel's modifier " +
			"where the device has several (`voltage0`, `temperature_object`)",
		optionsDoc: "`device` (its `name`, its device-tree node's name or `iio:deviceN`; default: the only one)",
		check: func(c *Config) error {
			if strings.ContainsAny(c.Device, "/*?[") {
				return keyErr("device", "%q is not an IIO device name such as \"dht11\" or \"iio:device0\"", c.Device)
			}
			return nil
		},
		open: func(hw *Hardware, c *Config) (Source, error) {
			return NewIIO(&IIOOpts{Name: c.Name, Root: hw.root(), Device: c.Device})
		},
		scan: scanIIO,
	})
}

// iioDir is where the kernel lists IIO devices, under Root.
const iioDir = "sys/bus/iio/devices"

// iioType is one IIO channel type that the iio driver reports: the ABI's
// name, the value's name and unit, and the factor from the ABI's unit
// (for _input, and _raw after scale) to milli-units of the value's unit.
type iioType struct {
	abi, value string
	unit       reading.Unit
	toMilli    float64
}

// iioTypes are the channel types read, longest ABI name first where one
// is a prefix of another. The ABI's units: temp milli °C, humidityrelative
// milli percent, pressure kPa, illuminance lux, voltage mV, current mA.
var iioTypes = []iioType{
	{"humidityrelative", "humidity", reading.Percent, 1},
	{"illuminance", "illuminance", reading.Lux, 1000},
	{"pressure", "pressure", reading.HPa, 10 * 1000},
	{"voltage", "voltage", reading.Volt, 1},
	{"current", "current", reading.Ampere, 1},
	{"temp", "temperature", reading.Celsius, 1},
}

// iioRanges are the plausible ranges of IIO values: any chip's, as the
// driver knows no datasheet. Garbage from a glitch (a DHT22's bit error
// gives 3276.8 %, -3276.8 °C) falls outside.
var iioRanges = map[string]valueRange{
	"humidity":    humidityRange,
	"temperature": span("temperature", reading.Celsius, -273.15, 2000),
	"pressure":    span("pressure", reading.HPa, 0, 1e6),
	"illuminance": span("illuminance", reading.Lux, 0, 1e6),
}

// IIOOpts configures an IIO source.
type IIOOpts struct {
	// Name is the Source's name. Default: "iio".
	Name string

	// Root is the directory under which /sys is found. Default: "/".
	Root string

	// Device selects the device: the content of its name file ("dht11"),
	// the name of its device-tree node ("humidity_sensor@4", or without
	// the unit address), or its directory ("iio:device0"). Default: the
	// only IIO device.
	Device string
}

// IIO is a Source for a device of the Linux kernel's Industrial I/O
// subsystem, read through /sys/bus/iio/devices/iio:deviceN: a DHT11/DHT22
// with dtoverlay=dht11, or any sensor with a kernel driver. Each Sense adds
// one value per channel found when it opened: a processed value
// (in_<type>_input) where the driver gives one, else (raw + offset) ×
// scale from in_<type>_raw, _offset and _scale, in the units of the IIO
// ABI converted to sensorcast's (°C, %, hPa, lx, V, A).
//
// A channel that cannot be read fails the Sense (a DHT's driver returns
// EIO on a bad checksum, ETIMEDOUT when the chip does not answer); so does
// a value outside iioRanges, a *RangeError. The device is looked up by
// name again after a failure, so one that came back under another number
// (a module reloaded) is found.
type IIO struct {
	name, root, device string
	dir                string // the device's directory; "" to look up again
	chans              []iioChan
}

// iioChan is one channel of an IIO device.
type iioChan struct {
	value         string
	unit          reading.Unit
	toMilli       float64
	input         string // the _input or _raw file's name
	raw           bool
	scale, offset string // for raw: the files, "" if absent
}

// NewIIO finds the device and its channels. It fails if there is no such
// device, if Device is empty and there are several, or if the device has
// no channel the driver reads.
func NewIIO(o *IIOOpts) (*IIO, error) {
	var opts IIOOpts
	if o != nil {
		opts = *o
	}
	if opts.Name == "" {
		opts.Name = "iio"
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	s := &IIO{name: opts.Name, root: opts.Root, device: opts.Device}
	dir, err := s.find()
	if err != nil {
		return nil, err
	}
	s.chans, err = iioChannels(dir)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	return s, nil
}

// IIODevice is an IIO device found by IIODevices.
type IIODevice struct {
	Dir    string // "iio:device0"
	Name   string // its name file, such as "dht11"
	OFNode string // its device-tree node's name, "" if none
	Values []string
}

// IIODevices lists the IIO devices under root ("/" on a real system),
// sorted by directory, with the values the iio driver would report.
func IIODevices(root string) ([]IIODevice, error) {
	dir := filepath.Join(root, iioDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sensors: iio: no IIO devices: %w", err)
	}
	var out []IIODevice
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "iio:device") {
			continue // triggers, buffers
		}
		p := filepath.Join(dir, e.Name())
		d := IIODevice{Dir: e.Name(), Name: readTrim(filepath.Join(p, "name"))}
		if t, err := os.Readlink(filepath.Join(p, "of_node")); err == nil {
			d.OFNode = filepath.Base(t)
		}
		if cs, err := iioChannels(p); err == nil {
			for _, c := range cs {
				d.Values = append(d.Values, c.value)
			}
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b IIODevice) int { return strings.Compare(a.Dir, b.Dir) })
	return out, nil
}

// matches reports whether sel selects d.
func (d *IIODevice) matches(sel string) bool {
	node, _, _ := strings.Cut(d.OFNode, "@")
	return sel == d.Dir || sel == d.Name || (d.OFNode != "" && (sel == d.OFNode || sel == node))
}

// find returns the directory of s's device.
func (s *IIO) find() (string, error) {
	devs, err := IIODevices(s.root)
	if err != nil {
		return "", err
	}
	var hits []IIODevice
	for _, d := range devs {
		if s.device == "" || d.matches(s.device) {
			hits = append(hits, d)
		}
	}
	switch {
	case len(hits) == 1:
		return filepath.Join(s.root, iioDir, hits[0].Dir), nil
	case len(devs) == 0:
		return "", errors.New("sensors: iio: no IIO device (for a DHT11/DHT22, set dtoverlay=dht11,gpiopin=4)")
	case len(hits) == 0:
		return "", fmt.Errorf("sensors: iio: no device %q (found: %s)", s.device, iioList(devs))
	case s.device == "":
		return "", fmt.Errorf("sensors: iio: several devices, choose one with device (found: %s)", iioList(devs))
	}
	return "", fmt.Errorf("sensors: iio: %q names several devices, choose one by iio:deviceN (found: %s)", s.device, iioList(hits))
}

func iioList(devs []IIODevice) string {
	s := make([]string, len(devs))
	for i, d := range devs {
		s[i] = d.Dir + " (" + d.Name + ")"
	}
	return strings.Join(s, ", ")
}

// iioChannels lists the channels of the device in dir that the driver
// reads, sorted by value name.
func iioChannels(dir string) ([]iioChan, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sensors: iio: %w", err)
	}
	files := make(map[string]bool, len(ents))
	for _, e := range ents {
		files[e.Name()] = true
	}
	byValue := map[string]iioChan{}
	for f := range files {
		c, ok := parseIIOChannel(f)
		if !ok {
			continue
		}
		if old, dup := byValue[c.value]; dup && !old.raw {
			continue // a processed value beats a raw one
		}
		if c.raw {
			base := strings.TrimSuffix(f, "_raw")
			typ := "in_" + c.typ.abi
			for _, attr := range []string{"scale", "offset"} {
				name := ""
				if files[base+"_"+attr] {
					name = base + "_" + attr
				} else if files[typ+"_"+attr] {
					name = typ + "_" + attr
				}
				if attr == "scale" {
					c.scale = name
				} else {
					c.offset = name
				}
			}
		}
		byValue[c.value] = c.iioChan
	}
	if len(byValue) == 0 {
		return nil, fmt.Errorf("sensors: iio: %s has no channel sensorcast reads (in_temp_input, in_humidityrelative_input, in_pressure_input, in_illuminance_input, in_voltageN_raw, …)", filepath.Base(dir))
	}
	out := make([]iioChan, 0, len(byValue))
	for _, c := range byValue {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b iioChan) int { return strings.Compare(a.value, b.value) })
	return out, nil
}

// parsedIIOChan is a channel file's name parsed.
type parsedIIOChan struct {
	iioChan
	typ iioType
}

// parseIIOChannel parses a channel file's name, in_<type>[N][_<modifier>]
// _input or _raw, as in in_temp_input, in_voltage0_raw,
// in_temp_object_input, in_voltage0-voltage1_raw.
func parseIIOChannel(f string) (parsedIIOChan, bool) {
	rest, ok := strings.CutPrefix(f, "in_")
	if !ok {
		return parsedIIOChan{}, false
	}
	var raw bool
	if r, ok := strings.CutSuffix(rest, "_input"); ok {
		rest = r
	} else if r, ok := strings.CutSuffix(rest, "_raw"); ok {
		rest, raw = r, true
	} else {
		return parsedIIOChan{}, false
	}
	for _, t := range iioTypes {
		tail, ok := strings.CutPrefix(rest, t.abi)
		if !ok {
			continue
		}
		// tail: "", "0", "_object", "0_ambient", "0-voltage1"
		if tail != "" && !(tail[0] >= '0' && tail[0] <= '9') && tail[0] != '_' {
			return parsedIIOChan{}, false // another type with this prefix
		}
		for _, r := range tail {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r == '_' || r == '-') {
				return parsedIIOChan{}, false
			}
		}
		value := t.value + strings.ReplaceAll(tail, "-", "_")
		return parsedIIOChan{iioChan: iioChan{value: value, unit: t.unit, toMilli: t.toMilli, input: f, raw: raw}, typ: t}, true
	}
	return parsedIIOChan{}, false
}

// Name returns the IIO's name.
func (s *IIO) Name() string { return s.name }

// Sense reads every channel. On a failure it forgets the device's
// directory, to look it up again next time.
func (s *IIO) Sense(r *reading.Reading) error {
	if s.dir == "" {
		dir, err := s.find()
		if err != nil {
			return err
		}
		s.dir = dir
	}
	for i := range s.chans {
		c := &s.chans[i]
		v, err := c.read(s.dir)
		if err == nil {
			err = c.check(v)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				s.dir = ""
			}
			return fmt.Errorf("sensors: iio: %s: %w", filepath.Base(s.dir+"/"+c.input), err)
		}
		if err := r.Add(c.value, c.unit, v); err != nil {
			return err
		}
	}
	return nil
}

// check rejects an implausible value.
func (c *iioChan) check(v int64) error {
	base := strings.TrimRight(c.value, "0123456789")
	if i := strings.IndexByte(base, '_'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, "0123456789")
	if vr, ok := iioRanges[base]; ok && (v < vr.lo || v > vr.hi) {
		return &RangeError{Value: c.value, Milli: v, Unit: vr.unit, Lo: vr.lo, Hi: vr.hi}
	}
	return nil
}

// read reads the channel in milli-units of its value's unit.
func (c *iioChan) read(dir string) (int64, error) {
	x, err := readIIONumber(filepath.Join(dir, c.input))
	if err != nil {
		return 0, err
	}
	if c.raw {
		scale, offset := 1.0, 0.0
		if c.offset != "" {
			if offset, err = readIIONumber(filepath.Join(dir, c.offset)); err != nil {
				return 0, err
			}
		}
		if c.scale != "" {
			if scale, err = readIIONumber(filepath.Join(dir, c.scale)); err != nil {
				return 0, err
			}
		}
		x = (x + offset) * scale
	}
	m := x * c.toMilli
	if math.IsNaN(m) || math.Abs(m) > 1e15 {
		return 0, fmt.Errorf("%s: value %v out of range", c.input, x)
	}
	return int64(math.Round(m)), nil
}

// readIIONumber reads a sysfs number: an integer, or a decimal such as
// "0.019073486" (IIO_VAL_INT_PLUS_MICRO/NANO).
func readIIONumber(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseIIONumber(b)
}

// parseIIONumber parses one number as sysfs IIO attributes give it:
// decimal, optionally signed and fractional, with a trailing newline.
func parseIIONumber(b []byte) (float64, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" || strings.ContainsAny(s, "xXpPeEnN_iI") {
		return 0, fmt.Errorf("not a number: %q", truncate(s, 32))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number: %q", truncate(s, 32))
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return string(bytes.TrimSpace(b))
}

// scanIIO lists the IIO devices for `sensorcast scan`.
func scanIIO(root string) Detected {
	devs, err := IIODevices(root)
	if err != nil {
		return Detected{Heading: "IIO: no devices (a DHT11/DHT22 appears with dtoverlay=dht11,gpiopin=4)"}
	}
	d := Detected{Present: true, Heading: fmt.Sprintf("IIO: %d device(s)", len(devs))}
	names := map[string]int{}
	for _, dev := range devs {
		names[dev.Name]++
	}
	for _, dev := range devs {
		item := fmt.Sprintf("%-13s %s", dev.Dir, dev.Name)
		if dev.OFNode != "" {
			item += " (" + dev.OFNode + ")"
		}
		if len(dev.Values) == 0 {
			d.Items = append(d.Items, item+": no channel sensorcast reads")
			continue
		}
		d.Items = append(d.Items, item+": "+strings.Join(dev.Values, ", "))
		sel := dev.Name
		if names[dev.Name] > 1 || sel == "" || strings.ContainsAny(sel, "/*?[") {
			sel = dev.Dir // names are not unique; numbers may change on reboot
		}
		d.Tables = append(d.Tables, Table{Driver: "iio", Name: iioTableName(dev.Name), Lines: []string{fmt.Sprintf("device = %q", sel)}})
	}
	return d
}

// iioTableName turns a device's name into a sensor name ("dht11").
func iioTableName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '.':
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "iio"
	}
	return b.String()
}

var _ Source = (*IIO)(nil)
