package sensors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/physic"

	"github.com/sensorcast/sensorcast/sensors"
)

// chip is a fake I²C device: registers read by write-then-read, and
// answers to commands read by a plain read after the command.
type chip struct {
	regs map[byte][]byte
	cmds map[string][]byte
	last string
}

// fakeBus is an I²C bus with a few chips; other addresses do not ack.
type fakeBus map[uint16]*chip

func (b fakeBus) String() string                    { return "fake" }
func (b fakeBus) SetSpeed(f physic.Frequency) error { return nil }
func (b fakeBus) Tx(addr uint16, w, r []byte) error {
	c := b[addr]
	if c == nil {
		return errors.New("no ack")
	}
	switch {
	case len(w) > 0 && len(r) == 0:
		c.last = string(w)
	case len(w) == 1:
		v, ok := c.regs[w[0]]
		if !ok {
			return fmt.Errorf("no register %#x", w[0])
		}
		copy(r, v)
	case len(w) == 0:
		v := c.cmds[c.last]
		c.last = ""
		if len(r) > 1 && v == nil {
			return errors.New("nothing to read")
		}
		copy(r, v)
	}
	return nil
}

func TestScanI2C(t *testing.T) {
	bus := fakeBus{
		0x23: {},
		0x38: {},
		0x40: {regs: map[byte][]byte{0x00: {0x39, 0x9F}}},
		0x44: {cmds: map[string][]byte{"\xF3\x2D": {0x00, 0x00, 0x81}}},
		0x45: {cmds: map[string][]byte{"\x89": {0x12, 0x34, 0x37, 0x56, 0x78, 0x7D}}},
		0x46: {cmds: map[string][]byte{"\x89": {0x12, 0x34, 0x00, 0x56, 0x78, 0x7D}}}, // bad CRC
		0x48: {regs: map[byte][]byte{0x01: {0x60, 0xA0}}},
		0x49: {regs: map[byte][]byte{0x01: {0x85, 0x83}}},
		0x18: {regs: map[byte][]byte{0x06: {0x00, 0x54}, 0x07: {0x04, 0x00}}},
		0x50: {},
		0x62: {},
		0x76: {regs: map[byte][]byte{0xD0: {0x60}}},
		0x77: {regs: map[byte][]byte{0xD0: {0x58}}},
	}
	var got []string
	for _, f := range sensors.ScanI2C(bus) {
		got = append(got, fmt.Sprintf("%#x %s: %s", f.Addr, f.Driver, f.Chip))
	}
	want := []string{
		"0x18 mcp9808: MCP9808 (manufacturer 0x0054, device 0x04)",
		"0x23 bh1750: BH1750 (by address)",
		"0x38 aht20: AHT20 (by address)",
		"0x40 ina219: INA219 (config register at its reset value 0x399f)",
		"0x44 sht3x: SHT3x (status register with a valid CRC)",
		"0x45 sht4x: SHT4x (serial number with a valid CRC)",
		"0x46 : unknown (sht3x/sht4x/ina219 address, no ID matched)",
		"0x48 tmp102: TMP102 (config register 0x60a0)",
		"0x49 ads1115: ADS1115 or ADS1015 (config register at its reset value 0x8583)",
		"0x50 : EEPROM (by address: a HAT's ID EEPROM or an RTC's memory)",
		"0x62 scd4x: SCD4x (by address; serial number not read: measuring?)",
		"0x76 bme280: BME280 (chip id 0x60)",
		"0x77 bmp280: BMP280 (chip id 0x58)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A chip bound to a kernel driver is found through sysfs from the bus's
// device node, whatever the node is called: /dev/null (1:3) stands in for
// an adapter's node here.
func TestI2CKernelDriver(t *testing.T) {
	root := t.TempDir()
	mk := func(dir string) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("dev")
	mk("sys/dev/char")
	mk("sys/bus/i2c/devices/11-0077")
	mk("sys/bus/i2c/devices/11-0076")
	for _, l := range [][2]string{
		{"/dev/null", "dev/i2c-1"},
		{"../../devices/platform/i2c-stub/i2c-11/i2c-dev/i2c-11", "sys/dev/char/1:3"},
		{"../../../../bus/i2c/drivers/bmp280", "sys/bus/i2c/devices/11-0077/driver"},
	} {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if got := sensors.I2CKernelDriver(root, "/dev/i2c-1", 0x77); got != "bmp280" {
		t.Errorf("0x77: %q, want bmp280", got)
	}
	for _, tc := range []struct {
		bus  string
		addr uint16
	}{{"/dev/i2c-1", 0x76}, {"/dev/i2c-1", 0x18}, {"/dev/i2c-2", 0x77}} {
		if got := sensors.I2CKernelDriver(root, tc.bus, tc.addr); got != "" {
			t.Errorf("%s %#x: %q, want none", tc.bus, tc.addr, got)
		}
	}
	// A node that is not a character device is no bus.
	os.WriteFile(filepath.Join(root, "dev", "i2c-3"), nil, 0o600)
	if got := sensors.I2CKernelDriver(root, "/dev/i2c-3", 0x77); got != "" {
		t.Errorf("a plain file: %q", got)
	}
}
