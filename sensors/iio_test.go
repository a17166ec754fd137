package sensors_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// iioTree writes a fake /sys/bus/iio/devices under a new root: one
// directory per device, files by name, and an of_node link where ofNode
// is set.
func iioTree(t *testing.T, devs map[string]map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sys/bus/iio/devices"), 0o755); err != nil {
		t.Fatal(err)
	}
	for dev, files := range devs {
		dir := filepath.Join(root, "sys/bus/iio/devices", dev)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if name == "of_node" {
				if err := os.Symlink("../../../firmware/devicetree/base/"+content, filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// dht11 is what the kernel's dht11 driver (dtoverlay=dht11) shows.
var dht11 = map[string]string{
	"name": "dht11\n", "of_node": "dht11@4",
	"in_temp_input": "21300\n", "in_humidityrelative_input": "45600\n",
	"dev": "250:0\n", "uevent": "",
}

func senseAll(t *testing.T, s sensors.Source) (map[string]int64, map[string]reading.Unit, error) {
	t.Helper()
	var r reading.Reading
	if err := s.Sense(&r); err != nil {
		return nil, nil, err
	}
	vals, units := map[string]int64{}, map[string]reading.Unit{}
	for _, v := range r.Values() {
		vals[v.Name], units[v.Name] = v.Milli, v.Unit
	}
	return vals, units, nil
}

func TestIIODHT11(t *testing.T) {
	root := iioTree(t, map[string]map[string]string{"iio:device0": dht11})
	for _, sel := range []string{"", "dht11", "dht11@4", "iio:device0"} {
		s, err := sensors.NewIIO(&sensors.IIOOpts{Name: "air", Root: root, Device: sel})
		if err != nil {
			t.Fatalf("device %q: %v", sel, err)
		}
		vals, units, err := senseAll(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 2 || vals["temperature"] != 21300 || vals["humidity"] != 45600 ||
			units["temperature"] != reading.Celsius || units["humidity"] != reading.Percent {
			t.Errorf("device %q: %v %v", sel, vals, units)
		}
	}
}

// Units from the IIO ABI: pressure in kPa, voltages in mV after scale,
// (raw + offset) × scale, shared and per-channel scales, modifiers.
func TestIIOUnitsAndScales(t *testing.T) {
	root := iioTree(t, map[string]map[string]string{
		"iio:device0": {"name": "bmp280\n", "in_pressure_input": "100.325000\n", "in_temp_input": "21450\n"},
		"iio:device1": {
			"name": "ads1015\n", "in_voltage_scale": "2.000000\n",
			"in_voltage0_raw": "1000\n", "in_voltage1_raw": "-3000\n", "in_voltage1_scale": "0.125000\n",
			"in_voltage0-voltage1_raw": "1500\n", "in_voltage_sampling_frequency": "1600\n",
		},
		"iio:device2": {"name": "tmp117\n", "in_temp_raw": "100\n", "in_temp_offset": "-50\n", "in_temp_scale": "500\n"},
		"iio:device3": {"name": "mlx90614\n", "in_temp_object_raw": "14000\n", "in_temp_object_scale": "20\n", "in_temp_object_offset": "-13657.500000\n",
			"in_temp_ambient_input": "22100\n"},
		"iio:device4": {"name": "tsl2561\n", "in_illuminance0_input": "312.5\n", "in_intensity_ir_raw": "17\n"},
		"trigger0":    {"name": "sysfstrig0\n"},
	})
	for _, tc := range []struct {
		dev  string
		want map[string]int64
		unit map[string]reading.Unit
	}{
		{"bmp280", map[string]int64{"pressure": 1003250, "temperature": 21450}, map[string]reading.Unit{"pressure": reading.HPa}},
		{"ads1015", map[string]int64{"voltage0": 2000, "voltage1": -375, "voltage0_voltage1": 3000}, map[string]reading.Unit{"voltage0": reading.Volt}},
		{"tmp117", map[string]int64{"temperature": 25000}, map[string]reading.Unit{"temperature": reading.Celsius}},
		{"mlx90614", map[string]int64{"temperature_object": 6850, "temperature_ambient": 22100}, nil},
		{"tsl2561", map[string]int64{"illuminance0": 312500}, map[string]reading.Unit{"illuminance0": reading.Lux}},
	} {
		s, err := sensors.NewIIO(&sensors.IIOOpts{Root: root, Device: tc.dev})
		if err != nil {
			t.Fatalf("%s: %v", tc.dev, err)
		}
		vals, units, err := senseAll(t, s)
		if err != nil {
			t.Fatalf("%s: %v", tc.dev, err)
		}
		if len(vals) != len(tc.want) {
			t.Errorf("%s: values %v, want %v", tc.dev, vals, tc.want)
		}
		for k, v := range tc.want {
			if vals[k] != v {
				t.Errorf("%s: %s = %d, want %d", tc.dev, k, vals[k], v)
			}
		}
		for k, u := range tc.unit {
			if units[k] != u {
				t.Errorf("%s: %s unit %q, want %q", tc.dev, k, units[k], u)
			}
		}
	}
}

func TestIIOErrors(t *testing.T) {
	two := iioTree(t, map[string]map[string]string{"iio:device0": dht11, "iio:device1": {"name": "dht11\n", "in_temp_input": "1\n"},
		"iio:device2": {"name": "mpu6050\n", "in_accel_x_raw": "5\n"}})
	for _, tc := range []struct{ root, dev, want string }{
		{t.TempDir(), "", "no IIO devices"},
		{iioTree(t, map[string]map[string]string{}), "", "no IIO device (for a DHT11/DHT22, set dtoverlay=dht11"},
		{two, "", "several devices, choose one with device (found: iio:device0 (dht11), iio:device1 (dht11), iio:device2 (mpu6050))"},
		{two, "dht11", `"dht11" names several devices, choose one by iio:deviceN`},
		{two, "bme280", `no device "bme280" (found: iio:device0 (dht11)`},
		{two, "mpu6050", "iio:device2 has no channel sensorcast reads"},
	} {
		_, err := sensors.NewIIO(&sensors.IIOOpts{Root: tc.root, Device: tc.dev})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("device %q: error %v, want %q", tc.dev, err, tc.want)
		}
	}
}

// A DHT's read error, garbage and out-of-range values fail the Sense; a
// device that comes back under another number is found again.
func TestIIOFailures(t *testing.T) {
	root := iioTree(t, map[string]map[string]string{"iio:device0": dht11})
	s, err := sensors.NewIIO(&sensors.IIOOpts{Root: root, Device: "dht11"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "sys/bus/iio/devices")
	write := func(dev, file, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, dev, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("iio:device0", "in_humidityrelative_input", "3276800\n")
	var re *sensors.RangeError
	if _, _, err := senseAll(t, s); !errors.As(err, &re) || re.Value != "humidity" {
		t.Errorf("humidity 3276.8 %%: %v, want a *RangeError", err)
	}
	write("iio:device0", "in_humidityrelative_input", "0x12\n")
	if _, _, err := senseAll(t, s); err == nil || !strings.Contains(err.Error(), `in_humidityrelative_input: not a number: "0x12"`) {
		t.Errorf("garbage: %v", err)
	}
	write("iio:device0", "in_humidityrelative_input", "50000\n")
	// The module reloaded: the device is now iio:device3.
	if err := os.Rename(filepath.Join(dir, "iio:device0"), filepath.Join(dir, "iio:device3")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := senseAll(t, s); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("device gone: %v, want not exist", err)
	}
	vals, _, err := senseAll(t, s)
	if err != nil || vals["humidity"] != 50000 {
		t.Errorf("after the device came back: %v, %v", vals, err)
	}
	// The device gone for good: the lookup fails, naming what is there.
	if err := os.Rename(filepath.Join(dir, "iio:device3"), filepath.Join(root, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	senseAll(t, s)
	if _, _, err := senseAll(t, s); err == nil || !strings.Contains(err.Error(), "no IIO device") {
		t.Errorf("device gone for good: %v", err)
	}
}

func TestIIOScan(t *testing.T) {
	root := iioTree(t, map[string]map[string]string{
		"iio:device0": dht11,
		"iio:device1": {"name": "ads1015\n", "in_voltage0_raw": "1\n", "in_voltage_scale": "3\n"},
		"iio:device2": {"name": "ads1015\n", "in_voltage0_raw": "1\n"},
		"iio:device3": {"name": "mpu6050\n", "in_accel_x_raw": "5\n"},
	})
	var iio *sensors.Detected
	for _, d := range sensors.ScanSystem(root) {
		if strings.HasPrefix(d.Heading, "IIO") {
			iio = &d
		}
	}
	if iio == nil || iio.Heading != "IIO: 4 device(s)" || !iio.Present {
		t.Fatalf("IIO scan: %+v", iio)
	}
	want := []string{
		"iio:device0   dht11 (dht11@4): humidity, temperature",
		"iio:device1   ads1015: voltage0",
		"iio:device2   ads1015: voltage0",
		"iio:device3   mpu6050: no channel sensorcast reads",
	}
	if strings.Join(iio.Items, "\n") != strings.Join(want, "\n") {
		t.Errorf("items:\n%s\nwant:\n%s", strings.Join(iio.Items, "\n"), strings.Join(want, "\n"))
	}
	var tables []string
	for _, tb := range iio.Tables {
		tables = append(tables, tb.Driver+" "+tb.Name+" "+strings.Join(tb.Lines, ";"))
	}
	if got := strings.Join(tables, "\n"); got != "iio dht11 device = \"dht11\"\niio ads1015 device = \"iio:device1\"\niio ads1015 device = \"iio:device2\"" {
		t.Errorf("tables:\n%s", got)
	}
	for _, d := range sensors.ScanSystem(t.TempDir()) {
		if strings.HasPrefix(d.Heading, "IIO") && (d.Present || d.Heading != "IIO: no devices (a DHT11/DHT22 appears with dtoverlay=dht11,gpiopin=4)") {
			t.Errorf("no IIO: %+v", d)
		}
	}
}

func TestIIOConfig(t *testing.T) {
	root := iioTree(t, map[string]map[string]string{"iio:device0": dht11})
	c := sensors.Config{Driver: "iio", Device: "dht11"}
	if err := c.Validate(); err != nil || c.Interval <= 0 || c.Name != "iio" {
		t.Fatalf("validate: %v %+v", err, c)
	}
	s, err := (&sensors.Hardware{Root: root}).Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	if vals, _, err := senseAll(t, s); err != nil || vals["temperature"] != 21300 {
		t.Errorf("%v %v", vals, err)
	}
	bad := sensors.Config{Driver: "iio", Device: "../x"}
	var ke *sensors.KeyError
	if err := bad.Validate(); !errors.As(err, &ke) || ke.Key != "device" {
		t.Errorf("device ../x: %v", err)
	}
	other := sensors.Config{Driver: "sim", Device: "dht11"}
	if err := other.Validate(); !errors.As(err, &ke) || ke.Key != "device" {
		t.Errorf("device on sim: %v", err)
	}
}
