package sht

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Addresses of the two families. SHT3x answer at 0x44, or 0x45 with ADDR
// pulled high; SHT4x at 0x44, 0x45 or 0x46 depending on the part number.
const (
	AddrDefault uint16 = 0x44
	AddrAlt     uint16 = 0x45
)

// Kind is the sensor family.
type Kind int

// Sensor families.
const (
	SHT3x Kind = iota + 1
	SHT4x
)

// String returns the family's name, such as "SHT3x".
func (k Kind) String() string {
	switch k {
	case SHT3x:
		return "SHT3x"
	case SHT4x:
		return "SHT4x"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Commands, from the datasheets.
var (
	// SHT3x: single shot, high repeatability, no clock stretching; ≤15.5 ms.
	cmd3xMeasure = []byte{0x24, 0x00}
	cmd3xReset   = []byte{0x30, 0xA2}
	cmd3xStatus  = []byte{0xF3, 0x2D}
	// SHT4x: measure with high precision; ≤8.3 ms.
	cmd4xMeasure = []byte{0xFD}
	cmd4xReset   = []byte{0x94}
	cmd4xSerial  = []byte{0x89}
)

// Conversion times (maximum, from the datasheets) and reset time.
const (
	wait3x    = 16 * time.Millisecond
	wait4x    = 9 * time.Millisecond
	waitReset = 2 * time.Millisecond
)

// ErrCRC is wrapped by the error Sense returns when a word's CRC is wrong.
var ErrCRC = errors.New("sht: CRC mismatch")

// Opts configures a Dev. A nil *Opts gives the defaults.
type Opts struct {
	// Addr is the I²C address. Default: AddrDefault (0x44).
	Addr uint16
}

// Dev is one SHT3x or SHT4x sensor. Its methods must not be called
// concurrently.
type Dev struct {
	d    i2c.Dev
	kind Kind
	buf  [6]byte
}

// NewSHT3x opens an SHT3x on b: it soft-resets the sensor and reads its
// status register, so a missing or wrong device is an error here.
func NewSHT3x(b i2c.Bus, o *Opts) (*Dev, error) { return newDev(b, o, SHT3x) }

// NewSHT4x opens an SHT4x on b: it soft-resets the sensor and reads its
// serial number, so a missing or wrong device is an error here.
func NewSHT4x(b i2c.Bus, o *Opts) (*Dev, error) { return newDev(b, o, SHT4x) }

func newDev(b i2c.Bus, o *Opts, k Kind) (*Dev, error) {
	addr := AddrDefault
	if o != nil && o.Addr != 0 {
		addr = o.Addr
	}
	if addr > 0x7F {
		return nil, fmt.Errorf("sht: address %#x is not a 7-bit address", addr)
	}
	d := &Dev{d: i2c.Dev{Bus: b, Addr: addr}, kind: k}
	reset, probe := cmd3xReset, cmd3xStatus
	n := 3
	if k == SHT4x {
		reset, probe, n = cmd4xReset, cmd4xSerial, 6
	}
	if err := d.d.Tx(reset, nil); err != nil {
		return nil, fmt.Errorf("sht: %s at %#x: reset: %w", k, addr, err)
	}
	time.Sleep(waitReset)
	if err := d.d.Tx(probe, nil); err != nil {
		return nil, fmt.Errorf("sht: %s at %#x: probe: %w", k, addr, err)
	}
	if k == SHT4x {
		time.Sleep(waitReset)
	}
	if err := d.d.Tx(nil, d.buf[:n]); err != nil {
		return nil, fmt.Errorf("sht: %s at %#x: probe: %w", k, addr, err)
	}
	for i := 0; i < n; i += 3 {
		if _, err := word(d.buf[i : i+3]); err != nil {
			return nil, fmt.Errorf("sht: %s at %#x: probe: %w", k, addr, err)
		}
	}
	return d, nil
}

// String returns the family and address, like "SHT3x{0x44}".
func (d *Dev) String() string { return fmt.Sprintf("%s{%#x}", d.kind, d.d.Addr) }

// Kind returns the sensor family.
func (d *Dev) Kind() Kind { return d.kind }

// Sense takes one measurement and sets e.Temperature and e.Humidity; it
// leaves e.Pressure alone. It fails on a bus error or a CRC mismatch.
func (d *Dev) Sense(e *physic.Env) error {
	cmd, wait := cmd3xMeasure, wait3x
	if d.kind == SHT4x {
		cmd, wait = cmd4xMeasure, wait4x
	}
	if err := d.d.Tx(cmd, nil); err != nil {
		return fmt.Errorf("sht: %s: measure: %w", d, err)
	}
	time.Sleep(wait)
	if err := d.d.Tx(nil, d.buf[:]); err != nil {
		return fmt.Errorf("sht: %s: read: %w", d, err)
	}
	st, err := word(d.buf[0:3])
	if err != nil {
		return fmt.Errorf("sht: %s: temperature: %w", d, err)
	}
	srh, err := word(d.buf[3:6])
	if err != nil {
		return fmt.Errorf("sht: %s: humidity: %w", d, err)
	}
	e.Temperature = Temperature(st)
	if d.kind == SHT4x {
		e.Humidity = Humidity4x(srh)
	} else {
		e.Humidity = Humidity3x(srh)
	}
	return nil
}

// Precision sets e to the resolution of a high-repeatability measurement:
// 0.01 °C and 0.01 %RH.
func (d *Dev) Precision(e *physic.Env) {
	e.Temperature = 10 * physic.MilliKelvin
	e.Humidity = physic.PercentRH / 100
}

// Halt does nothing: in single-shot mode the sensor idles between
// measurements.
func (d *Dev) Halt() error { return nil }

// Temperature converts a raw temperature word, the same for both families:
// T = -45 °C + 175 °C × S / (2¹⁶ - 1).
func Temperature(s uint16) physic.Temperature {
	// In nK, rounded half up.
	nano := (int64(s)*175*int64(physic.Kelvin) + 32767) / 65535
	return physic.ZeroCelsius - 45*physic.Kelvin + physic.Temperature(nano)
}

// Humidity3x converts an SHT3x raw humidity word: RH = 100 % × S / (2¹⁶ - 1).
func Humidity3x(s uint16) physic.RelativeHumidity {
	return physic.RelativeHumidity((int64(s)*100*int64(physic.PercentRH) + 32767) / 65535)
}

// Humidity4x converts an SHT4x raw humidity word: RH = -6 % + 125 % × S /
// (2¹⁶ - 1), clipped to 0–100 % as the datasheet advises.
func Humidity4x(s uint16) physic.RelativeHumidity {
	h := physic.RelativeHumidity((int64(s)*125*int64(physic.PercentRH)+32767)/65535) - 6*physic.PercentRH
	return min(max(h, 0), 100*physic.PercentRH)
}

// CRC8 is the Sensirion checksum of data: polynomial 0x31, initial value
// 0xFF, no reflection, no final XOR. CRC8([]byte{0xBE, 0xEF}) is 0x92.
func CRC8(data []byte) byte {
	crc := byte(0xFF)
	for _, b := range data {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// word checks and decodes a big-endian word followed by its CRC.
func word(b []byte) (uint16, error) {
	if got := CRC8(b[:2]); got != b[2] {
		return 0, fmt.Errorf("%w: word %#02x%02x has CRC %#02x, want %#02x", ErrCRC, b[0], b[1], b[2], got)
	}
	return uint16(b[0])<<8 | uint16(b[1]), nil
}

var _ conn.Resource = (*Dev)(nil)
