package sensors

import (
	"fmt"
	"strings"
	"time"
)

func init() {
	register(&driver{
		name:       "ds18b20",
		doc:        "DS18B20 probes on the kernel's 1-Wire bus",
		interval:   10 * time.Second,
		options:    []string{"probes", "names"},
		valuesDoc:  "one temperature per probe on the kernel's 1-Wire bus (`dtoverlay=w1-gpio`)",
		optionsDoc: "`probes` (default: all found), `names` (id → value name)",
		valuesOf:   func(*Config) []string { return nil }, // the probes' ids: known once it runs
		check: func(c *Config) error {
			for _, p := range c.Probes {
				if !strings.HasPrefix(p, "28-") || strings.ContainsAny(p, "/*?[") {
					return keyErr("probes", "%q is not a DS18B20 id like \"28-0316a2797aff\"", p)
				}
			}
			return nil
		},
		ranges: func(*Config) []valueRange { return []valueRange{ds18b20Range} },
		open: func(hw *Hardware, c *Config) (Source, error) {
			return NewW1(&W1Opts{Name: c.Name, Root: hw.root(), Probes: c.Probes, Names: c.Names})
		},
		scan: func(root string) Detected {
			probes, err := W1Probes(root)
			if err != nil {
				return Detected{Heading: "1-Wire: no bus (on a Raspberry Pi, enable it with dtoverlay=w1-gpio)"}
			}
			d := Detected{Present: true, Heading: fmt.Sprintf("1-Wire bus: %d DS18B20 probe(s)", len(probes)), Items: probes}
			if len(probes) > 0 {
				q := make([]string, len(probes))
				for i, p := range probes {
					q[i] = fmt.Sprintf("%q", p)
				}
				d.Tables = []Table{{Driver: "ds18b20", Lines: []string{"probes = [" + strings.Join(q, ", ") + "]"}}}
			}
			return d
		},
	})
}
