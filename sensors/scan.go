package sensors

import (
	"fmt"
	"time"

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

// Identify guesses which chip answers at addr, reading its ID registers
// where it has some. It returns the driver ("" if none fits) and a
// description.
func Identify(b i2c.Bus, addr uint16) (driver, chip string) {
	reg8 := func(r byte) (byte, bool) {
		var v [1]byte
		return v[0], b.Tx(addr, []byte{r}, v[:]) == nil
	}
	reg16 := func(r byte) (uint16, bool) {
		var v [2]byte
		return uint16(v[0])<<8 | uint16(v[1]), b.Tx(addr, []byte{r}, v[:]) == nil
	}
	switch {
	case addr == 0x76 || addr == 0x77:
		id, ok := reg8(0xD0)
		switch {
		case !ok:
		case id == 0x60:
			return "bme280", "BME280 (chip id 0x60)"
		case id == 0x56 || id == 0x57 || id == 0x58:
			return "bmp280", fmt.Sprintf("BMP280 (chip id %#x)", id)
		case id == 0x61:
			return "", "BME680 (chip id 0x61): no driver"
		case id == 0x55:
			return "", "BMP180 (chip id 0x55): no driver"
		}
		return "", "unknown (BME/BMP280 address, chip id does not match)"
	case addr >= 0x18 && addr <= 0x1f:
		m, ok1 := reg16(0x06)
		d, ok2 := reg16(0x07)
		if ok1 && ok2 && m == 0x0054 && d>>8 == 0x04 {
			return "mcp9808", "MCP9808 (manufacturer 0x0054, device 0x04)"
		}
		return "", "unknown (MCP9808 address, ids do not match)"
	case addr == 0x44 || addr == 0x45 || addr == 0x46:
		if probeSensirion(b, addr, []byte{0xF3, 0x2D}, 3) {
			return "sht3x", "SHT3x (status register with a valid CRC)"
		}
		if probeSensirion(b, addr, []byte{0x89}, 6) {
			return "sht4x", "SHT4x (serial number with a valid CRC)"
		}
		return "", "unknown (SHT3x/SHT4x address, no valid answer)"
	case addr == 0x62:
		if probeSensirion(b, addr, []byte{0x36, 0x82}, 9) {
			return "scd4x", "SCD4x (serial number with a valid CRC)"
		}
		return "scd4x", "SCD4x (by address; serial number not read: measuring?)"
	case addr == 0x38:
		return "aht20", "AHT20 (by address)"
	case addr == 0x23 || addr == 0x5c:
		return "bh1750", "BH1750 (by address)"
	case addr >= 0x40 && addr <= 0x4f:
		if addr >= 0x48 && addr <= 0x4b {
			if c, ok := reg16(0x01); ok {
				switch {
				case c == 0x8583:
					return "ads1115", "ADS1115 or ADS1015 (config register at its reset value 0x8583)"
				case c&0xFF00 == 0x6000:
					return "tmp102", fmt.Sprintf("TMP102 (config register %#04x)", c)
				}
			}
		}
		if c, ok := reg16(0x00); ok && c == 0x399F {
			return "ina219", "INA219 (config register at its reset value 0x399f)"
		}
		return "", "unknown (INA219/ADS1x15/TMP102 address range, registers do not match)"
	case addr >= 0x50 && addr <= 0x57:
		return "", "EEPROM (by address: a HAT's ID EEPROM or an RTC's memory)"
	case addr == 0x68:
		return "", "RTC (DS1307/DS3231) or IMU (MPU-6050), by address: no driver"
	}
	return "", "unknown"
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
