package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
)

// brokerKeepAlive is the keepalive every node asks the broker for (bridge:
// 30 s). A broker sends a client's Will once it has heard nothing for one
// and a half keepalives.
const brokerKeepAlive = 30 * time.Second

// fleetDevice returns the fleet's /api/devices entry of dev, if any.
func fleetDevice(t *testing.T, base, dev string) (online *bool, failing []string, found bool) {
	t.Helper()
	var devs fleetDevices
	getJSON(t, base+"/api/devices", &devs)
	for _, d := range devs.Devices {
		if d.Device == dev {
			return d.Online, d.Failing, true
		}
	}
	return nil, nil, false
}

// TestFleetOffline (issue 17 point 8): nodes that say nothing more are shown
// offline by their Last Will: one killed with SIGKILL at once (the broker
// sees the socket close), one frozen with SIGSTOP, like a node that lost
// power or its network, within one and a half keepalives. A sensor failing
// on another node shows among its tile's failing sensors, and leaves it
// when it reads again. Real processes: Mosquitto, the node binary (killed,
// frozen), a node and the fleet in-process.
func TestFleetOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the broker's keepalive (up to 45 s)")
	}
	b := mosquittotest.Start(t, nil)
	bin := buildSensorcast(t)
	dir := t.TempDir()

	// The nodes to be killed and frozen: processes of their own.
	proc := func(name string) *exec.Cmd {
		cfg := filepath.Join(dir, name+".toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`device = %q
[[sensor]]
driver = "sim"
interval = "200ms"

[mqtt]
broker = %q
client_id = %q
discovery = false
`, name, b.URL, "node-"+name)), 0o600)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, name))
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logf.Name())
				t.Logf("%s's log:\n%s", name, out)
			}
		})
		return cmd
	}
	doomed := proc("doomed")
	frozen := proc("frozen")

	// A node with a DS18B20 probe on a fake 1-Wire bus, in-process.
	root := t.TempDir()
	probe := filepath.Join(root, "sys/bus/w1/devices/28-0316a2797aff")
	plug := func() {
		t.Helper()
		if err := os.MkdirAll(probe, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(root, "t")
		os.WriteFile(tmp, []byte("21500\n"), 0o644)
		if err := os.Rename(tmp, filepath.Join(probe, "temperature")); err != nil {
			t.Fatal(err)
		}
	}
	plug()
	old := hardwareRoot
	hardwareRoot = root
	t.Cleanup(func() { hardwareRoot = old })
	pcfg := filepath.Join(dir, "cellar.toml")
	os.WriteFile(pcfg, []byte(fmt.Sprintf(`device = "cellar"
[[sensor]]
name = "probe"
driver = "ds18b20"
interval = "200ms"

[mqtt]
broker = %q
client_id = "node-cellar"
discovery = false
`, b.URL)), 0o600)
	startRun(t, addrRE, "-config", pcfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "cellar"))

	addr, _, _ := startRun(t, fleetAddrRE, "fleet", "-mqtt", b.URL, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "fleet"))
	base := "http://" + addr
	waitUntil(t, 15*time.Second, "the nodes online, nothing failing", func() bool {
		for _, dev := range []string{"doomed", "frozen", "cellar"} {
			online, failing, _ := fleetDevice(t, base, dev)
			if online == nil || !*online || len(failing) > 0 {
				return false
			}
		}
		return true
	})

	// SIGSTOP: the process holds its connection open and says nothing, as
	// a node that lost power or network does; the broker sends its Will
	// after one and a half keepalives.
	stopped := time.Now()
	if err := frozen.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer frozen.Process.Signal(syscall.SIGCONT)

	// The probe unplugged: its sensor fails, and the tile says so; back in,
	// it reads again.
	if err := os.RemoveAll(probe); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "cellar's probe failing", func() bool {
		online, failing, _ := fleetDevice(t, base, "cellar")
		return online != nil && *online && slices.Equal(failing, []string{"probe"})
	})
	plug()
	waitUntil(t, 10*time.Second, "cellar's probe back", func() bool {
		_, failing, _ := fleetDevice(t, base, "cellar")
		return len(failing) == 0
	})

	// SIGKILL: no clean disconnect, no offline message of its own; the
	// kernel closes the socket, and the broker sends the Will at once.
	killed := time.Now()
	if err := doomed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	doomed.Wait()
	waitUntil(t, brokerKeepAlive*3/2+10*time.Second, "doomed offline by its Will", func() bool {
		online, _, _ := fleetDevice(t, base, "doomed")
		return online != nil && !*online
	})
	t.Logf("doomed offline %v after SIGKILL", time.Since(killed).Round(100*time.Millisecond))

	waitUntil(t, brokerKeepAlive*3/2+15*time.Second-time.Since(stopped), "frozen offline by its Will", func() bool {
		online, _, _ := fleetDevice(t, base, "frozen")
		return online != nil && !*online
	})
	t.Logf("frozen offline %v after SIGSTOP (keepalive %v)", time.Since(stopped).Round(100*time.Millisecond), brokerKeepAlive)
	if online, _, _ := fleetDevice(t, base, "cellar"); online == nil || !*online {
		t.Error("cellar went offline with the others")
	}
}
