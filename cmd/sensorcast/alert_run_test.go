package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

// hook is a webhook receiver on loopback: it records each body and when it
// arrived.
type hook struct {
	mu     sync.Mutex
	bodies []string
	at     []time.Time
	ch     chan struct{}
}

func (k *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	k.mu.Lock()
	k.bodies = append(k.bodies, string(b))
	k.at = append(k.at, time.Now())
	k.mu.Unlock()
	k.ch <- struct{}{}
}

// next waits for the next message and returns it decoded with its arrival.
func (k *hook) next(t *testing.T) (map[string]any, time.Time) {
	t.Helper()
	select {
	case <-k.ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook message in 20 s")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal([]byte(k.bodies[len(k.bodies)-1]), &m); err != nil {
		t.Fatal(err)
	}
	return m, k.at[len(k.at)-1]
}

// probeRoot makes a fake 1-Wire bus with one DS18B20 whose temperature the
// test sets with the returned function, and points the sensors at it.
func probeRoot(t *testing.T) func(milli string) {
	t.Helper()
	root := t.TempDir()
	probe := filepath.Join(root, "sys/bus/w1/devices/28-0316a2797aff")
	if err := os.MkdirAll(probe, 0o755); err != nil {
		t.Fatal(err)
	}
	set := func(milli string) {
		tmp := filepath.Join(probe, ".t")
		if err := os.WriteFile(tmp, []byte(milli+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(probe, "temperature")); err != nil {
			t.Fatal(err)
		}
	}
	old := hardwareRoot
	hardwareRoot = root
	t.Cleanup(func() { hardwareRoot = old })
	return set
}

// startNodeWith runs sensorcast in-process with the config text and state
// directory given; it returns the address and a function that stops it.
func startNodeWith(t *testing.T, config, state string) (addr string, stop func()) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte(config), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0", "-state", state}, logs) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v\n%s", err, logs)
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no start line in the log:\n%s", logs)
		}
	}
	return addr, stop
}

// apiAlerts returns GET /api/alerts, decoded.
func apiAlerts(t *testing.T, addr string) []map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Device string
		Alerts []map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/alerts: %d %v", resp.StatusCode, err)
	}
	return out.Alerts
}

// wsAlert dials the stream and returns the first alert message.
func wsAlert(t *testing.T, addr string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(1000, "")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		p, err := c.ReadText()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(p, &m)
		if m["type"] == "alert" {
			return m
		}
	}
}

// metricsHas checks that /metrics has each line given, within 10 s (a
// delivery is counted once the receiver has answered).
func metricsHas(t *testing.T, addr string, lines ...string) {
	t.Helper()
	var missing string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = ""
		for _, l := range lines {
			if !strings.Contains("\n"+string(b), "\n"+l+"\n") {
				missing = l
			}
		}
		if missing == "" {
			return
		}
	}
	t.Errorf("/metrics has no line %s", missing)
}

// sameMilli reports whether two RFC 3339 times are the same millisecond.
func sameMilli(a, b any) bool {
	as, _ := a.(string)
	bs, _ := b.(string)
	at, err1 := time.Parse(time.RFC3339Nano, as)
	bt, err2 := time.Parse(time.RFC3339Nano, bs)
	return err1 == nil && err2 == nil && at.UnixMilli() == bt.UnixMilli()
}

const probeValue = "probes.28-0316a2797aff"

// The whole path with real parts: a reading that crosses the threshold
// fires the rule; the webhook on loopback gets it within a second, the API
// and the stream show it; after a restart the rule still fires without a
// second message, and resolves when the value clears.
func TestAlertsEndToEnd(t *testing.T) {
	set := probeRoot(t)
	set("1500") // 1.5 °C: frost
	k := &hook{ch: make(chan struct{}, 10)}
	srv := httptest.NewServer(k)
	defer srv.Close()
	config := `device = "gh"
[[sensor]]
name = "probes"
driver = "ds18b20"
interval = "50ms"

[[alert]]
name = "frost"
when = "` + probeValue + ` < 2"
clear = "` + probeValue + ` > 3"
clear_for = "0s"
notify = ["` + srv.URL + `/hook"]
`
	state := filepath.Join(t.TempDir(), "state")
	addr, stop := startNodeWith(t, config, state)
	m, at := k.next(t)
	if m["rule"] != "frost" || m["state"] != "firing" || m["device"] != "gh" || m["value"] != 1.5 || m["unit"] != "°C" {
		t.Errorf("webhook %v", m)
	}
	// Latency from the reading that crossed (the transition's time is its
	// arrival at the hub) to the webhook's receipt, with for = 0.
	fired, err := time.Parse(time.RFC3339Nano, m["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	lat := at.Sub(fired)
	t.Logf("reading to webhook: %v", lat)
	if lat > time.Second || lat < 0 {
		t.Errorf("reading to webhook took %v, want under 1 s", lat)
	}
	a := apiAlerts(t, addr)
	if len(a) != 1 || a[0]["rule"] != "frost" || a[0]["state"] != "firing" || a[0]["v"] != 1.5 || a[0]["since"] != m["since"] ||
		a[0]["when"] != probeValue+" < 2" || a[0]["clear"] != probeValue+" > 3" || a[0]["notify"] != 1.0 {
		t.Errorf("/api/alerts %v", a)
	}
	if w := wsAlert(t, addr); w["rule"] != "frost" || w["state"] != "firing" || w["v"] != 1.5 || w["device"] != "gh" {
		t.Errorf("stream alert %v", w)
	}
	metricsHas(t, addr, `sensorcast_alert_firing{rule="frost"} 1`, `sensorcast_alert_firings_total{rule="frost"} 1`,
		`sensorcast_alert_notifications_total{result="sent"} 1`)
	stop()

	// Restart while firing: still firing, no second message.
	set("2500") // between the thresholds: neither fires nor clears
	addr, _ = startNodeWith(t, config, state)
	if w := wsAlert(t, addr); w["state"] != "firing" || !sameMilli(w["since"], m["since"]) {
		t.Errorf("after the restart the stream shows %v", w)
	}
	for i := 0; ; i++ {
		a = apiAlerts(t, addr)
		if a[0]["v"] == 2.5 {
			break
		}
		if i > 1000 {
			t.Fatalf("no reading after the restart: %v", a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a[0]["state"] != "firing" || a[0]["since"] != m["since"] {
		t.Errorf("after the restart /api/alerts %v", a)
	}
	set("5000")
	// The next message is the resolved one: a second firing, queued
	// before it, would come first (each URL's messages go in order).
	r, _ := k.next(t)
	if r["state"] != "resolved" || r["value"] != 5.0 || r["since"] != m["since"] {
		t.Errorf("resolved message %v", r)
	}
	if w := wsAlert(t, addr); w["state"] != "resolved" {
		t.Errorf("stream after resolve %v", w)
	}
	metricsHas(t, addr, `sensorcast_alert_firing{rule="frost"} 0`, `sensorcast_alert_firings_total{rule="frost"} 1`)
	k.mu.Lock()
	n := len(k.bodies)
	k.mu.Unlock()
	if n != 2 {
		t.Errorf("%d webhook messages, want 2:\n%s", n, strings.Join(k.bodies, "\n"))
	}
}

// With MQTT, a real Mosquitto holds each rule's retained state and its
// Home Assistant binary_sensor: resolved at start, firing when the value
// crosses, resolved when it clears.
func TestAlertsOnMQTT(t *testing.T) {
	b := mosquittotest.Start(t, nil)
	set := probeRoot(t)
	set("20000")
	const (
		topic = "sensorcast/gh/alert/frost"
		cfg   = "homeassistant/binary_sensor/gh/alert_frost/config"
	)
	var (
		mu  sync.Mutex
		got = map[string][]string{}
	)
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID("alert-sub").SetOrderMatters(true)
	o.SetOnConnectHandler(func(cl paho.Client) {
		cl.SubscribeMultiple(map[string]byte{topic: 1, cfg: 1}, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got[m.Topic()] = append(got[m.Topic()], string(m.Payload()))
			mu.Unlock()
		})
	})
	sub := paho.NewClient(o)
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	waitFor := func(tp string, n int) []string {
		t.Helper()
		for i := 0; ; i++ {
			mu.Lock()
			g := append([]string(nil), got[tp]...)
			mu.Unlock()
			if len(g) >= n {
				return g
			}
			if i > 2000 {
				t.Fatalf("fewer than %d messages on %s: %q", n, tp, g)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	startNodeWith(t, `device = "gh"
[[sensor]]
name = "probes"
driver = "ds18b20"
interval = "50ms"

[mqtt]
broker = "`+b.URL+`"

[[alert]]
name = "frost"
when = "`+probeValue+` < 2"
clear_for = "0s"
`, filepath.Join(t.TempDir(), "state"))
	if c := waitFor(cfg, 1)[0]; !strings.Contains(c, `"device_class":"problem"`) || !strings.Contains(c, `"state_topic":"`+topic+`"`) {
		t.Errorf("discovery config %s", c)
	}
	if s := waitFor(topic, 1); s[0] != "resolved" {
		t.Errorf("state at start %q", s)
	}
	set("1500")
	if s := waitFor(topic, 2); s[1] != "firing" {
		t.Errorf("states %q", s)
	}
	set("5000")
	if s := waitFor(topic, 3); s[2] != "resolved" {
		t.Errorf("states %q", s)
	}
}
