package sensors

import "time"

func init() {
	register(&driver{
		name:     "host",
		doc:      "this machine's CPU temperature, load, memory, uptime, Wi-Fi and disk",
		interval: 2 * time.Second,
		values: []string{"cpu_temp", "load1", "load5", "load15", "mem_used", "mem_available", "uptime",
			"wifi_signal", "wifi_link", "disk_used", "disk_free"},
		options:    []string{"disk"},
		valuesDoc:  "cpu_temp, load1/5/15, mem_used, mem_available, uptime, wifi_signal, wifi_link, disk_used, disk_free",
		optionsDoc: "`disk` (path, default `/`)",
		open: func(hw *Hardware, c *Config) (Source, error) {
			disk := c.Disk
			if disk == "" {
				disk = "/"
			}
			return NewHost(&HostOpts{Name: c.Name, Root: hw.Root, Disk: disk, Logger: hw.Logger})
		},
	})
}
