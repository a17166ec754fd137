package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"

	"github.com/sensorcast/sensorcast/sensors"
)

// openScanBus opens an I²C bus for scan; tests replace it.
var openScanBus = func(name string) (i2c.BusCloser, error) {
	if _, err := sensors.InitHost(); err != nil {
		return nil, fmt.Errorf("load periph host drivers: %w", err)
	}
	return i2creg.Open(name)
}

// scan is `sensorcast scan`: it lists what answers on the I²C buses, the
// 1-Wire bus, the kernel's IIO devices and the serial ports (listening for
// sensors that stream), and prints [[sensor]] tables ready to paste into the config.
// It fails only if there is no bus at all to scan.
func scan(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sensorcast scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	buses := fs.String("bus", "", "comma-separated I²C `buses` to scan (default: every /dev/i2c-*)")
	root := fs.String("root", "/", "`directory` under which /dev and /sys are looked up")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sensorcast scan [-bus /dev/i2c-1] \n\nLists the devices on the I²C and 1-Wire buses, the kernel's IIO devices and the serial sensors\nthat stream, and prints a config for them.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sensorcast scan: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	var names []string
	if *buses != "" {
		names = strings.Split(*buses, ",")
	} else {
		ms, _ := filepath.Glob(filepath.Join(*root, "dev", "i2c-*"))
		for _, m := range ms {
			names = append(names, "/dev/"+filepath.Base(m))
		}
	}

	var config strings.Builder
	used := make(map[string]int)
	table := func(driver, name string, lines ...string) {
		if name == "" {
			name = driver
		}
		used[name]++
		if n := used[name]; n > 1 {
			name = fmt.Sprintf("%s-%d", name, n)
		}
		fmt.Fprintf(&config, "\n[[sensor]]\ndriver = %q\nname = %q\n", driver, name)
		for _, l := range lines {
			config.WriteString(l + "\n")
		}
	}

	scanned := 0
	if len(names) == 0 {
		fmt.Fprintln(stdout, "I²C: no bus found (on a Raspberry Pi, enable it with dtparam=i2c_arm=on)")
	}
	for _, name := range names {
		b, err := openScanBus(name)
		if err != nil {
			fmt.Fprintf(stdout, "I²C bus %s: cannot open: %v\n", name, err)
			continue
		}
		scanned++
		found := sensors.ScanI2C(b)
		b.Close()
		fmt.Fprintf(stdout, "I²C bus %s: %d device(s)\n", name, len(found))
		for _, f := range found {
			driver := f.Driver
			if driver == "" {
				driver = "-"
			}
			if kd := sensors.I2CKernelDriver(*root, name, f.Addr); kd != "" {
				fmt.Fprintf(stdout, "  0x%02x  %-8s %s; held by the kernel's %s driver (read it as an IIO device, if listed below)\n",
					f.Addr, "-", f.Chip, kd)
				continue
			}
			fmt.Fprintf(stdout, "  0x%02x  %-8s %s\n", f.Addr, driver, f.Chip)
			if f.Driver != "" {
				table(f.Driver, "", fmt.Sprintf("bus = %q", name), fmt.Sprintf("address = %#02x", f.Addr))
			}
		}
	}

	// The 1-Wire bus, IIO devices and the other kinds each driver's
	// description knows how to look for.
	for _, d := range sensors.ScanSystem(*root) {
		fmt.Fprintln(stdout, d.Heading)
		if d.Present {
			scanned++
		}
		for _, it := range d.Items {
			fmt.Fprintf(stdout, "  %s\n", it)
		}
		for _, t := range d.Tables {
			table(t.Driver, t.Name, t.Lines...)
		}
	}
	if scanned == 0 {
		return errors.New("scan: no I²C bus, 1-Wire bus, IIO device, serial port or GPIO chip to scan")
	}
	if config.Len() > 0 {
		fmt.Fprintf(stdout, "\n# Ready to paste into sensorcast.toml:\n%s", config.String())
	} else {
		fmt.Fprintln(stdout, "\nNo known sensor found.")
	}
	return nil
}
