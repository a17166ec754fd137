package sensors

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/i2c"

	"github.com/sensorcast/sensorcast/sensors/sht"
)

// Found is a device that answered a scan of an I²C bus.
type Found struct {
	Addr   uint16
	Driver string // the sensorcast driver for it, or "" if not identified
	Chip   string // what it was identified as, and how; or a guess
}

// ScanI2C probes every address from 0x03 to 0x77 on b with a one-byte
// read, as i2cdetect -r does, and identifies the devices that answer where
// a chip-ID register or the address allows. A one-byte read is harmless for
// sensors, but can upset some write-only chips; scan a bus of sensors.
func ScanI2C(b i2c.Bus) []Found {
	var found []Found
	var one [1]byte
	for addr := uint16(0x03); addr <= 0x77; addr++ {
		if err := b.Tx(addr, nil, one[:]); err != nil {
			continue
		}
		d, chip := Identify(b, addr)
		found = append(found, Found{Addr: addr, Driver: d, Chip: chip})
	}
	return found
}

// Identify guesses which chip answers at addr, asking each driver whose
// chip can sit there (its description's scan addresses and identify
// function), reading ID registers where the chip has some. It returns the
// driver ("" if none fits) and a description.
func Identify(b i2c.Bus, addr uint16) (drv, chip string) {
	var cands []*driver
	for _, n := range Drivers() {
		if d := registry[n]; d.identify != nil && slices.Contains(d.scanAddrs, addr) {
			cands = append(cands, d)
		}
	}
	slices.SortStableFunc(cands, func(a, b *driver) int { return a.scanOrder - b.scanOrder })
	for _, d := range cands {
		if chip, ok := d.identify(b, addr); ok {
			return d.name, chip
		}
	}
	if note := noDriver(b, addr); note != "" {
		return "", note
	}
	if len(cands) > 0 {
		names := make([]string, len(cands))
		for i, d := range cands {
			names[i] = d.name
		}
		return "", fmt.Sprintf("unknown (%s address, no ID matched)", strings.Join(names, "/"))
	}
	return "", "unknown"
}

// noDriver names common chips sensorcast has no driver for, by address
// or ID register, or returns "".
func noDriver(b i2c.Bus, addr uint16) string {
	switch {
	case addr == 0x76 || addr == 0x77:
		switch id, ok := reg8(b, addr, 0xD0); {
		case ok && id == 0x61:
			return "BME680 (chip id 0x61): no driver"
		case ok && id == 0x55:
			return "BMP180 (chip id 0x55): no driver"
		}
	case addr >= 0x50 && addr <= 0x57:
		return "EEPROM (by address: a HAT's ID EEPROM or an RTC's memory)"
	case addr == 0x68:
		return "RTC (DS1307/DS3231) or IMU (MPU-6050), by address: no driver"
	}
	return ""
}

// reg8 reads the 8-bit register r of the chip at addr.
func reg8(b i2c.Bus, addr uint16, r byte) (byte, bool) {
	var v [1]byte
	return v[0], b.Tx(addr, []byte{r}, v[:]) == nil
}

// reg16 reads the big-endian 16-bit register r of the chip at addr.
func reg16(b i2c.Bus, addr uint16, r byte) (uint16, bool) {
	var v [2]byte
	return uint16(v[0])<<8 | uint16(v[1]), b.Tx(addr, []byte{r}, v[:]) == nil
}

// probeSensirion sends cmd and checks that the n-byte answer (words of two
// bytes plus a CRC) has valid CRCs.
func probeSensirion(b i2c.Bus, addr uint16, cmd []byte, n int) bool {
	if b.Tx(addr, cmd, nil) != nil {
		return false
	}
	time.Sleep(2 * time.Millisecond)
	buf := make([]byte, n)
	if b.Tx(addr, nil, buf) != nil {
		return false
	}
	allFF := true
	for i := 0; i+2 < n; i += 3 {
		if sht.CRC8(buf[i:i+2]) != buf[i+2] {
			return false
		}
		if buf[i] != 0xFF || buf[i+1] != 0xFF {
			allFF = false
		}
	}
	return !allFF
}

// I2CKernelDriver returns the name of the kernel driver bound to the chip
// at addr on the I²C bus whose device node is bus ("/dev/i2c-1"), looked
// up under root, or "" if none is. A chip that a kernel driver holds (one
// set up by dtoverlay=i2c-sensor) is read through that driver, as an IIO
// device for most sensors, not over the bus: both at once would fight over
// its configuration.
func I2CKernelDriver(root, bus string, addr uint16) string {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, bus), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return ""
	}
	// The node's device number names the adapter, whatever the node is
	// called.
	dev := fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	link, err := os.Readlink(filepath.Join(root, "sys/dev/char", dev))
	if err != nil {
		return ""
	}
	adapter, ok := strings.CutPrefix(filepath.Base(link), "i2c-")
	if !ok || !isDigits(adapter) {
		return ""
	}
	drv, err := os.Readlink(filepath.Join(root, "sys/bus/i2c/devices", fmt.Sprintf("%s-%04x", adapter, addr), "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(drv)
}
