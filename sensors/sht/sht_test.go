package sht_test

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/sensorcast/sensorcast/sensors/sht"
)

// Transcripts are built from the datasheets: the command bytes, and raw
// words with CRCs computed by hand from the polynomial (the datasheets'
// own example is 0xBEEF → 0x92). 0x6666 is 25.000 °C exactly; 0x8000 is
// 50.0008 %RH on an SHT3x and 56.5010 %RH on an SHT4x.
var (
	open3x = []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x30, 0xA2}},
		{Addr: 0x44, W: []byte{0xF3, 0x2D}},
		{Addr: 0x44, R: []byte{0x00, 0x00, 0x81}}, // status: all clear
	}
	measure3x = []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x24, 0x00}},
		{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2}},
	}
	open4x = []i2ctest.IO{
		{Addr: 0x45, W: []byte{0x94}},
		{Addr: 0x45, W: []byte{0x89}},
		{Addr: 0x45, R: []byte{0x12, 0x34, 0x37, 0x56, 0x78, 0x7D}}, // serial 0x12345678
	}
	measure4x = []i2ctest.IO{
		{Addr: 0x45, W: []byte{0xFD}},
		{Addr: 0x45, R: []byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2}},
	}
)

func cat(ios ...[]i2ctest.IO) []i2ctest.IO {
	var out []i2ctest.IO
	for _, io := range ios {
		out = append(out, io...)
	}
	return out
}

// within checks got against want to the datasheet's resolution, 0.01.
func within[T ~int64 | ~int32](t *testing.T, what string, got, want, res T) {
	t.Helper()
	if d := got - want; d > res || d < -res {
		t.Errorf("%s = %d, want %d ± %d", what, got, want, res)
	}
}

func TestCRC8(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want byte
	}{
		{[]byte{0xBE, 0xEF}, 0x92}, // the datasheets' example
		{[]byte{0x00, 0x00}, 0x81},
		{[]byte{0xFF, 0xFF}, 0xAC},
		{nil, 0xFF},
	} {
		if got := sht.CRC8(tc.in); got != tc.want {
			t.Errorf("CRC8(%x) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestSHT3x(t *testing.T) {
	bus := &i2ctest.Playback{Ops: cat(open3x, measure3x, measure3x)}
	d, err := sht.NewSHT3x(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "SHT3x{0x44}" || d.Kind() != sht.SHT3x {
		t.Errorf("String = %q", d)
	}
	for range 2 {
		var e physic.Env
		if err := d.Sense(&e); err != nil {
			t.Fatal(err)
		}
		within(t, "temperature", e.Temperature, physic.ZeroCelsius+25*physic.Celsius, 10*physic.MilliKelvin)
		within(t, "humidity", e.Humidity, 50*physic.PercentRH, physic.PercentRH/100)
		if e.Temperature != physic.ZeroCelsius+25*physic.Celsius {
			t.Errorf("0x6666 = %v, want exactly 25°C", e.Temperature)
		}
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSHT4x(t *testing.T) {
	bus := &i2ctest.Playback{Ops: cat(open4x, measure4x)}
	d, err := sht.NewSHT4x(bus, &sht.Opts{Addr: sht.AddrAlt})
	if err != nil {
		t.Fatal(err)
	}
	var e physic.Env
	if err := d.Sense(&e); err != nil {
		t.Fatal(err)
	}
	within(t, "temperature", e.Temperature, physic.ZeroCelsius+25*physic.Celsius, 10*physic.MilliKelvin)
	within(t, "humidity", e.Humidity, 56501*physic.MilliRH/100, physic.PercentRH/100)
	var p physic.Env
	d.Precision(&p)
	if p.Temperature != 10*physic.MilliKelvin || p.Humidity != physic.PercentRH/100 {
		t.Errorf("Precision = %+v", p)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConversionsAtTheEnds(t *testing.T) {
	if got, want := sht.Temperature(0), physic.ZeroCelsius-45*physic.Celsius; got != want {
		t.Errorf("Temperature(0) = %v, want %v", got, want)
	}
	if got, want := sht.Temperature(0xFFFF), physic.ZeroCelsius+130*physic.Celsius; got != want {
		t.Errorf("Temperature(0xFFFF) = %v, want %v", got, want)
	}
	if got := sht.Humidity3x(0xFFFF); got != 100*physic.PercentRH {
		t.Errorf("Humidity3x(0xFFFF) = %v", got)
	}
	// SHT4x's formula runs from -6 % to 119 %; the datasheet says clip.
	if got := sht.Humidity4x(0); got != 0 {
		t.Errorf("Humidity4x(0) = %v, want 0", got)
	}
	if got := sht.Humidity4x(0xFFFF); got != 100*physic.PercentRH {
		t.Errorf("Humidity4x(0xFFFF) = %v, want 100%%", got)
	}
}

func TestFaults(t *testing.T) {
	badCRC := []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x24, 0x00}},
		{Addr: 0x44, R: []byte{0x66, 0x66, 0x00, 0x80, 0x00, 0xA2}},
	}
	badHumCRC := []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x24, 0x00}},
		{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x80, 0x01, 0xA2}},
	}
	bus := &i2ctest.Playback{Ops: cat(open3x, badCRC, badHumCRC, measure3x), DontPanic: true}
	d, err := sht.NewSHT3x(bus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e physic.Env
	if err := d.Sense(&e); !errors.Is(err, sht.ErrCRC) || !strings.Contains(err.Error(), "temperature") {
		t.Errorf("bad temperature CRC: %v", err)
	}
	if err := d.Sense(&e); !errors.Is(err, sht.ErrCRC) || !strings.Contains(err.Error(), "humidity") {
		t.Errorf("bad humidity CRC: %v", err)
	}
	// The device answers again.
	if err := d.Sense(&e); err != nil {
		t.Errorf("after CRC errors: %v", err)
	}
	// Then it vanishes: the bus has nothing more to give.
	if err := d.Sense(&e); err == nil || !strings.Contains(err.Error(), "measure") {
		t.Errorf("vanished device: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func() error
		want string
	}{
		{"no device", func() error {
			_, err := sht.NewSHT3x(&i2ctest.Playback{DontPanic: true}, nil)
			return err
		}, "SHT3x at 0x44: reset"},
		{"bad status CRC", func() error {
			ops := cat(open3x[:2], []i2ctest.IO{{Addr: 0x44, R: []byte{0, 0, 0}}})
			_, err := sht.NewSHT3x(&i2ctest.Playback{Ops: ops}, nil)
			return err
		}, "probe: sht: CRC mismatch"},
		{"probe write fails", func() error {
			_, err := sht.NewSHT4x(&i2ctest.Playback{Ops: open4x[:1], DontPanic: true}, &sht.Opts{Addr: 0x45})
			return err
		}, "SHT4x at 0x45: probe"},
		{"bad address", func() error {
			_, err := sht.NewSHT4x(&i2ctest.Playback{}, &sht.Opts{Addr: 0x80})
			return err
		}, "not a 7-bit address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.open(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
