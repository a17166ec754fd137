package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
)

// TestFleetBridgedBrokers (issue 17 point 7): the nodes publish to one
// Mosquitto (a site's), the fleet subscribes to another (the centre's),
// joined only by Mosquitto's own bridge: the centre's broker subscribes to
// the site's sensorcast/# and republishes it, retained messages included.
// A fleet started after the nodes rebuilds its view from what the bridge
// retained on its side, follows the readings live, and sees a node that
// stops go offline across the bridge.
func TestFleetBridgedBrokers(t *testing.T) {
	site := mosquittotest.Start(t, nil)
	centre := mosquittotest.Start(t, &mosquittotest.Options{Extra: fmt.Sprintf(`
connection site
address %s
topic sensorcast/# in 1
cleansession true
try_private true
restart_timeout 1
start_type automatic
notifications false
`, site.Addr)})
	dir := t.TempDir()
	stops := map[string]func(){}
	for _, name := range []string{"east", "west"} {
		cfg := filepath.Join(dir, name+".toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`device = %q
[[sensor]]
driver = "sim"
interval = "200ms"

[mqtt]
broker = %q
client_id = %q
discovery = false
reconnect_max = "1s"
`, name, site.URL, "node-"+name)), 0o600)
		_, _, stop := startRun(t, addrRE, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, name))
		stops[name] = stop
	}
	// The nodes announce themselves on the site's broker before the fleet
	// starts on the centre's.
	time.Sleep(time.Second)

	addr, _, _ := startRun(t, fleetAddrRE, "fleet", "-mqtt", centre.URL, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "fleet"))
	base := "http://" + addr
	waitUntil(t, 15*time.Second, "both nodes online and announced through the bridge", func() bool {
		var devs fleetDevices
		getJSON(t, base+"/api/devices", &devs)
		n := 0
		for _, d := range devs.Devices {
			if d.Online != nil && *d.Online && d.Announced && d.Sensors == 1 {
				n++
			}
		}
		return n == 2
	})

	// Readings cross the bridge live: the fleet's latest reading of east
	// moves on.
	latest := func() string {
		var r struct {
			Sensors []struct {
				Latest *struct {
					Values map[string]struct{ V float64 }
				}
			}
		}
		getJSON(t, base+"/api/sensors?device=east", &r)
		if len(r.Sensors) != 1 || r.Sensors[0].Latest == nil {
			return ""
		}
		return fmt.Sprint(r.Sensors[0].Latest.Values)
	}
	first := latest()
	waitUntil(t, 10*time.Second, "east's readings moving on the centre's side", func() bool {
		now := latest()
		return now != "" && now != first
	})

	// west stops: its offline message crosses the bridge too.
	stops["west"]()
	waitUntil(t, 10*time.Second, "west offline through the bridge", func() bool {
		online, _, _ := fleetDevice(t, base, "west")
		east, _, _ := fleetDevice(t, base, "east")
		return online != nil && !*online && east != nil && *east
	})
}
