package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sensortest"
	"github.com/sensorcast/sensorcast/ws"
)

// scrapeToken is the [metrics] token_file's content in these tests.
const scrapeToken = "0123456789abcdef0123456789abcdef"

// startObserved runs sensorcast with the token required even from
// loopback, and a scrape token; it returns the address, the access token
// and the scrape token's file.
func startObserved(t *testing.T) (addr, tok, tokenFile string) {
	t.Helper()
	tokenFile = filepath.Join(t.TempDir(), "scrape-token")
	if err := os.WriteFile(tokenFile, []byte(scrapeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, tok, _, _ = startSecured(t, "trust_loopback = false\n\n[metrics]\ntoken_file = \""+tokenFile+"\"\n")
	if tok == "" {
		t.Fatal("no access token in the start log")
	}
	return addr, tok, tokenFile
}

// waitReady polls /readyz until it answers 200 (bounded).
func waitReady(t *testing.T, addr string) {
	t.Helper()
	for range 500 {
		if code, _, _ := do(t, addr, "", readyzPath, nil); code == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("/readyz never answered 200")
}

func TestObservabilityEndpoints(t *testing.T) {
	addr, tok, _ := startObserved(t)
	waitReady(t, addr)

	// /healthz: no token, a small JSON body.
	code, hdr, body := do(t, addr, "", healthzPath, nil)
	var hz struct {
		Status  string
		Version string
		Uptime  *int64 `json:"uptime_s"`
		Sensors struct{ OK, Failing, Total int }
		Bridge  *struct{ Connected bool }
	}
	if err := json.Unmarshal([]byte(body), &hz); err != nil || code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/healthz: %d %q: %v", code, body, err)
	}
	if hz.Status != "ok" || hz.Version != version || hz.Uptime == nil || hz.Sensors.OK != 1 || hz.Sensors.Total != 1 || hz.Bridge != nil {
		t.Errorf("/healthz = %s", body)
	}

	// /metrics: the access token's rules, or the scrape token.
	bearer := func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }
	for _, c := range []struct {
		hdr  map[string]string
		want int
	}{
		{nil, http.StatusUnauthorized},
		{bearer("wrong-wrong-wrong-wrong-wrong-wrong"), http.StatusUnauthorized},
		{bearer(scrapeToken), http.StatusOK},
		{bearer(tok), http.StatusOK},
	} {
		code, hdr, body := do(t, addr, "", metricsPath, c.hdr)
		if code != c.want {
			t.Errorf("/metrics with %v: %d, want %d: %s", c.hdr, code, c.want, body)
		}
		if code == http.StatusOK && hdr.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("/metrics Content-Type %q", hdr.Get("Content-Type"))
		}
	}
	// The scrape token opens /metrics only.
	if code, _, _ := do(t, addr, "", "/api/sensors", bearer(scrapeToken)); code != http.StatusUnauthorized {
		t.Errorf("/api/sensors with the scrape token: %d, want 401", code)
	}

	_, _, body = do(t, addr, "", metricsPath, bearer(scrapeToken))
	for _, re := range []string{
		`(?m)^sensorcast_sensor_temperature_celsius\{sensor="sim"\} -?[0-9.]+(e[-+][0-9]+)?$`,
		`(?m)^sensorcast_sensor_humidity_ratio\{sensor="sim"\} 0\.[0-9]+$`,
		`(?m)^sensorcast_sensor_pressure_pascals\{sensor="sim"\} [0-9.e+]+$`,
		`(?m)^sensorcast_sensor_up\{sensor="sim"\} 1$`,
		`(?m)^sensorcast_sensor_reads_total\{sensor="sim"\} [1-9][0-9]*$`,
		`(?m)^sensorcast_http_requests_total\{route="/metrics",code="401"\} 2$`,
		`(?m)^sensorcast_http_requests_total\{route="/healthz",code="200"\} 1$`,
		`(?m)^sensorcast_access_refused_total\{reason="no-token"\} [1-9]`,
		`(?m)^sensorcast_build_info\{version="` + regexp.QuoteMeta(version) + `",goversion="go[^"]+"\} 1$`,
		`(?m)^process_resident_memory_bytes [0-9.e+]+$`,
		`(?m)^go_goroutines [0-9]+$`,
		`(?m)^sensorcast_history_points [1-9][0-9]*$`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("no match for %s in\n%s", re, body)
		}
	}
}

func TestMetricsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, c := range []struct{ file, want string }{
		{filepath.Join(dir, "missing"), "[metrics] token_file: open "},
		{short, "want one token of at least 32 characters"},
	} {
		cfg := filepath.Join(dir, "c.toml")
		os.WriteFile(cfg, []byte("[[sensor]]\ndriver = \"sim\"\n\n[metrics]\ntoken_file = \""+c.file+"\"\n"), 0o644)
		err := run(context.Background(), []string{"-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state")}, &syncBuffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("token_file %s: %v, want %q", c.file, err, c.want)
		}
	}
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[metrics]\ntoken = \"x\"\n"), 0o644)
	if _, err := loadConfig(cfg); err == nil || !strings.Contains(err.Error(), `unknown key "metrics.token"`) {
		t.Errorf("[metrics] token: %v", err)
	}
}

// newTestObserver returns an observer of a poller of src, not yet serving.
func newTestObserver(t testing.TB, src sensors.Source) (*observer, *sensors.Poller) {
	h := hub.New(&hub.Options{Device: "pi", Sensors: []hub.SensorInfo{{Name: src.Name(), Interval: time.Second}}})
	p := sensors.NewPoller(&sensors.PollerOptions{Device: "pi", OnReading: h.Publish, OnStatus: h.SetStatus})
	if err := p.Add(src, time.Second); err != nil {
		t.Fatal(err)
	}
	return &observer{start: time.Now(), ws: ws.NewServer(nil), hub: h, poller: p}, p
}

func probe(o *observer, path string) (int, string) {
	rec := httptest.NewRecorder()
	o.handler(http.NotFoundHandler(), nil).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// TestReadyz: 503 before the listener is served, before the first poll
// and while every sensor fails; 200 otherwise. /healthz answers 200 all
// along.
func TestReadyz(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBus := errors.New("i2c: no ack")
		src := &sensortest.Script{Sensor: "s", Steps: []sensortest.Step{
			sensortest.OK(reading.Value{Name: "t", Unit: reading.Celsius, Milli: 1}),
			sensortest.Fail(errBus), sensortest.Fail(errBus),
			sensortest.OK(reading.Value{Name: "t", Unit: reading.Celsius, Milli: 2}),
		}}
		o, p := newTestObserver(t, src)
		want := func(code int, why string) {
			t.Helper()
			c, body := probe(o, readyzPath)
			if c != code || !strings.Contains(body, why) {
				t.Errorf("/readyz: %d %s, want %d %q", c, body, code, why)
			}
			if c, body := probe(o, healthzPath); c != 200 {
				t.Errorf("/healthz: %d %s", c, body)
			}
		}
		want(503, "not serving yet")
		o.serving.Store(true)
		want(503, "1 of 1 sensors not polled yet")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		synctest.Wait()
		want(200, "ready")
		time.Sleep(time.Second) // the first failure
		synctest.Wait()
		want(503, "every sensor is failing (1)")
		if _, body := probe(o, healthzPath); !strings.Contains(body, `"sensors":{"ok":0,"failing":1,"total":1}`) {
			t.Errorf("/healthz while failing: %s", body)
		}
		time.Sleep(3500 * time.Millisecond) // retried at 2 s (fails) and 4 s (succeeds)
		synctest.Wait()
		want(200, "ready")
		cancel()
		<-done
	})
}

type fakeBridge bridge.Stats

func (f fakeBridge) Stats() bridge.Stats { return bridge.Stats(f) }

// TestMetricsBridgeAndValues: the bridge families, and values in base
// units under names that follow Prometheus's conventions.
func TestMetricsBridgeAndValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &sensortest.Script{Sensor: "env 1", Loop: true, Steps: []sensortest.Step{sensortest.OK(
			reading.Value{Name: "temperature", Unit: reading.Celsius, Milli: -1500},
			reading.Value{Name: "humidity", Unit: reading.Percent, Milli: 45_500},
			reading.Value{Name: "pressure", Unit: reading.HPa, Milli: 1_013_250},
			reading.Value{Name: "mem_free", Unit: reading.Mebibytes, Milli: 2_000},
			reading.Value{Name: "load1", Unit: reading.None, Milli: 250},
			reading.Value{Name: "pm2.5", Unit: "µg/m³", Milli: 12_000},
			reading.Value{Name: "reads_total", Unit: reading.None, Milli: 1},
		)}}
		o, p := newTestObserver(t, src)
		o.bridge = fakeBridge{Queued: 3, Dropped: 4, Lost: 5, Delivered: 6, Published: 7, Connects: 3, Connected: true}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		synctest.Wait()
		body := string(o.metricsBody())
		cancel()
		<-done
		for _, line := range []string{
			`sensorcast_sensor_temperature_celsius{sensor="env 1"} -1.5`,
			`sensorcast_sensor_humidity_ratio{sensor="env 1"} 0.455`,
			`sensorcast_sensor_pressure_pascals{sensor="env 1"} 101325`,
			`sensorcast_sensor_mem_free_bytes{sensor="env 1"} 2.097152e+06`,
			`sensorcast_sensor_load1{sensor="env 1"} 0.25`,
			`sensorcast_sensor_pm2_5_micrograms_per_cubic_meter{sensor="env 1"} 12`,
			`sensorcast_sensor_reads_total{sensor="env 1"} 1`, // the counter, not the value named so
			"sensorcast_mqtt_connected 1", "sensorcast_mqtt_queue_depth 3", "sensorcast_mqtt_dropped_total 4",
			"sensorcast_mqtt_lost_total 5", "sensorcast_mqtt_acknowledged_total 6", "sensorcast_mqtt_published_total 7",
			"sensorcast_mqtt_reconnects_total 2",
		} {
			if !strings.Contains(body, "\n"+line+"\n") {
				t.Errorf("no line %q in\n%s", line, body)
			}
		}
		if n := strings.Count(body, "sensorcast_sensor_reads_total{"); n != 1 {
			t.Errorf("%d sensorcast_sensor_reads_total samples, want 1", n)
		}
	})
}

// BenchmarkMetricsBody: one scrape's work (the figures in package
// metrics' doc): a sensor with three values, no bridge.
func BenchmarkMetricsBody(b *testing.B) {
	src := &sensortest.Script{Sensor: "sim", Loop: true, Steps: []sensortest.Step{sensortest.OK(
		reading.Value{Name: "temperature", Unit: reading.Celsius, Milli: 21_500},
		reading.Value{Name: "humidity", Unit: reading.Percent, Milli: 45_500},
		reading.Value{Name: "pressure", Unit: reading.HPa, Milli: 1_013_250},
	)}}
	o, _ := newTestObserver(b, src)
	var r reading.Reading
	r.Reset("pi", "sim", time.Now())
	src.Sense(&r)
	o.hub.Publish(&r)
	b.ReportAllocs()
	for b.Loop() {
		o.metricsBody()
	}
}
