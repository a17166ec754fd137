package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{"missing driver", "[[sensor]]\nname = \"a\"\n", `test.toml:1: sensor #1: missing key "driver"`},
		{"unknown driver", "[[sensor]]\ndriver = \"sim\"\n\n[[sensor]]\ndriver = \"bme999\"\n", `test.toml:4: sensor #2: unknown driver "bme999"`},
		{"bad interval", "[[sensor]]\ndriver = \"sim\"\ninterval = \"soon\"\n", "test.toml:3:"},
		{"interval too short", "[[sensor]]\ndriver = \"sim\"\ninterval = \"1ms\"\n", "interval 1ms out of range"},
		{"wrong type", "[[sensor]]\ndriver = \"sim\"\nseed = \"x\"\n", "test.toml:3:"},
		{"seed on host", "[[sensor]]\ndriver = \"host\"\nseed = 1\n", `key "seed" is for driver "sim"`},
		{"duplicate name", "[[sensor]]\ndriver = \"sim\"\n[[sensor]]\ndriver = \"sim\"\n", `test.toml:3: sensor #2: name "sim" already used by sensor #1`},
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
	if _, err := loadConfig(path); err != nil {
		t.Fatal(err)
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
			if _, ok := defaultIntervals[s.Driver]; !ok || s.Name == "" || s.Interval < 10*time.Millisecond || names[s.Name] {
				t.Fatalf("accepted an invalid sensor: %+v", s)
			}
			names[s.Name] = true
		}
	})
}
