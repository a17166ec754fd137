package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors"
)

func TestParseConfig(t *testing.T) {
	src := `device = "greenhouse"
listen = "127.0.0.1:9000"

[[sensor]]
driver = "sim"
seed = 42
interval = "250ms"

[[sensor]]
driver = "host"
name = "pi"
`
	c, err := parseConfig("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device != "greenhouse" || c.Listen != "127.0.0.1:9000" || len(c.Sensors) != 2 {
		t.Fatalf("config = %+v", c)
	}
	s := c.Sensors[0]
	if s.Name != "sim" || s.Interval != 250*time.Millisecond || s.Seed == nil || *s.Seed != 42 {
		t.Errorf("sim = %+v", s)
	}
	if s := c.Sensors[1]; s.Name != "pi" || s.Interval != 2*time.Second {
		t.Errorf("host = %+v", s)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"syntax", "device = \"x\"\nlisten = \n", "test.toml:2:"},
		{"unknown top-level key", "device = \"x\"\nlisen = \":1\"\n", `test.toml:2: unknown key "lisen"`},
		{"unknown sensor key", "[[sensor]]\ndriver = \"sim\"\nseedd = 1\n", `test.toml:3: unknown key "sensor.seedd"`},
		{"missing driver", "[[sensor]]\nname = \"a\"\n", `test.toml:1: sensor #1: key "driver": missing (one of: ads1015, ads1115,`},
		{"unknown driver", "[[sensor]]\ndriver = \"sim\"\n\n[[sensor]]\ndriver = \"bme999\"\n", `test.toml:5: sensor #2: key "driver": unknown driver "bme999" (one of: ads1015,`},
		{"bad interval", "[[sensor]]\ndriver = \"sim\"\ninterval = \"soon\"\n", "test.toml:3:"},
		{"interval too short", "[[sensor]]\ndriver = \"sim\"\ninterval = \"1ms\"\n", `test.toml:3: sensor #1: key "interval": 1ms out of range (at least 10ms)`},
		{"wrong type", "[[sensor]]\ndriver = \"sim\"\nseed = \"x\"\n", "test.toml:3:"},
		{"seed on host", "[[sensor]]\ndriver = \"host\"\nseed = 1\n", `test.toml:3: sensor #1: key "seed": is for driver "sim", not "host"`},
		{"address out of range", "[[sensor]]\ndriver = \"sim\"\n[[sensor]]\ndriver = \"bme280\"\naddress = 0x80\n", `test.toml:5: sensor #2: key "address": 0x80 is not a 7-bit I²C device address (0x03 to 0x77)`},
		{"bus on sim", "[[sensor]]\ndriver = \"sim\"\nbus = \"/dev/i2c-0\"\n", `test.toml:3: sensor #1: key "bus": is for I²C drivers, not "sim"`},
		{"address as string", "[[sensor]]\ndriver = \"tmp102\"\naddress = \"0x48\"\n", "test.toml:3:"},
		{"gpio without line", "[[sensor]]\ndriver = \"gpio\"\nname = \"door\"\n", `test.toml:1: sensor #1: key "line": missing: the line's name, such as "GPIO17"`},
		{"bad pull", "[[sensor]]\ndriver = \"gpio\"\nline = \"GPIO4\"\npull = \"high\"\n", `test.toml:4: sensor #1: key "pull": "high" is not one of up, down, off`},
		{"ads without channel", "[[sensor]]\ndriver = \"ads1115\"\n", `test.toml:1: sensor #1: key "channel": missing: at least one [[sensor.channel]]`},
		{"bad channel input", "[[sensor]]\ndriver = \"ads1115\"\n[[sensor.channel]]\nname = \"soil\"\ninput = \"B0\"\n", `sensor #1: key "channel": "soil": input "B0" is not one of A0,`},
		{"unknown channel key", "[[sensor]]\ndriver = \"ads1115\"\n[[sensor.channel]]\nname = \"soil\"\ninptu = \"A0\"\n", `test.toml:5: unknown key "sensor.channel.inptu"`},
		{"unknown filter key", "[[sensor]]\ndriver = \"sim\"\n[sensor.filter.temperature]\noffst = 1\n", `test.toml:4: unknown key "sensor.filter.temperature.offst"`},
		{"bad filter", "[[sensor]]\ndriver = \"sim\"\n[sensor.filter.temperature]\nmedian = 3\naverage = 3\n", `test.toml:3: sensor #1: key "filter.temperature": "median" and "average" exclude each other`},
		{"bad calibration", "[[sensor]]\ndriver = \"sim\"\n[sensor.filter.humidity]\ncalibrate = [[1.0, 2.0]]\n", `test.toml:3: sensor #1: key "filter.humidity": "calibrate" must be two [raw, true] points`},
		{"heartbeat without delta", "[[sensor]]\ndriver = \"sim\"\n[sensor.filter.pressure]\nheartbeat = \"1m\"\n", `test.toml:3: sensor #1: key "filter.pressure": "heartbeat" needs "delta"`},
		{"filter of no value", "[[sensor]]\ndriver = \"sht3x\"\n\n  [sensor.filter.temprature]\n  offset = 1\n", `test.toml:4: sensor #1: key "filter.temprature": the sht3x driver has no value "temprature" (it has: temperature, humidity)`},
		{"option of another driver", "[[sensor]]\ndriver = \"sht3x\"\nline = \"GPIO4\"\n", `test.toml:3: sensor #1: key "line": is for driver "gpio" or "pulse", not "sht3x"`},
		{"duplicate name", "[[sensor]]\ndriver = \"sim\"\n[[sensor]]\ndriver = \"sim\"\n", `test.toml:3: sensor #2: name "sim" already used by sensor #1`},
		{"names sharing a topic", "[[sensor]]\ndriver = \"sim\"\nname = \"living room\"\n[[sensor]]\ndriver = \"sim\"\nname = \"living_room\"\n",
			`test.toml:4: sensor #2: name "living_room" and sensor #1's "living room" would share MQTT topics`},
		{"bad sensor name", "[[sensor]]\ndriver = \"sim\"\nname = \"a/b\"\n", `test.toml:3: sensor #1: key "name": name "a/b": '/' is not allowed`},
		{"bad device name", "device = \"green#house\"\n", `test.toml:1: device: name "green#house": '#' is not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("test.toml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("error = %v, want one naming the file", err)
	}
}

// The example config shipped for the Pi must load.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "rpi", "sensorcast.toml")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// It shows every driver, so users can copy from it.
	used := make(map[string]bool)
	for _, s := range c.Sensors {
		used[s.Driver] = true
	}
	for _, d := range sensors.Drivers() {
		if !used[d] {
			t.Errorf("the example config has no [[sensor]] with driver %q", d)
		}
	}
}

func TestParseConfigDrivers(t *testing.T) {
	src := `[[sensor]]
driver = "bme280"
name = "greenhouse"
address = 0x77
bus = "/dev/i2c-3"
interval = "10s"
  [sensor.filter.temperature]
  offset = -0.4
  median = 5
  [sensor.filter.pressure]
  delta = 0.5
  heartbeat = "5m"

[[sensor]]
driver = "ads1115"
name = "soil"
  [[sensor.channel]]
  name = "moisture"
  input = "A0"
  range = 4.096
  unit = "%"
  scale = -38.5
  offset = 127.0
  [[sensor.channel]]
  name = "battery"
  input = "A2-A3"

[[sensor]]
driver = "gpio"
name = "door"
line = "GPIO17"
pull = "up"
invert = true
debounce = "20ms"
`
	c, err := parseConfig("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Sensors[0]
	if b.Address != 0x77 || b.Bus != "/dev/i2c-3" || b.Interval != 10*time.Second ||
		b.Filter["temperature"].Offset != -0.4 || b.Filter["temperature"].Median != 5 ||
		b.Filter["pressure"].Delta != 0.5 || b.Filter["pressure"].Heartbeat != 5*time.Minute {
		t.Errorf("bme280 = %+v", b)
	}
	a := c.Sensors[1]
	if len(a.Channels) != 2 || a.Address != 0x48 || a.Bus != "/dev/i2c-1" ||
		a.Channels[0].Unit != "%" || *a.Channels[0].Scale != -38.5 || a.Channels[1].Unit != "V" || a.Channels[1].Range != 4.096 {
		t.Errorf("ads1115 = %+v", a)
	}
	if g := c.Sensors[2]; g.Line != "GPIO17" || g.Pull != "up" || !g.Invert || g.Debounce != 20*time.Millisecond || g.Interval != time.Minute {
		t.Errorf("gpio = %+v", g)
	}
}

// FuzzParseConfig: any input gives a config or an error naming the file,
// never a panic; an accepted config is fully valid.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("device = \"pi\"\n[[sensor]]\ndriver = \"sim\"\nseed = 3\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := parseConfig("f.toml", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		names := make(map[string]bool)
		for _, s := range c.Sensors {
			if !slices.Contains(sensors.Drivers(), s.Driver) || s.Name == "" || s.Interval < 10*time.Millisecond || names[s.Name] {
				t.Fatalf("accepted an invalid sensor: %+v", s)
			}
			names[s.Name] = true
		}
	})
}
