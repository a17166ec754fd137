package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestScan(t *testing.T) {
	old := openScanBus
	defer func() { openScanBus = old }()
	openScanBus = func(name string) (i2c.BusCloser, error) {
		switch name {
		case "/dev/i2c-1":
			// Only the devices that answer are scripted: probes of the
			// other addresses fail, as unacknowledged ones do.
			return &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
				{Addr: 0x44, R: []byte{0}},
				{Addr: 0x44, W: []byte{0xF3, 0x2D}},
				{Addr: 0x44, R: []byte{0x00, 0x00, 0x81}},
				{Addr: 0x68, R: []byte{0}},
				{Addr: 0x76, R: []byte{0}},
				{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x60}},
			}}, nil
		case "/dev/i2c-7":
			return &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
				{Addr: 0x23, R: []byte{0}},
			}}, nil
		}
		return nil, errors.New("no such file or directory")
	}
	var out, errOut bytes.Buffer
	oldOut := stdout
	stdout = &out
	defer func() { stdout = oldOut }()
	err := run(t.Context(), []string{"scan", "-bus", "/dev/i2c-1,/dev/i2c-7,/dev/i2c-9", "-root", "../../sensors/testdata/w1/pi"}, &errOut)
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"I²C bus /dev/i2c-1: 3 device(s)\n" +
			"  0x44  sht3x    SHT3x (status register with a valid CRC)\n" +
			"  0x68  -        RTC (DS1307/DS3231) or IMU (MPU-6050), by address: no driver\n" +
			"  0x76  bme280   BME280 (chip id 0x60)\n",
		"I²C bus /dev/i2c-9: cannot open: no such file or directory\n",
		"1-Wire bus: 2 DS18B20 probe(s)\n  28-0316a2797aff\n  28-0416b0c1f2ff\n",
		`driver = "bh1750"` + "\nname = \"bh1750\"\nbus = \"/dev/i2c-7\"\naddress = 0x23\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\nin\n%s", want, got)
		}
	}
	// The printed tables load as they are.
	_, cfg, ok := strings.Cut(got, "# Ready to paste into sensorcast.toml:\n")
	if !ok {
		t.Fatalf("no config in\n%s", got)
	}
	c, err := parseConfig("scan.toml", []byte(cfg))
	if err != nil {
		t.Fatalf("the printed config does not load: %v\n%s", err, cfg)
	}
	var drivers []string
	for _, s := range c.Sensors {
		drivers = append(drivers, s.Driver+"@"+s.Bus)
	}
	if strings.Join(drivers, " ") != "sht3x@/dev/i2c-1 bme280@/dev/i2c-1 bh1750@/dev/i2c-7 ds18b20@" {
		t.Errorf("pasted sensors %v", drivers)
	}
}

func TestScanNothing(t *testing.T) {
	var out, errOut bytes.Buffer
	old := stdout
	stdout = &out
	defer func() { stdout = old }()
	err := run(t.Context(), []string{"scan", "-root", t.TempDir()}, &errOut)
	if err == nil || err.Error() != "scan: no I²C bus, 1-Wire bus, IIO device, serial port or GPIO chip to scan" {
		t.Errorf("error = %v", err)
	}
	if want := "I²C: no bus found (on a Raspberry Pi, enable it with dtparam=i2c_arm=on)\n1-Wire: no bus (on a Raspberry Pi, enable it with dtoverlay=w1-gpio)\n" +
		"IIO: no devices (a DHT11/DHT22 appears with dtoverlay=dht11,gpiopin=4)\n" +
		"GPIO: no chip (no /dev/gpiochipN)\n" +
		"Serial: no port (on a Raspberry Pi, set enable_uart=1 and turn the serial console off)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if err := run(t.Context(), []string{"scan", "extra"}, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("extra argument: %v", err)
	}
}

// IIO devices are listed, and their tables load as printed.
func TestScanIIO(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "sys/bus/iio/devices/iio:device0")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"name": "dht11\n", "in_temp_input": "21300\n", "in_humidityrelative_input": "45600\n"} {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	old := stdout
	stdout = &out
	defer func() { stdout = old }()
	if err := run(t.Context(), []string{"scan", "-root", root}, &errOut); err != nil {
		t.Fatalf("scan: %v\n%s", err, errOut.String())
	}
	got := out.String()
	if !strings.Contains(got, "IIO: 1 device(s)\n  iio:device0   dht11: humidity, temperature\n") {
		t.Errorf("output:\n%s", got)
	}
	_, cfg, _ := strings.Cut(got, "# Ready to paste into sensorcast.toml:\n")
	c, err := parseConfig("scan.toml", []byte(cfg))
	if err != nil || len(c.Sensors) != 1 || c.Sensors[0].Driver != "iio" || c.Sensors[0].Device != "dht11" {
		t.Errorf("pasted config %q: %+v, %v", cfg, c, err)
	}
}
