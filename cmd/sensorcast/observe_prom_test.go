package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/sensortest"
)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	code, _, body := do(t, addr, "", metricsPath, map[string]string{"Authorization": "Bearer " + scrapeToken})
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

// TestPromtoolCheckMetrics: Prometheus's own linter accepts the exposition
// (format, naming conventions, HELP and TYPE on every family).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := needTool(t, "promtool") // Debian package prometheus
	addr, _, _ := startObserved(t)
	waitReady(t, addr)
	body := scrape(t, addr)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- input:\n%s", err, out, body)
	}
}

// freePort returns a loopback address free a moment ago, for a server
// that cannot be handed a listener.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestPrometheusScrapes: a real Prometheus server scrapes sensorcast with
// the scrape token (authorization.credentials_file, the README's scrape
// config), and a query through its HTTP API returns the sim temperature.
func TestPrometheusScrapes(t *testing.T) {
	prom := needTool(t, "prometheus") // Debian package prometheus
	addr, _, tokenFile := startObserved(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sensorcast
    authorization:
      credentials_file: %s
    static_configs:
      - targets: ['%s']
`, tokenFile, addr)), 0o644)
	web := freePort(t)
	var logs syncBuffer
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+web, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})

	query := func(q string) []struct {
		Metric map[string]string
		Value  [2]any
	} {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil // not up yet
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return nil // starting
		}
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
			t.Fatalf("query %s: %v %+v", q, err, r)
		}
		return r.Data.Result
	}
	// Prometheus starts, scrapes every second: a minute is generous.
	q := `sensorcast_sensor_temperature_celsius{job="sensorcast",sensor="sim"}`
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if res := query(q); len(res) == 1 {
			s, _ := res[0].Value[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < -40 || v > 85 || res[0].Metric["instance"] != addr {
				t.Fatalf("%s = %+v", q, res)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no result for %s within a minute", q)
		}
	}
	if res := query(`up{job="sensorcast"}`); len(res) != 1 || res[0].Value[1] != "1" {
		t.Errorf("up = %+v", res)
	}
}

// TestREADMEMetrics: the README's metric list names every family /metrics
// writes (a bridge and a refusal included), and nothing else; the value
// families are described by their pattern.
func TestREADMEMetrics(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Monitoring\n")
	if !ok {
		t.Fatal("README has no ## Monitoring section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_:]+)`").FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	o, _ := newTestObserver(t, &sensortest.Script{Sensor: "s"})
	o.bridge = fakeBridge{}
	var written []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE ([a-z_:]+) `).FindAllStringSubmatch(string(o.metricsBody()), -1) {
		written = append(written, m[1])
	}
	for _, name := range written {
		if !slices.Contains(listed, name) {
			t.Errorf("/metrics writes %s; the README's Monitoring table does not list it", name)
		}
	}
	for _, name := range listed {
		if !slices.Contains(written, name) {
			t.Errorf("the README lists %s; /metrics does not write it", name)
		}
	}
}
