package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// sink records broadcasts.
type sink struct {
	mu   sync.Mutex
	keys []uint64
	msgs []string
}

func (s *sink) BroadcastKey(k uint64, p []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	s.msgs = append(s.msgs, string(p))
	return 1
}

// client records a snapshot.
type client struct {
	joined bool
	msgs   []string
}

func (c *client) Join()                             { c.joined = true }
func (c *client) Send(p []byte) error               { c.msgs = append(c.msgs, string(p)); return nil }
func (c *client) SendPrepared(p hub.Prepared) error { return c.Send(p.Payload()) }
func (c *client) Subprotocol() string               { return "" }

func readingJSON(dev, sensor string, ts int64, vals ...string) []byte {
	var r reading.Reading
	r.Reset(dev, sensor, time.UnixMilli(ts))
	for i := 0; i+1 < len(vals); i += 2 {
		var f float64
		fmt.Sscan(vals[i+1], &f)
		r.Add(vals[i], reading.Celsius, reading.Milli(f))
	}
	return r.AppendJSON(nil)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestFleet(t *testing.T, logs *bytes.Buffer) (*Fleet, *sink, *clock) {
	ov := &sink{}
	c := &clock{time.UnixMilli(1_800_000_000_000)}
	f := New(&Options{Prefix: "farm", Overview: ov, Now: c.now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(f.Close)
	return f, ov, c
}

// TestHandle: readings, statuses, info and availability build each
// device's hub; a device that never announced itself still shows its
// readings; bad payloads, oversized ones and unknown topics are counted,
// logged once per minute per kind, and change nothing.
func TestHandle(t *testing.T) {
	var logs bytes.Buffer
	f, ov, clk := newTestFleet(t, &logs)
	ts := clk.t.UnixMilli()
	f.Handle("farm/gh1/info", []byte(`{"type":"info","device":"Green House 1","version":"v9","url":"http://gh1:8080/","sensors":[{"sensor":"air","interval_ms":2000,"max_gap_ms":6000,"values":[{"name":"t","unit":"°C"}]},{"sensor":"soil probe","interval_ms":1000,"max_gap_ms":0}]}`))
	f.Handle("farm/gh1/status", []byte("online"))
	f.Handle("farm/gh1/air", readingJSON("Green House 1", "air", ts, "t", "21.5"))
	f.Handle("farm/gh1/soil_probe/availability", []byte("offline"))
	f.Handle("farm/shed/pump", readingJSON("shed", "pump", ts, "flow", "3.25")) // never announced
	f.Handle("farm/shed/pump/flow", []byte("3.25"))                             // per-value topic: not subscribed, unknown shape

	bad := []struct {
		topic, payload string
	}{
		{"farm/gh1/air", `{"type":"reading","sensor":"air"`},                     // truncated
		{"farm/gh1/air", `{"type":"reading","sensor":"air","ts":1,"values":{}}`}, // no values
		{"farm/gh1/air", `not json`},
		{"farm/gh1/air", `{"type":"reading","sensor":"air","ts":1,"values":{"t":{"v":"x"}}}`},
		{"farm/gh1/info", `{"type":"info","sensors":[{"sensor":""}]}`},
		{"farm/gh1/air/availability", `maybe`},
		{"farm/gh1/air", strings.Repeat(" ", DefaultMaxPayload+1)},
		{"other/gh1/air", `{}`},
		{"farm/gh1", `{}`},
		{"farm//air", `{}`},
		{"farm/a/b/c/d", `{}`},
	}
	for _, b := range bad {
		f.Handle(b.topic, []byte(b.payload))
	}
	st := f.Stats()
	if st.Malformed != 6 || st.Oversized != 1 || st.Unknown != 5 || st.Readings != 2 || st.Devices != 2 {
		t.Errorf("stats %+v: want 6 malformed, 1 oversized, 5 unknown (per-value topic included), 2 readings, 2 devices", st)
	}
	if n := strings.Count(logs.String(), "fleet: message dropped"); n != 5 {
		t.Errorf("%d log lines for 5 kinds of bad message (rate-limited per kind):\n%s", n, logs.String())
	}
	clk.t = clk.t.Add(2 * time.Minute)
	f.Handle("farm/x", []byte("{}"))
	if !strings.Contains(logs.String(), "not_logged_since_last=4") {
		t.Errorf("the next unknown-topic line does not say how many were not logged:\n%s", logs.String())
	}

	var devs struct {
		Devices []struct {
			Device, Name, Version, URL string
			Online                     *bool
			Announced                  bool
			Sensors                    int
			Failing                    []string
			Info                       json.RawMessage
		}
	}
	if err := json.Unmarshal(f.AppendDevices(nil), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs.Devices) != 2 {
		t.Fatalf("devices: %+v", devs)
	}
	gh, shed := devs.Devices[0], devs.Devices[1]
	if gh.Device != "gh1" || gh.Name != "Green House 1" || gh.Version != "v9" || gh.Online == nil || !*gh.Online ||
		!gh.Announced || gh.Sensors != 2 || len(gh.Failing) != 1 || gh.Failing[0] != "soil probe" {
		t.Errorf("gh1: %+v", gh)
	}
	if shed.Device != "shed" || shed.Announced || shed.Online != nil || shed.Sensors != 1 || string(shed.Info) != "null" {
		t.Errorf("shed: %+v", shed)
	}

	// The hub of gh1 says hello with the announced sensors and their gaps.
	c := &client{}
	if err := f.Hub("gh1").Snapshot(c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.msgs[0], `{"sensor":"air","interval_ms":2000,"max_gap_ms":6000}`) || !strings.Contains(c.msgs[0], `"version":"v9"`) {
		t.Errorf("hello: %s", c.msgs[0])
	}
	// Overview keys are unique across devices: gh1's air and shed's pump
	// are both their hub's sensor 1.
	keys := map[uint64]string{}
	for i, k := range ov.keys {
		if k == 0 {
			continue
		}
		if prev, dup := keys[k]; dup && !strings.Contains(ov.msgs[i], prev) {
			t.Errorf("key %d used by two devices", k)
		}
		var m struct{ Device string }
		json.Unmarshal([]byte(ov.msgs[i]), &m)
		keys[k] = `"device":"` + m.Device + `"`
	}
	if len(keys) != 2 {
		t.Errorf("overview reading keys %v: want 2", keys)
	}
}

// TestOverviewSnapshot: per device, the device message, hello, a history of
// the overview's window only, the latest readings and the statuses; the
// client joins once, after all of it was gathered.
func TestOverviewSnapshot(t *testing.T) {
	var logs bytes.Buffer
	f, _, clk := newTestFleet(t, &logs)
	now := clk.t.UnixMilli()
	f.Handle("farm/a/s", readingJSON("a", "s", now-30*60_000, "t", "1")) // outside 15 min
	f.Handle("farm/a/s", readingJSON("a", "s", now-60_000, "t", "2"))
	f.Handle("farm/b/status", []byte("offline"))
	c := &client{}
	if err := f.Snapshot(c); err != nil {
		t.Fatal(err)
	}
	if !c.joined {
		t.Fatal("not joined")
	}
	var types []string
	for _, m := range c.msgs {
		var x struct{ Type, Device string }
		json.Unmarshal([]byte(m), &x)
		types = append(types, x.Type+":"+x.Device)
	}
	want := "device:a hello:a history:a reading:a device:b hello:b history:b"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("snapshot %s, want %s", got, want)
	}
	if !strings.Contains(c.msgs[2], `"runs":[[`) || strings.Count(c.msgs[2], `"v":[2]`) != 1 {
		t.Errorf("overview history should hold the last 15 min only: %s", c.msgs[2])
	}
	if !strings.Contains(c.msgs[4], `"online":false`) {
		t.Errorf("device b: %s", c.msgs[4])
	}
}

// TestBackfill: a device whose info gives a dashboard URL gets the node's
// history (with the token) older than what the fleet received itself; a
// node that refuses (wrong token) or answers garbage is counted and
// logged, and the device is shown all the same.
func TestBackfill(t *testing.T) {
	const token = "s3cret"
	now := time.UnixMilli(1_800_000_000_000)
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/history" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		start := now.Add(-10 * time.Minute).UnixMilli()
		fmt.Fprintf(w, `{"type":"history","v":2,"device":"a","window_ms":3600000,"step_ms":1000,"sensors":[{"sensor":"s","runs":[[%d,3],[%d,1]],"values":{"t":{"unit":"°C","v":[1,null,3,4]}}}]}`,
			start, now.UnixMilli()+5000)
	}))
	defer node.Close()
	for _, tc := range []struct {
		token, url string
		points     uint64
		errs       uint64
	}{
		{token, node.URL + "/", 3, 0}, // the last point is newer than the live one: not taken
		{"wrong", node.URL + "/", 0, 1},
		{token, node.URL + "/nothing/", 0, 1},
		{token, "ftp://x/", 0, 1},
	} {
		var logs bytes.Buffer
		clk := &clock{now}
		f := New(&Options{Prefix: "p", Now: clk.now, Backfill: &Backfiller{Token: tc.token}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		f.Handle("p/a/s", readingJSON("a", "s", now.UnixMilli(), "t", "9"))
		f.Handle("p/a/info", []byte(`{"type":"info","device":"a","version":"v","url":"`+tc.url+`","sensors":[{"sensor":"s","interval_ms":1000,"max_gap_ms":1000}]}`))
		f.Handle("p/a/info", []byte(`{"type":"info","device":"a","version":"v","url":"`+tc.url+`","sensors":[]}`)) // asked once only
		f.wg.Wait()                                                                                                // the backfill is done
		f.Close()
		st := f.Stats()
		if st.Backfilled != tc.points || st.BackfillErrors != tc.errs {
			t.Errorf("%s with %q: %+v; want %d points, %d errors\n%s", tc.url, tc.token, st, tc.points, tc.errs, logs.String())
		}
		hist := string(f.Hub("a").AppendHistory(nil, "s", time.Time{}))
		if tc.points > 0 && !strings.Contains(hist, `"v":[1,null,3,9]`) {
			t.Errorf("history after backfill: %s", hist)
		}
		if tc.points == 0 && !strings.Contains(hist, `"v":[9]`) {
			t.Errorf("history without backfill: %s", hist)
		}
	}
}
