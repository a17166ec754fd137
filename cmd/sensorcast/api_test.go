package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/ws"
)

var apiT0 = time.Date(2026, 11, 26, 19, 33, 27, 120e6, time.UTC)

// newAPI returns a mux over a hub holding ten readings of "sim", one a
// second from apiT0, and a failing "bme" with none.
func newAPI(t *testing.T) http.Handler {
	t.Helper()
	h := hub.New(&hub.Options{Device: "pi", Version: "v1",
		Sensors: []hub.SensorInfo{{Name: "sim", Interval: time.Second}, {Name: "bme", Interval: 2 * time.Second}}})
	var r reading.Reading
	for i := range 10 {
		r.Reset("pi", "sim", apiT0.Add(time.Duration(i)*time.Second))
		r.Add("temperature", reading.Celsius, 21000+int64(i)*100)
		h.Publish(&r)
	}
	h.SetStatus(hub.Status{Sensor: "bme", Err: "read: i/o timeout", Failures: 2, Time: apiT0})
	mux := newMux(ws.NewServer(nil), h, nil, 0)
	return mux
}

func get(t *testing.T, mux http.Handler, method, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestAPISensors(t *testing.T) {
	res, body := get(t, newAPI(t), "GET", "/api/sensors")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/sensors = %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var m struct {
		Device  string
		Sensors []struct {
			Sensor string
			OK     bool
			Error  string
			Latest *struct {
				Values map[string]struct{ V float64 }
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Device != "pi" || len(m.Sensors) != 2 || m.Sensors[0].Latest.Values["temperature"].V != 21.9 ||
		m.Sensors[1].OK || m.Sensors[1].Error != "read: i/o timeout" {
		t.Errorf("body = %s", body)
	}
}

// points expands a history message's runs into point times.
func points(runs [][]int64, step int64) []int64 {
	var t []int64
	for _, r := range runs {
		every := step
		if len(r) == 3 {
			every = r[2]
		}
		for k := range r[1] {
			t = append(t, r[0]+k*every)
		}
	}
	return t
}

func TestAPIHistory(t *testing.T) {
	mux := newAPI(t)
	ms := apiT0.UnixMilli()
	for _, tc := range []struct {
		query   string
		sensors int
		points  int // of the first sensor
	}{
		{"", 2, 10},
		{"?sensor=sim", 1, 10},
		{"?sensor=sim&since=1795721614120", 1, 3}, // apiT0+7s
		{"?since=2026-11-26T19:33:35.120Z", 2, 2},
		{"?since=2026-11-26T20:33:35%2B01:00", 2, 2},
		{"?sensor=bme", 1, 0},
	} {
		res, body := get(t, mux, "GET", "/api/history"+tc.query)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d %s", tc.query, res.StatusCode, body)
			continue
		}
		var m struct {
			Type    string
			StepMS  int64 `json:"step_ms"`
			Sensors []struct{ Runs [][]int64 }
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if m.Type != "history" || len(m.Sensors) != tc.sensors {
			t.Fatalf("%s: got %d sensors, want %d: %s", tc.query, len(m.Sensors), tc.sensors, body)
		}
		pts := points(m.Sensors[0].Runs, m.StepMS)
		if len(pts) != tc.points {
			t.Errorf("%s: first sensor has points %v; want %d", tc.query, pts, tc.points)
		}
		// Points are shown at the start of their step.
		if want := (ms + 9000) / m.StepMS * m.StepMS; tc.points > 0 && pts[len(pts)-1] != want {
			t.Errorf("%s: last point at %d, want %d", tc.query, pts[len(pts)-1], want)
		}
	}
}

// Relative since values count back from the API's clock.
func TestAPIHistorySinceDuration(t *testing.T) {
	h := hub.New(&hub.Options{Device: "pi"})
	var r reading.Reading
	for i := range 10 {
		r.Reset("pi", "sim", apiT0.Add(time.Duration(i)*time.Second))
		r.Add("x", reading.None, int64(i))
		h.Publish(&r)
	}
	a := &api{hub: h, now: func() time.Time { return apiT0.Add(10 * time.Second) }}
	rec := httptest.NewRecorder()
	a.history(rec, httptest.NewRequest("GET", "/api/history?since=4s", nil))
	var m struct {
		StepMS  int64 `json:"step_ms"`
		Sensors []struct{ Runs [][]int64 }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || len(m.Sensors) != 1 || len(points(m.Sensors[0].Runs, m.StepMS)) != 4 {
		t.Errorf("since=4s: %s (%v)", rec.Body, err)
	}
}

func TestAPIHistoryCSV(t *testing.T) {
	res, body := get(t, newAPI(t), "GET", "/api/history.csv?sensor=sim&since=1795721615120")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("%d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="sim.csv"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	want := "time,ts,temperature (°C)\r\n" +
		"2026-11-26T19:33:35.120Z,1795721615120,21.8\r\n" +
		"2026-11-26T19:33:36.120Z,1795721616120,21.9\r\n"
	if body != want {
		t.Errorf("CSV =\n%q\nwant\n%q", body, want)
	}
	res, body = get(t, newAPI(t), "HEAD", "/api/history.csv?sensor=sim")
	if res.StatusCode != 200 || body != "" || res.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %q %v", res.StatusCode, body, res.Header)
	}
}

// Every bad request gets a status and a JSON error that says what is wrong.
func TestAPIErrors(t *testing.T) {
	mux := newAPI(t)
	for _, tc := range []struct {
		method, target string
		code           int
		want           string
	}{
		{"GET", "/api/history?sensor=nope", 404, `no sensor \"nope\"`},
		{"GET", "/api/history.csv?sensor=nope", 404, `no sensor \"nope\"`},
		{"GET", "/api/history.csv", 400, `\"sensor\" is required`},
		{"GET", "/api/history?sensor=", 400, `\"sensor\" is required`},
		{"GET", "/api/history?since=yesterday", 400, "since must be Unix milliseconds"},
		{"GET", "/api/history?since=-5m", 400, "since must be"},
		{"GET", "/api/history?since=0s", 400, "must be positive"},
		{"GET", "/api/history?since=-1", 400, "out of range"},
		{"GET", "/api/history?sensor=sim&sensor=bme", 400, "given 2 times"},
		{"GET", "/api/history?sensr=sim", 400, `unknown query parameter \"sensr\"`},
		{"GET", "/api/sensors?x=1", 400, "unknown query parameter"},
		{"GET", "/api/history?%zz", 400, "bad query"},
		{"POST", "/api/sensors", 405, "not allowed"},
		{"DELETE", "/api/history", 405, "not allowed"},
		{"GET", "/api/nope", 404, "no such endpoint"},
	} {
		res, body := get(t, mux, tc.method, tc.target)
		var m struct{ Error string }
		if res.StatusCode != tc.code || json.Unmarshal([]byte(body), &m) != nil || m.Error == "" ||
			!strings.Contains(body, tc.want) {
			t.Errorf("%s %s = %d %s, want %d and %q", tc.method, tc.target, res.StatusCode, body, tc.code, tc.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := apiT0
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1795721607120", apiT0},
		{"0", time.UnixMilli(0)},
		{"2026-11-26T19:33:27.12Z", apiT0},
		{"2026-11-26T20:33:27.12+01:00", apiT0},
		{"90s", apiT0.Add(-90 * time.Second)},
		{"1h30m", apiT0.Add(-90 * time.Minute)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "x", "-1", "-1s", "0s", "1e3", "2026-11-26", "99999999999999999999", "9007199254740993", strings.Repeat("1", 65)} {
		if _, err := parseSince(in, now); !errors.Is(err, errSince) {
			t.Errorf("parseSince(%q) = %v, want errSince", in, err)
		}
	}
}

// FuzzParseSince: any input gives a time or an error that explains the
// accepted forms, never a panic.
func FuzzParseSince(f *testing.F) {
	f.Add("1795721607120")
	f.Add("2026-11-26T19:33:27Z")
	f.Add("10m")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseSince(s, apiT0)
		if err != nil && !errors.Is(err, errSince) {
			t.Fatalf("parseSince(%q) = %v, not wrapping errSince", s, err)
		}
	})
}

func TestHistoryConfig(t *testing.T) {
	c, err := parseConfig("h.toml", []byte("[history]\nwindow = \"24h\"\npoints = 1440\n"))
	if err != nil || c.History.Window != 24*time.Hour || c.History.Points != 1440 {
		t.Fatalf("parseConfig = %+v, %v", c, err)
	}
	for _, tc := range []struct{ src, want string }{
		{"[history]\nwindow = \"-1h\"\n", `h.toml:2: key "history.window": -1h0m0s out of range`},
		{"[history]\nwindow = \"8760h\"\n", `h.toml:2: key "history.window"`},
		{"[history]\nwindow = \"1h\"\npoints = -1\n", `h.toml:3: key "history.points": -1 out of range`},
		{"[history]\npoints = 10000000\n", `h.toml:2: key "history.points"`},
		{"[history]\npointz = 1\n", `h.toml:2: unknown key "history.pointz"`},
		{"[history]\npoints = \"many\"\n", "h.toml:2:"},
	} {
		if _, err := parseConfig("h.toml", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// Out-of-range history flags stop sensorcast before it listens.
func TestHistoryFlags(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-history-points", "-3"}, &errOut)
	if err == nil || !strings.Contains(err.Error(), `"history.points": -3 out of range`) {
		t.Fatalf("run = %v", err)
	}
	if strings.Contains(errOut.String(), "started") {
		t.Errorf("started: %s", errOut.String())
	}
}
