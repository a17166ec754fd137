package sensors_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// playbackHW returns Hardware whose /dev/i2c-1 is one Playback per open,
// in turn, and which fails to open any other bus or a bus past the last.
func playbackHW(buses ...*i2ctest.Playback) *sensors.Hardware {
	n := 0
	return &sensors.Hardware{OpenI2C: func(name string) (i2c.BusCloser, error) {
		if name != "/dev/i2c-1" || n == len(buses) {
			return nil, fmt.Errorf("i2c bus %s: not found", name)
		}
		n++
		return buses[n-1], nil
	}}
}

// sameBusHW returns Hardware whose /dev/i2c-1 is bus at every open: the
// chip sees one transcript however often the bus is opened and closed.
func sameBusHW(bus *i2ctest.Playback) *sensors.Hardware {
	return &sensors.Hardware{OpenI2C: func(name string) (i2c.BusCloser, error) {
		if name != "/dev/i2c-1" {
			return nil, fmt.Errorf("i2c bus %s: not found", name)
		}
		return bus, nil
	}}
}

func openConfig(t *testing.T, hw *sensors.Hardware, c sensors.Config) sensors.Source {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := hw.Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func valuesString(vs []reading.Value) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name+"="+string(reading.AppendMilli(nil, v.Milli))+string(v.Unit))
	}
	return strings.Join(s, " ")
}

// TestI2CDrivers reads each chip through its Source from a transcript: the
// datasheets' example values, or periph's own recordings of real chips.
func TestI2CDrivers(t *testing.T) {
	for _, tc := range []struct {
		cfg  sensors.Config
		ops  []i2ctest.IO
		want string
	}{
		{
			// periph's recording of a BME280 at 0x76: 23.72 °C,
			// 1009.42695 hPa, 65.3056 %.
			sensors.Config{Driver: "bme280"},
			[]i2ctest.IO{
				{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}}, // im_update clear
				{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x60}},
				{Addr: 0x76, W: []byte{0x88}, R: []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}},
				{Addr: 0x76, W: []byte{0xe1}, R: []byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e}},
				{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf2, 0x3, 0xf5, 0xa0, 0xf4, 0x6c}},
				{Addr: 0x76, W: []byte{0xF4, 0x6d}},
				{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}},
				{Addr: 0x76, W: []byte{0xf7}, R: []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0, 0x7a, 0x76}},
			},
			"temperature=23.72°C humidity=65.306% pressure=1009.427hPa",
		},
		{
			// periph's recording of a BMP280 (chip id 0x58): the same
			// calibration and raw values, and no humidity.
			sensors.Config{Driver: "bmp280", Address: 0x76},
			[]i2ctest.IO{
				{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}},
				{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x58}},
				{Addr: 0x76, W: []byte{0x88}, R: []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}},
				{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf5, 0xa0, 0xf4, 0x6c}},
				{Addr: 0x76, W: []byte{0xF4, 0x6d}},
				{Addr: 0x76, W: []byte{0xF3}, R: []byte{8}}, // converting
				{Addr: 0x76, W: []byte{0xF3}, R: []byte{0}},
				{Addr: 0x76, W: []byte{0xf7}, R: []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0}},
			},
			"temperature=23.72°C pressure=1009.427hPa",
		},
		{
			// MCP9808 datasheet: 0x0194 is +25.25 °C (upper nibble
			// flags masked), at 0x1a.
			sensors.Config{Driver: "mcp9808", Address: 0x1a},
			[]i2ctest.IO{
				{Addr: 0x1a, W: []byte{0x08, 0x03}},
				{Addr: 0x1a, W: []byte{0x01, 0x00, 0x00}},
				{Addr: 0x1a, W: []byte{0x05}, R: []byte{0xC1, 0x94}},
				{Addr: 0x1a, W: []byte{0x01, 0x01, 0x00}}, // Halt: shutdown
			},
			"temperature=25.25°C",
		},
		{
			// BH1750 datasheet: 0x8390 in H-resolution mode is
			// 33680 / 1.2 = 28067 lx; periph truncates to whole lux, the
			// chip's resolution in that mode.
			sensors.Config{Driver: "bh1750"},
			[]i2ctest.IO{
				{Addr: 0x23, W: []byte{0x07}},
				{Addr: 0x23, W: []byte{0x10}},
				{Addr: 0x23, W: []byte{0x07}},
				{Addr: 0x23, W: []byte{0x10}},
				{Addr: 0x23, W: []byte{0x10}, R: []byte{0x83, 0x90}},
				{Addr: 0x23, W: []byte{0x07}}, // Halt: power down
			},
			"illuminance=28066lx",
		},
		{
			// periph's recording of an AHT20: 19.4458 °C, 45.8282 %.
			sensors.Config{Driver: "aht20"},
			[]i2ctest.IO{
				{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}},                    // status: calibrated
				{Addr: 0x38, W: []byte{0xAC, 0x33, 0x00}},                         // trigger
				{Addr: 0x38, R: []byte{0x18, 0x75, 0x52, 0x05, 0x8E, 0x40, 0x7F}}, // with CRC
			},
			"temperature=19.446°C humidity=45.828%",
		},
		{
			// TMP102 datasheet: configuration at its reset value 0x60A0;
			// 0xE70 (bytes E7 00) is -25 °C.
			sensors.Config{Driver: "tmp102", Address: 0x49},
			[]i2ctest.IO{
				{Addr: 0x49, W: []byte{0x01}, R: []byte{0x60, 0xA0}},
				{Addr: 0x49, W: []byte{0x01, 0x60, 0xA0}},
				{Addr: 0x49, W: []byte{0x00}, R: []byte{0xE7, 0x00}},
				{Addr: 0x49, W: []byte{0x01}, R: []byte{0x60, 0xA0}}, // Halt
			},
			"temperature=-25°C",
		},
		{
			// INA219 with a 0.1 Ω shunt and 3.2 A: calibration 0x1062 as
			// in the datasheet's procedure; register LSBs 10 µV (shunt),
			// 4 mV (bus), 97.656 µA (current), 1.953 mW (power): 12 V,
			// 1 A, 12 W.
			sensors.Config{Driver: "ina219"},
			[]i2ctest.IO{
				{Addr: 0x40, W: []byte{0x05, 0x10, 0x62}},
				{Addr: 0x40, W: []byte{0x00, 0x1f, 0xff}},
				{Addr: 0x40, W: []byte{0x01}, R: []byte{0x27, 0x10}}, // 100 mV
				{Addr: 0x40, W: []byte{0x02}, R: []byte{0x5D, 0xC0}}, // 3000 << 3
				{Addr: 0x40, W: []byte{0x04}, R: []byte{0x28, 0x00}}, // 10240
				{Addr: 0x40, W: []byte{0x03}, R: []byte{0x18, 0x00}}, // 6144
			},
			"voltage=12V current=1A power=12W",
		},
		{
			// ADS1115 datasheet config register: OS=1, MUX, PGA, single
			// shot, 8 SPS, comparator off. 0x4000 at ±4.096 V is 2.048 V;
			// 0xC000 at ±0.256 V is -0.128 V.
			sensors.Config{Driver: "ads1115", Channels: []sensors.Channel{
				{Name: "soil", Input: "A0", Unit: "%", Scale: ptr(50.0), Offset: -2.4},
				{Name: "shunt", Input: "A2-A3", Range: 0.256},
			}},
			[]i2ctest.IO{
				{Addr: 0x48, W: []byte{0x01, 0xC3, 0x03}}, // MUX 100 (A0), PGA 001
				{Addr: 0x48, W: []byte{0x00}, R: []byte{0x40, 0x00}},
				{Addr: 0x48, W: []byte{0x01, 0xBB, 0x03}}, // MUX 011 (A2-A3), PGA 101
				{Addr: 0x48, W: []byte{0x00}, R: []byte{0xC0, 0x00}},
			},
			"soil=100% shunt=-0.128V",
		},
		{
			// SCD4x datasheet: read_measurement answers 0x01F4 (500 ppm),
			// 0x6667 (25.0 °C), 0x5EB9 (37.0 %), each with its CRC.
			sensors.Config{Driver: "scd4x"},
			[]i2ctest.IO{
				{Addr: 0x62, W: []byte{0x36, 0xf6}},                              // wake up
				{Addr: 0x62, W: []byte{0x21, 0xb1}},                              // start periodic measurement
				{Addr: 0x62, W: []byte{0xe4, 0xb8}, R: []byte{0x80, 0x06, 0x04}}, // data ready
				{Addr: 0x62, W: []byte{0xec, 0x05}, R: []byte{0x01, 0xf4, 0x33, 0x66, 0x67, 0xa2, 0x5e, 0xb9, 0x3c}},
				{Addr: 0x62, W: []byte{0x3f, 0x86}}, // Halt: stop periodic measurement
			},
			"co2=500ppm temperature=25.003°C humidity=37.002%",
		},
		{
			// SHT3x datasheet formulas: 0x6666 is 25 °C, 0x8000 50.0008 %.
			sensors.Config{Driver: "sht3x"},
			[]i2ctest.IO{
				{Addr: 0x44, W: []byte{0x30, 0xA2}},
				{Addr: 0x44, W: []byte{0xF3, 0x2D}},
				{Addr: 0x44, R: []byte{0x00, 0x00, 0x81}},
				{Addr: 0x44, W: []byte{0x24, 0x00}},
				{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2}},
			},
			"temperature=25°C humidity=50.001%",
		},
	} {
		t.Run(tc.cfg.Driver, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: tc.ops, DontPanic: true}
			src := openConfig(t, sameBusHW(bus), tc.cfg)
			got, err := senseValues(t, src)
			if err != nil {
				t.Fatal(err)
			}
			if s := valuesString(got); s != tc.want {
				t.Errorf("values %s, want %s", s, tc.want)
			}
			if err := src.(sensors.Halter).Halt(); err != nil {
				t.Errorf("Halt: %v", err)
			}
			if bus.Count != len(bus.Ops) {
				t.Errorf("the transcript stopped at op #%d of %d", bus.Count, len(bus.Ops))
			}
		})
	}
}

// TestI2CFaults: a missing bus, an absent chip, a CRC error and a chip that
// vanishes and returns. The Poller marks the sensor failing, backs off, and
// it recovers by itself.
func TestI2CFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		open := []i2ctest.IO{
			{Addr: 0x44, W: []byte{0x30, 0xA2}},
			{Addr: 0x44, W: []byte{0xF3, 0x2D}},
			{Addr: 0x44, R: []byte{0x00, 0x00, 0x81}},
		}
		good := []i2ctest.IO{
			{Addr: 0x44, W: []byte{0x24, 0x00}},
			{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2}},
		}
		badCRC := []i2ctest.IO{
			{Addr: 0x44, W: []byte{0x24, 0x00}},
			{Addr: 0x44, R: []byte{0x66, 0x66, 0x94, 0x80, 0x00, 0xA2}},
		}
		// The bus is opened for each read; after the fifth, opening fails:
		// the bus itself is gone.
		hw := playbackHW(
			&i2ctest.Playback{DontPanic: true},                                 // 0s: no chip answers
			&i2ctest.Playback{Ops: slices.Concat(open, good), DontPanic: true}, // 1s: OK
			&i2ctest.Playback{Ops: badCRC, DontPanic: true},                    // 2s: CRC error
			&i2ctest.Playback{Ops: slices.Concat(open, good), DontPanic: true}, // 3s: opened afresh, OK
			&i2ctest.Playback{DontPanic: true},                                 // 4s: gone
		)
		rec := newRecorder()
		p := sensors.NewPoller(&sensors.PollerOptions{OnReading: rec.onReading, OnStatus: rec.onStatus, MaxBackoff: 4 * time.Second})
		src := openConfig(t, hw, sensors.Config{Driver: "sht3x", Name: "air", Interval: time.Second})
		if err := p.Add(src, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := runFor(t, p, 10500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// 0s fail (no ack) → 1s OK → 2s CRC → 3s OK → 4s fail → 5s, 7s
		// (then 11s, after the end): the bus is missing.
		if got, want := rec.times("air"), seconds(1, 3); !slices.Equal(got, want) {
			t.Errorf("readings at %v, want %v", got, want)
		}
		var states []string
		for _, s := range rec.statuses {
			states = append(states, fmt.Sprintf("%v ok=%v %s", s.Time.Sub(rec.start), s.OK, s.Err))
		}
		want := []string{
			"0s ok=false sht3x at 0x44 on /dev/i2c-1: sht: SHT3x at 0x44: reset: i2ctest: unexpected Tx() (count #0) expecting i2ctest.IO{Addr:68, W:[]byte{0x30, 0xa2}, R:[]byte(nil)}",
			"1s ok=true ",
			"2s ok=false sht3x at 0x44 on /dev/i2c-1: sht: SHT3x{0x44}: temperature: sht: CRC mismatch: word 0x6666 has CRC 0x94, want 0x93",
			"3s ok=true ",
			"4s ok=false sht3x at 0x44 on /dev/i2c-1: sht: SHT3x{0x44}: measure: i2ctest: unexpected Tx() (count #0) expecting i2ctest.IO{Addr:68, W:[]byte{0x24, 0x0}, R:[]byte(nil)}",
		}
		if !slices.Equal(states, want) {
			t.Errorf("statuses:\n%s\nwant:\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
		}
		st := p.Stats()[0]
		if st.Consecutive != 3 || st.Failures != 5 || !strings.Contains(st.LastErr, "i2c bus /dev/i2c-1: not found") {
			t.Errorf("Stats = %+v, want 5 failures, the last 3 in a row for the missing bus", st)
		}
	})
}

func TestI2CHaltUnopened(t *testing.T) {
	src := openConfig(t, playbackHW(), sensors.Config{Driver: "tmp102"})
	if err := src.(sensors.Halter).Halt(); err != nil {
		t.Errorf("Halt of a never-opened chip: %v", err)
	}
	if _, err := senseValues(t, src); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Sense without a bus: %v", err)
	}
}

// countingBus counts how often it is closed.
type countingBus struct {
	*i2ctest.Playback
	closes *int
}

func (c countingBus) Close() error { *c.closes++; return nil }

// TestI2CBusClosedBetweenReads: sensorcast holds no bus open between reads,
// so a bus driver can be unloaded and loaded again.
func TestI2CBusClosedBetweenReads(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x18, W: []byte{0x08, 0x03}},
		{Addr: 0x18, W: []byte{0x01, 0x00, 0x00}},
		{Addr: 0x18, W: []byte{0x05}, R: []byte{0x00, 0xA0}},
		{Addr: 0x18, W: []byte{0x05}, R: []byte{0x1F, 0x60}},
	}}
	opens, closes := 0, 0
	hw := &sensors.Hardware{OpenI2C: func(string) (i2c.BusCloser, error) {
		opens++
		return countingBus{bus, &closes}, nil
	}}
	src := openConfig(t, hw, sensors.Config{Driver: "mcp9808"})
	for _, want := range []string{"temperature=10°C", "temperature=-10°C"} {
		got, err := senseValues(t, src)
		if err != nil || valuesString(got) != want {
			t.Fatalf("Sense = %s, %v; want %s", valuesString(got), err, want)
		}
		if opens != closes {
			t.Fatalf("after a read: %d opens, %d closes", opens, closes)
		}
	}
	if opens != 2 {
		t.Errorf("%d opens for two reads, want 2", opens)
	}
}
