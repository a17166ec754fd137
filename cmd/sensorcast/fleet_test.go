package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

var fleetAddrRE = regexp.MustCompile(`msg="sensorcast fleet started".* addr=(\S+)`)

// freeAddr returns a loopback address with a port free at the time, for a
// node whose info message must give a reachable dashboard URL.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRun runs sensorcast in-process with args until the test ends (or
// stop is called) and returns the address of its start line and its log.
func startRun(t *testing.T, re *regexp.Regexp, args ...string) (addr string, logs *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, logs) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run %v: %v", args, err)
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no start line in the log:\n%s", logs)
		}
	}
	return addr, logs, stop
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode
}

type fleetDevices struct {
	Devices []struct {
		Device, Name, Version, URL string
		Online                     *bool
		Announced                  bool
		Sensors                    int
		Failing                    []string
	}
}

// TestFleet (issue 17 points 1–3, 8 and 9): three real nodes publish to a
// real Mosquitto; a fleet started after them rebuilds the view from the
// retained info and status messages, backfills the charts of the two
// nodes whose token it holds from their /api/history (the third refuses
// it and is shown all the same), serves every device's messages on the
// overview stream and each device's own stream and API, survives
// malformed, oversized and unknown messages, and shows a stopped node
// offline.
func TestFleet(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	dir := t.TempDir()
	shared := access.NewToken()
	tokenFile := filepath.Join(dir, "fleet-token")
	os.WriteFile(tokenFile, []byte(shared+"\n"), 0o600)

	nodeStops := map[string]func(){}
	nodeStart := time.Now()
	for _, name := range []string{"alpha", "beta", "gamma"} {
		state := filepath.Join(dir, name)
		os.MkdirAll(state, 0o700)
		if name != "gamma" { // gamma keeps a token of its own
			access.WriteToken(state, shared, false)
		}
		cfg := filepath.Join(dir, name+".toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`device = %q
[[sensor]]
driver = "sim"
interval = "100ms"
seed = 7

[http]
trust_loopback = false   # the fleet's requests need the token

[mqtt]
broker = %q
client_id = %q
values = false
discovery = false
reconnect_max = "1s"
`, name, b.URL, "node-"+name)), 0o600)
		_, _, stop := startRun(t, addrRE, "-config", cfg, "-listen", freeAddr(t), "-state", state)
		nodeStops[name] = stop
	}
	// The nodes run a while before the fleet starts.
	time.Sleep(1500 * time.Millisecond)

	fcfg := filepath.Join(dir, "fleet.toml")
	os.WriteFile(fcfg, []byte(fmt.Sprintf("[fleet]\ntoken_file = %q\n", tokenFile)), 0o600)
	fleetStart := time.Now()
	addr, flog, _ := startRun(t, fleetAddrRE, "fleet", "-mqtt", b.URL, "-listen", "127.0.0.1:0", "-config", fcfg, "-state", filepath.Join(dir, "fleet"))
	base := "http://" + addr

	var devs fleetDevices
	waitUntil(t, 10*time.Second, "three devices online and announced", func() bool {
		devs = fleetDevices{}
		getJSON(t, base+"/api/devices", &devs)
		n := 0
		for _, d := range devs.Devices {
			if d.Online != nil && *d.Online && d.Announced && d.Sensors == 1 && d.Version == version {
				n++
			}
		}
		return n == 3
	})
	for _, d := range devs.Devices {
		if !strings.HasPrefix(d.URL, "http://127.0.0.1:") || d.Name != d.Device {
			t.Errorf("device %+v: want its dashboard URL and name from its info message", d)
		}
	}

	// Backfill: alpha's and beta's charts reach back before the fleet
	// started; gamma refused the token and starts when the fleet did.
	type hist struct {
		StepMS  int64 `json:"step_ms"`
		Sensors []struct {
			Runs [][2]int64 `json:"runs"`
		} `json:"sensors"`
	}
	oldest := func(dev string) time.Time {
		var h hist
		if code := getJSON(t, base+"/api/history?device="+dev, &h); code != 200 || len(h.Sensors) != 1 || len(h.Sensors[0].Runs) == 0 {
			return time.Time{}
		}
		return time.UnixMilli(h.Sensors[0].Runs[0][0])
	}
	waitUntil(t, 10*time.Second, "alpha and beta backfilled", func() bool {
		a, b := oldest("alpha"), oldest("beta")
		return !a.IsZero() && a.Before(fleetStart.Add(-time.Second)) && !b.IsZero() && b.Before(fleetStart.Add(-time.Second))
	})
	if g := oldest("gamma"); g.IsZero() || g.Before(nodeStart) || g.Before(fleetStart.Add(-time.Second)) {
		t.Errorf("gamma's history starts at %v (nodes started %v, fleet %v): it should not be backfilled", g, nodeStart, fleetStart)
	}
	if !regexp.MustCompile(`msg="fleet: no backfill.*device=gamma.*401 Unauthorized`).MatchString(flog.String()) {
		t.Errorf("the refused backfill is not logged:\n%s", flog)
	}

	// The API per device, and its errors.
	var sensors struct {
		Device  string
		Sensors []struct{ Sensor string }
	}
	if code := getJSON(t, base+"/api/sensors?device=beta", &sensors); code != 200 || sensors.Device != "beta" || len(sensors.Sensors) != 1 {
		t.Errorf("/api/sensors?device=beta: %d %+v", code, sensors)
	}
	for target, want := range map[string]int{
		"/api/sensors":                            400,
		"/api/sensors?device=nobody":              404,
		"/api/history?device=beta&x=1":            400,
		"/api/history.csv?device=beta&sensor=sim": 200,
		"/api/nothing":                            404,
	} {
		if code := getJSON(t, base+target, nil); code != want {
			t.Errorf("GET %s = %d, want %d", target, code, want)
		}
	}

	// Bad messages are counted and logged, never fatal.
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL).SetClientID("vandal"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	for topic, payload := range map[string]string{
		"sensorcast/alpha/sim":         `{"type":"reading","sensor":`,
		"sensorcast/alpha/big":         strings.Repeat("x", 100<<10),
		"sensorcast/alpha/sim/extra/x": `{}`,
		"sensorcast/delta/info":        `{"type":"info","sensors":[{"sensor":""}]}`,
	} {
		pub.Publish(topic, 1, false, payload).WaitTimeout(5 * time.Second)
	}
	waitUntil(t, 10*time.Second, "the bad messages logged", func() bool {
		l := flog.String()
		return strings.Contains(l, "kind=malformed-reading") && strings.Contains(l, "kind=oversized") && strings.Contains(l, "kind=malformed-info")
	})

	// The overview stream: every device's messages, each with its device.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	seen := map[string]map[string]bool{}
	for len(seen) < 3 || !allLive(seen) {
		p, err := c.ReadText()
		if err != nil {
			t.Fatalf("overview: %v (seen %v)", err, seen)
		}
		var m struct{ Type, Device string }
		if err := json.Unmarshal(p, &m); err != nil || m.Device == "" {
			t.Fatalf("overview message without device: %s", p)
		}
		if seen[m.Device] == nil {
			seen[m.Device] = map[string]bool{}
		}
		seen[m.Device][m.Type] = true
	}
	c.Close(1000, "")

	// One device's stream is a node's: hello, history, readings, all its.
	d, _, err := wstest.Dial(ctx, "ws://"+addr+"/ws?device=beta", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.SetDeadline(time.Now().Add(10 * time.Second))
	var types []string
	for len(types) < 4 {
		p, err := d.ReadText()
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type, Device string }
		json.Unmarshal(p, &m)
		if m.Device != "beta" {
			t.Fatalf("beta's stream carries %s", p)
		}
		types = append(types, m.Type)
	}
	if types[0] != "hello" || types[1] != "history" || types[2] != "reading" {
		t.Errorf("beta's stream opens with %v", types)
	}
	d.Close(1000, "")
	if code := getJSON(t, base+"/ws?device=nobody", nil); code != 404 {
		t.Errorf("stream of an unknown device: %d, want 404", code)
	}

	// A node stopped: its tile goes offline.
	nodeStops["gamma"]()
	waitUntil(t, 10*time.Second, "gamma offline", func() bool {
		devs = fleetDevices{}
		getJSON(t, base+"/api/devices", &devs)
		for _, d := range devs.Devices {
			if d.Device == "gamma" {
				return d.Online != nil && !*d.Online
			}
		}
		return false
	})
}

// allLive reports whether every device was seen with its device message,
// hello and a reading.
func allLive(seen map[string]map[string]bool) bool {
	for _, s := range seen {
		if !s["device"] || !s["hello"] || !s["reading"] {
			return false
		}
	}
	return true
}
