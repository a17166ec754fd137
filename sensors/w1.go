package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// W1Opts configures a W1 source. A nil *W1Opts gives the defaults.
type W1Opts struct {
	// Name is the Source's name. Default: "w1".
	Name string

	// Root is the directory under which /sys is found. Default: "/".
	// Tests point it at a fake tree.
	Root string

	// Probes lists the probes to read by their bus id ("28-0316a2797aff").
	// Default: every DS18B20 (family 28) on the bus when NewW1 runs.
	Probes []string

	// Names maps a probe's id to the name of its value. Default: the id.
	Names map[string]string
}

// W1 is a Source that reads DS18B20 temperature probes through the Linux
// kernel's 1-Wire bus (dtoverlay=w1-gpio on a Raspberry Pi), from
// /sys/bus/w1/devices/28-*/. Each Sense adds one value per probe, in
// reading.Celsius, named by W1Opts.Names or by the probe's id.
//
// Probes are hot-plugged: without W1Opts.Probes, each Sense looks at the
// bus again and a probe plugged in after start is read from then on. A
// probe that was read (or is listed in W1Opts.Probes) and is no longer on
// the bus (the kernel drops an unplugged slave after a few searches)
// fails the Sense, naming it, until it is back; so does an empty bus.
//
// It reads the probe's "temperature" file (kernel 5.4 and later) or, where
// that is absent, its "w1_slave" file, whose CRC line must end in "YES".
// A probe that fails makes the whole Sense fail, naming the probe.
//
// Garbage is a failure too: a temperature outside the DS18B20's range of
// −55…125 °C (a *RangeError), and 85.000 °C, the value a DS18B20 holds
// from power-up until its first conversion, which the kernel reads when a
// probe was reset by a power dip (parasite power, a long cable) and never
// converted. A probe that really is at 85 °C gets there by degrees, so
// 85.000 °C is taken as a reading only when the probe's previous reading
// was within 1 °C of it; a probe whose first reading is 85.000 °C (one
// just plugged in, too) reads as failing until its temperature moves off
// that exact value.
type W1 struct {
	name   string
	root   string
	names  map[string]string
	listed bool // the probes were listed: no others are added
	probes []w1Probe
}

type w1Probe struct {
	id, value string
	path      string // the temperature or w1_slave file
	slave     bool   // path is w1_slave
	last      int64  // the last value that passed check, in m°C, if have
	have      bool
}

// ds18b20PowerOn is the DS18B20's power-on reset value, in m°C, and
// ds18b20Near how close to it the previous reading must be for it to be
// taken as a reading.
const (
	ds18b20PowerOn = 85000
	ds18b20Near    = 1000
)

// errPowerOn reports a DS18B20's power-on reset value.
var errPowerOn = errors.New("85 °C is the DS18B20's power-on value: the probe was reset and has not converted (weak power, a long cable?)")

// w1Dir is where the kernel lists 1-Wire devices, under Root.
const w1Dir = "sys/bus/w1/devices"

// W1Probes returns the ids of the DS18B20 probes on the bus under root
// ("/" on a real system), sorted.
func W1Probes(root string) ([]string, error) {
	dir := filepath.Join(root, w1Dir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("sensors: w1: no 1-Wire bus (is dtoverlay=w1-gpio set?): %w", err)
	}
	ms, err := filepath.Glob(filepath.Join(dir, "28-*"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = filepath.Base(m)
	}
	slices.Sort(ids)
	return ids, nil
}

// NewW1 returns a W1 for the bus under W1Opts.Root. It fails only if
// the bus is missing: a listed probe that is not on the bus, an empty bus
// and a probe that does not read are failures of Sense, which recover when
// the probe is plugged in or reads again.
func NewW1(o *W1Opts) (*W1, error) {
	var opts W1Opts
	if o != nil {
		opts = *o
	}
	if opts.Name == "" {
		opts.Name = "w1"
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	if _, err := W1Probes(opts.Root); err != nil {
		return nil, err
	}
	w := &W1{name: opts.Name, root: opts.Root, names: opts.Names, listed: len(opts.Probes) > 0}
	for _, id := range opts.Probes {
		w.add(id)
	}
	return w, nil
}

// add adds the probe id, keeping the probes sorted by id.
func (w *W1) add(id string) {
	p := w1Probe{id: id, value: id}
	if n := w.names[id]; n != "" {
		p.value = n
	}
	i, _ := slices.BinarySearchFunc(w.probes, id, func(p w1Probe, id string) int { return strings.Compare(p.id, id) })
	if !w.listed {
		w.probes = slices.Insert(w.probes, i, p)
	} else {
		w.probes = append(w.probes, p) // in the order listed
	}
}

// Name returns the W1's name.
func (w *W1) Name() string { return w.name }

// Sense looks at the bus, adds the probes plugged in since, and reads
// every probe. It fails on the first probe that is not on the bus, cannot
// be read or reads garbage, naming it.
func (w *W1) Sense(r *reading.Reading) error {
	found, err := W1Probes(w.root)
	if err != nil {
		return err
	}
	if !w.listed {
		for _, id := range found {
			if !slices.ContainsFunc(w.probes, func(p w1Probe) bool { return p.id == id }) {
				w.add(id)
			}
		}
		if len(w.probes) == 0 {
			return fmt.Errorf("sensors: w1: no DS18B20 probe (28-*) in %s", filepath.Join(w.root, w1Dir))
		}
	}
	for i := range w.probes {
		p := &w.probes[i]
		if _, ok := slices.BinarySearch(found, p.id); !ok {
			p.have = false // plugged back, it may read its power-on value
			return fmt.Errorf("sensors: w1: probe %s: not on the bus (unplugged? found: %s): %w", p.id, w1List(found), os.ErrNotExist)
		}
		p.locate(w.root)
		v, err := p.read()
		if err == nil {
			err = p.check(v)
		}
		if err != nil {
			return err
		}
		p.last, p.have = v, true
		if err := r.Add(p.value, reading.Celsius, v); err != nil {
			return err
		}
	}
	return nil
}

func w1List(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// locate picks the probe's temperature file, or its w1_slave file on a
// kernel without one.
func (p *w1Probe) locate(root string) {
	p.path, p.slave = filepath.Join(root, w1Dir, p.id, "temperature"), false
	if _, err := os.Stat(p.path); err != nil {
		p.path, p.slave = filepath.Join(root, w1Dir, p.id, "w1_slave"), true
	}
}

// check rejects v, read from p, if the probe cannot have measured it.
func (p *w1Probe) check(v int64) error {
	var err error
	switch {
	case v < ds18b20Range.lo || v > ds18b20Range.hi:
		err = &RangeError{Value: "temperature", Milli: v, Unit: reading.Celsius, Lo: ds18b20Range.lo, Hi: ds18b20Range.hi}
	case v == ds18b20PowerOn && !(p.have && p.last >= ds18b20PowerOn-ds18b20Near && p.last <= ds18b20PowerOn+ds18b20Near):
		err = errPowerOn
	}
	if err != nil {
		return fmt.Errorf("sensors: w1: probe %s: %w", p.id, err)
	}
	return nil
}

// read reads one probe in milli-°C, as the kernel gives it. The kernel takes ~750 ms to convert.
func (p *w1Probe) read() (int64, error) {
	b, err := os.ReadFile(p.path)
	if err != nil {
		return 0, fmt.Errorf("sensors: w1: probe %s: %w", p.id, err)
	}
	var v int64
	if p.slave {
		v, err = parseW1Slave(b)
	} else {
		v, err = parseThermal(b)
	}
	if err != nil {
		return 0, fmt.Errorf("sensors: w1: probe %s: %s: %w", p.id, filepath.Base(p.path), err)
	}
	return v, nil
}

// errW1CRC reports a w1_slave file whose CRC line does not end in YES.
var errW1CRC = errors.New("CRC check failed")

// parseW1Slave parses a w1_slave file:
//
//	72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//	72 01 4b 46 7f ff 0e 10 57 t=23125
func parseW1Slave(b []byte) (int64, error) {
	line1, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return 0, errors.New("want two lines")
	}
	if !bytes.HasSuffix(bytes.TrimRight(line1, " \r"), []byte("YES")) {
		return 0, errW1CRC
	}
	line2, _, _ := bytes.Cut(rest, []byte("\n"))
	i := bytes.LastIndex(line2, []byte("t="))
	if i < 0 {
		return 0, errors.New(`no "t=" on the second line`)
	}
	return parseThermal(line2[i+2:])
}

var _ Source = (*W1)(nil)
