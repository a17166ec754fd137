package sensors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// The trees under testdata/w1 hold values from the DS18B20 datasheet's
// table of temperature/data relationships: 0x0191 is +25.0625 °C (the
// kernel truncates to 25062 m°C), 0xFF5E is -10.125 °C.

func senseValues(t *testing.T, s sensors.Source) ([]reading.Value, error) {
	t.Helper()
	var r reading.Reading
	r.Reset("pi", s.Name(), time.Unix(0, 0))
	err := s.Sense(&r)
	return r.Values(), err
}

func TestW1(t *testing.T) {
	w, err := sensors.NewW1(&sensors.W1Opts{Root: "testdata/w1/pi", Names: map[string]string{"28-0416b0c1f2ff": "outside"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Name() != "w1" {
		t.Errorf("Name = %q", w.Name())
	}
	got, err := senseValues(t, w)
	if err != nil {
		t.Fatal(err)
	}
	want := []reading.Value{
		{Name: "28-0316a2797aff", Unit: reading.Celsius, Milli: 25062}, // from temperature
		{Name: "outside", Unit: reading.Celsius, Milli: -10125},        // from w1_slave
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("values %+v, want %+v", got, want)
	}
	ids, err := sensors.W1Probes("testdata/w1/pi")
	if err != nil || strings.Join(ids, ",") != "28-0316a2797aff,28-0416b0c1f2ff" {
		t.Errorf("W1Probes = %v, %v", ids, err)
	}
}

func TestW1Errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     sensors.W1Opts
		want  string
		sense bool // the error comes from Sense, not NewW1
	}{
		{"no bus", sensors.W1Opts{Root: "testdata/w1/none"}, "no 1-Wire bus (is dtoverlay=w1-gpio set?)", false},
		{"no probe", sensors.W1Opts{Root: "testdata/w1/empty"}, "no DS18B20 probe (28-*) in testdata/w1/empty/sys/bus/w1/devices", true},
		{"unknown probe", sensors.W1Opts{Root: "testdata/w1/pi", Probes: []string{"28-ffffffffffff"}},
			`probe 28-ffffffffffff: not on the bus (unplugged? found: 28-0316a2797aff, 28-0416b0c1f2ff)`, true},
		{"bad crc", sensors.W1Opts{Root: "testdata/w1/crc"}, "probe 28-0000075bd3c1: w1_slave: CRC check failed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := sensors.NewW1(&tc.o)
			if tc.sense {
				if err != nil {
					t.Fatalf("NewW1: %v", err)
				}
				_, err = senseValues(t, w)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestW1HotPlug: with no probes listed, a probe plugged in after start is
// read from the next Sense on; one unplugged fails the Sense, naming it,
// and reads again once back (not at its power-on value).
func TestW1HotPlug(t *testing.T) {
	root := t.TempDir()
	bus := filepath.Join(root, "sys/bus/w1/devices")
	if err := os.MkdirAll(filepath.Join(bus, "w1_bus_master1"), 0o755); err != nil {
		t.Fatal(err)
	}
	plug := func(id, temp string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(bus, id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bus, id, "temperature"), []byte(temp), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := sensors.NewW1(&sensors.W1Opts{Root: root, Names: map[string]string{"28-000000000b0b": "tank"}})
	if err != nil {
		t.Fatalf("an empty bus at start: %v", err)
	}
	if _, err := senseValues(t, w); err == nil || !strings.Contains(err.Error(), "no DS18B20 probe") {
		t.Errorf("empty bus: %v", err)
	}
	plug("28-000000000b0b", "21500\n")
	got, err := senseValues(t, w)
	if err != nil || len(got) != 1 || got[0].Name != "tank" || got[0].Milli != 21500 {
		t.Errorf("first probe plugged in: %+v, %v", got, err)
	}
	plug("28-000000000a0a", "4000\n")
	got, err = senseValues(t, w)
	if err != nil || len(got) != 2 || got[0].Name != "28-000000000a0a" || got[0].Milli != 4000 || got[1].Name != "tank" {
		t.Errorf("second probe plugged in: %+v, %v", got, err)
	}
	if err := os.RemoveAll(filepath.Join(bus, "28-000000000b0b")); err != nil {
		t.Fatal(err)
	}
	_, err = senseValues(t, w)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "probe 28-000000000b0b: not on the bus (unplugged? found: 28-000000000a0a)") {
		t.Errorf("unplugged: %v", err)
	}
	plug("28-000000000b0b", "85000\n") // back, reset by the power cut
	if _, err := senseValues(t, w); err == nil || !strings.Contains(err.Error(), "power-on value") {
		t.Errorf("plugged back at 85 °C: %v", err)
	}
	plug("28-000000000b0b", "21000\n")
	got, err = senseValues(t, w)
	if err != nil || len(got) != 2 || got[1].Milli != 21000 {
		t.Errorf("plugged back: %+v, %v", got, err)
	}
}

// TestW1Vanish: a probe unplugged fails Sense, naming it; plugged back in,
// it reads again.
func TestW1Vanish(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys/bus/w1/devices/28-00000a1b2c3d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "temperature")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("500\n") // 0x0008: +0.5 °C
	w, err := sensors.NewW1(&sensors.W1Opts{Root: root, Name: "probes"})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
	if _, err := senseValues(t, w); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "probe 28-00000a1b2c3d") {
		t.Errorf("vanished probe: %v", err)
	}
	write("126000\n")
	var re *sensors.RangeError
	if _, err := senseValues(t, w); !errors.As(err, &re) || err.Error() != "sensors: w1: probe 28-00000a1b2c3d: temperature 126 °C outside the chip's range -55…125 °C" {
		t.Errorf("out of range: %v", err)
	}
	write("-55000\n") // 0xFC90
	if got, err := senseValues(t, w); err != nil || got[0].Milli != -55000 {
		t.Errorf("back: %+v, %v", got, err)
	}
}

// TestW1PowerOnValue: 85.000 °C, the DS18B20's power-on value, is an error
// unless the probe's previous reading was within 1 °C of it; NewW1 does not
// judge values, so a probe just powered up does not stop the source.
func TestW1PowerOnValue(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys/bus/w1/devices/28-00000a1b2c3d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "w1_slave"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The power-on scratchpad, as the kernel shows it.
	powerOn := "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
	reads := func(milli int64) string {
		return fmt.Sprintf("00 00 4b 46 7f ff 00 10 00 : crc=00 YES\n00 00 4b 46 7f ff 00 10 00 t=%d\n", milli)
	}
	write(powerOn)
	w, err := sensors.NewW1(&sensors.W1Opts{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		file string
		want int64 // -1: the power-on error
	}{
		{powerOn, -1}, // first reading
		{reads(20000), 20000},
		{powerOn, -1}, // a jump from 20 °C
		{reads(84500), 84500},
		{reads(85000), 85000}, // heated up to it
		{reads(85000), 85000},
		{reads(21000), 21000},
		{reads(85000), -1},
	} {
		write(step.file)
		got, err := senseValues(t, w)
		switch {
		case step.want == -1:
			if err == nil || !strings.Contains(err.Error(), "probe 28-00000a1b2c3d: 85 °C is the DS18B20's power-on value") {
				t.Errorf("step %d: Sense = %v, %v; want the power-on error", i, got, err)
			}
		case err != nil || len(got) != 1 || got[0].Milli != step.want:
			t.Errorf("step %d: Sense = %v, %v; want %d m°C", i, got, err, step.want)
		}
	}
}
