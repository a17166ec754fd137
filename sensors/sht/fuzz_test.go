package sht_test

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/sensorcast/sensorcast/sensors/sht"
)

// FuzzSense feeds any six bytes to Sense as the sensor's answer: it must
// fail with ErrCRC exactly when a word's CRC is wrong, and otherwise give
// values within the sensors' ranges.
func FuzzSense(f *testing.F) {
	f.Add([]byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2})
	f.Add([]byte{0xBE, 0xEF, 0x92, 0xFF, 0xFF, 0xAC})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 6 {
			return
		}
		for _, k := range []sht.Kind{sht.SHT3x, sht.SHT4x} {
			var ops []i2ctest.IO
			if k == sht.SHT3x {
				ops = append(ops, open3x...)
				ops = append(ops, i2ctest.IO{Addr: 0x44, W: []byte{0x24, 0x00}}, i2ctest.IO{Addr: 0x44, R: b})
			} else {
				ops = []i2ctest.IO{
					{Addr: 0x44, W: []byte{0x94}},
					{Addr: 0x44, W: []byte{0x89}},
					{Addr: 0x44, R: []byte{0x12, 0x34, 0x37, 0x56, 0x78, 0x7D}},
					{Addr: 0x44, W: []byte{0xFD}},
					{Addr: 0x44, R: b},
				}
			}
			open := sht.NewSHT3x
			if k == sht.SHT4x {
				open = sht.NewSHT4x
			}
			d, err := open(&i2ctest.Playback{Ops: ops}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var e physic.Env
			err = d.Sense(&e)
			crcOK := sht.CRC8(b[0:2]) == b[2] && sht.CRC8(b[3:5]) == b[5]
			if crcOK != (err == nil) || (!crcOK && !errors.Is(err, sht.ErrCRC)) {
				t.Fatalf("%v: Sense(% x) = %v, CRC ok %v", k, b, err, crcOK)
			}
			if err == nil && (e.Temperature < physic.ZeroCelsius-45*physic.Kelvin || e.Temperature > physic.ZeroCelsius+130*physic.Kelvin ||
				e.Humidity < 0 || e.Humidity > 100*physic.PercentRH) {
				t.Fatalf("%v: Sense(% x) = %v, %v out of range", k, b, e.Temperature, e.Humidity)
			}
		}
	})
}
