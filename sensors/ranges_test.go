package sensors_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/sht"
)

// periph's recording of a BME280 at 0x76 (see TestI2CDrivers): its
// calibration, and one measurement of 23.72 °C, 65.306 %, 1009.427 hPa.
var (
	bmeCalib  = []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}
	bmeHumCal = []byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e}
)

// bmeOpen is the transcript of opening a BME280 whose NVM copy is done,
// with the calibration calib.
func bmeOpen(calib []byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}},
		{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x60}},
		{Addr: 0x76, W: []byte{0x88}, R: calib},
		{Addr: 0x76, W: []byte{0xe1}, R: bmeHumCal},
		{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf2, 0x3, 0xf5, 0xa0, 0xf4, 0x6c}},
	}
}

// bmeMeasure is the transcript of one measurement.
var bmeMeasure = []i2ctest.IO{
	{Addr: 0x76, W: []byte{0xF4, 0x6d}},
	{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}},
	{Addr: 0x76, W: []byte{0xf7}, R: []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0, 0x7a, 0x76}},
}

// halfWritten returns calib with its bytes from n on still zero, as an
// i2c-stub chip shows it while a test writes it one register at a time.
func halfWritten(n int) []byte {
	b := make([]byte, len(bmeCalib))
	copy(b, bmeCalib[:n])
	return b
}

// TestI2CRecalibrates: a BME280 read with a half-written calibration fails
// with the value and the chip's range instead of publishing garbage; the
// next attempt opens the chip afresh, reads the now complete calibration,
// and publishes the right values.
func TestI2CRecalibrates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calib []byte
		want  string
	}{
		// The temperature words but no pressure ones: pressure 0.
		{"half written", halfWritten(6), "pressure 0 hPa outside the chip's range 300…1100 hPa"},
		// Part of the pressure words: pressure far too high.
		{"mostly written", halfWritten(8), "pressure 1216.341 hPa outside the chip's range 300…1100 hPa"},
		// dig_T1 of another chip: temperature far below the chip's range.
		{"wrong T1", append([]byte{0xff, 0xff}, bmeCalib[2:]...), "temperature -162.96 °C outside the chip's range -40…85 °C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hw := playbackHW(
					&i2ctest.Playback{Ops: slices.Concat(bmeOpen(tc.calib), bmeMeasure), DontPanic: true},
					&i2ctest.Playback{Ops: slices.Concat(bmeOpen(bmeCalib), bmeMeasure), DontPanic: true},
					&i2ctest.Playback{}, // Halt
				)
				rec := newRecorder()
				p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading, OnStatus: rec.onStatus})
				src := openConfig(t, hw, sensors.Config{Driver: "bme280", Name: "air"})
				if err := p.Add(src, time.Second); err != nil {
					t.Fatal(err)
				}
				if err := runFor(t, p, 1500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				var states []string
				for _, s := range rec.statuses {
					states = append(states, fmt.Sprintf("%v ok=%v %s", s.Time.Sub(rec.start), s.OK, s.Err))
				}
				want := []string{"0s ok=false bme280 at 0x76 on /dev/i2c-1: " + tc.want, "1s ok=true "}
				if !slices.Equal(states, want) {
					t.Errorf("statuses:\n%s\nwant:\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
				}
				if len(rec.readings) != 1 || rec.readings[0].values != "temperature=23.72,humidity=65.306,pressure=1009.427" {
					t.Errorf("readings %+v, want only the right values at 1s", rec.readings)
				}
			})
		})
	}
}

// TestBMx280WaitsForNVM: the calibration is read only once im_update has
// cleared, and a chip that keeps it set fails after a bounded number of
// reads without its calibration being read.
func TestBMx280WaitsForNVM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := i2ctest.IO{Addr: 0x76, W: []byte{0xF3}, R: []byte{0x01}}
		bus := &i2ctest.Playback{Ops: slices.Concat([]i2ctest.IO{busy, busy}, bmeOpen(bmeCalib), bmeMeasure), DontPanic: true}
		src := openConfig(t, sameBusHW(bus), sensors.Config{Driver: "bme280"})
		start := time.Now()
		got, err := senseValues(t, src)
		if err != nil || valuesString(got) != "temperature=23.72°C humidity=65.306% pressure=1009.427hPa" {
			t.Fatalf("Sense = %s, %v", valuesString(got), err)
		}
		if bus.Count != len(bus.Ops) {
			t.Errorf("the transcript stopped at op #%d of %d", bus.Count, len(bus.Ops))
		}
		if d := time.Since(start); d < 4*time.Millisecond {
			t.Errorf("read the calibration %v after the first status read, want after two 2ms waits", d)
		}

		stuck := &i2ctest.Playback{Ops: []i2ctest.IO{busy, busy, busy, busy, busy, busy}, DontPanic: true}
		src = openConfig(t, sameBusHW(stuck), sensors.Config{Driver: "bmp280"})
		_, err = senseValues(t, src)
		if err == nil || !strings.Contains(err.Error(), "bmp280 at 0x76 on /dev/i2c-1: calibration not ready: im_update (status 0xf3 bit 0) still set after 5 reads 2ms apart") {
			t.Errorf("Sense with im_update stuck = %v", err)
		}
		if stuck.Count != 5 {
			t.Errorf("%d bus transfers, want 5 status reads and nothing else", stuck.Count)
		}
	})
}

// crcWords appends to each 16-bit word its Sensirion CRC, as SHT, SCD4x
// and (over the whole frame) AHT20 chips send them.
func crcWords(words ...uint16) []byte {
	var b []byte
	for _, w := range words {
		hi, lo := byte(w>>8), byte(w)
		b = append(b, hi, lo, sht.CRC8([]byte{hi, lo}))
	}
	return b
}

// TestI2COutOfRange: each chip's reading outside its datasheet range is a
// *RangeError naming the value, what was read and the range, and the next
// attempt opens the chip again.
func TestI2COutOfRange(t *testing.T) {
	aht := []byte{0x18, 0x80, 0x00, 0x00, 0x00, 0x00} // 50 %, raw temperature 0: -50 °C
	aht = append(aht, sht.CRC8(aht))
	for _, tc := range []struct {
		cfg  sensors.Config
		ops  []i2ctest.IO
		want string
	}{
		{
			sensors.Config{Driver: "sht3x"},
			[]i2ctest.IO{
				{Addr: 0x44, W: []byte{0x30, 0xA2}},
				{Addr: 0x44, W: []byte{0xF3, 0x2D}},
				{Addr: 0x44, R: []byte{0x00, 0x00, 0x81}},
				{Addr: 0x44, W: []byte{0x24, 0x00}},
				{Addr: 0x44, R: crcWords(0x0000, 0x8000)}, // -45 °C
			},
			"temperature -45 °C outside the chip's range -40…125 °C",
		},
		{
			sensors.Config{Driver: "aht20"},
			[]i2ctest.IO{
				{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}},
				{Addr: 0x38, W: []byte{0xAC, 0x33, 0x00}},
				{Addr: 0x38, R: aht},
			},
			"temperature -50 °C outside the chip's range -40…85 °C",
		},
		{
			// 0x0C80: +200 °C.
			sensors.Config{Driver: "mcp9808", Address: 0x1a},
			[]i2ctest.IO{
				{Addr: 0x1a, W: []byte{0x08, 0x03}},
				{Addr: 0x1a, W: []byte{0x01, 0x00, 0x00}},
				{Addr: 0x1a, W: []byte{0x05}, R: []byte{0x0C, 0x80}},
			},
			"temperature 200 °C outside the chip's range -40…125 °C",
		},
		{
			// 0xC80 (bytes C8 00) is -56 °C.
			sensors.Config{Driver: "tmp102", Address: 0x49},
			[]i2ctest.IO{
				{Addr: 0x49, W: []byte{0x01}, R: []byte{0x60, 0xA0}},
				{Addr: 0x49, W: []byte{0x01, 0x60, 0xA0}},
				{Addr: 0x49, W: []byte{0x00}, R: []byte{0xC8, 0x00}},
			},
			"temperature -56 °C outside the chip's range -55…150 °C",
		},
		{
			// Bus voltage register 8000 << 3: 32 V, past the 26 V the
			// chip takes.
			sensors.Config{Driver: "ina219"},
			[]i2ctest.IO{
				{Addr: 0x40, W: []byte{0x05, 0x10, 0x62}},
				{Addr: 0x40, W: []byte{0x00, 0x1f, 0xff}},
				{Addr: 0x40, W: []byte{0x01}, R: []byte{0x27, 0x10}},
				{Addr: 0x40, W: []byte{0x02}, R: []byte{0xFA, 0x00}},
				{Addr: 0x40, W: []byte{0x04}, R: []byte{0x28, 0x00}},
				{Addr: 0x40, W: []byte{0x03}, R: []byte{0x18, 0x00}},
			},
			"voltage 32 V outside the chip's range 0…26 V",
		},
		{
			// 50000 ppm of CO₂, past the 40000 the chip measures.
			sensors.Config{Driver: "scd4x"},
			[]i2ctest.IO{
				{Addr: 0x62, W: []byte{0x36, 0xf6}},
				{Addr: 0x62, W: []byte{0x21, 0xb1}},
				{Addr: 0x62, W: []byte{0xe4, 0xb8}, R: []byte{0x80, 0x06, 0x04}},
				{Addr: 0x62, W: []byte{0xec, 0x05}, R: crcWords(50000, 0x6667, 0x5EB9)},
				{Addr: 0x62, W: []byte{0x3f, 0x86}}, // dropped: Halt
			},
			"co2 50000 ppm outside the chip's range 0…40000 ppm",
		},
	} {
		t.Run(tc.cfg.Driver, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: tc.ops, DontPanic: true}
			src := openConfig(t, sameBusHW(bus), tc.cfg)
			_, err := senseValues(t, src)
			var re *sensors.RangeError
			if !errors.As(err, &re) || !strings.HasSuffix(err.Error(), ": "+tc.want) {
				t.Fatalf("Sense = %v, want a *RangeError ending in %q", err, tc.want)
			}
			if bus.Count != len(bus.Ops) {
				t.Errorf("the transcript stopped at op #%d of %d", bus.Count, len(bus.Ops))
			}
			// The chip was dropped: the next Sense opens it again, starting
			// with the same transfer as before, not with a measurement.
			bus.Ops, bus.Count = tc.ops[:1], 0
			senseValues(t, src)
			if bus.Count == 0 {
				t.Errorf("the next Sense did not open the chip again")
			}
		})
	}
}
