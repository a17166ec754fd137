package alert

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook receiver on loopback that records what it gets.
type receiver struct {
	mu   sync.Mutex
	got  []*http.Request
	body []string
	code int // the answer; default 200
	ch   chan struct{}
}

func newReceiver() *receiver { return &receiver{ch: make(chan struct{}, 100)} }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, r)
	rc.body = append(rc.body, string(b))
	code := rc.code
	rc.mu.Unlock()
	if code != 0 {
		w.WriteHeader(code)
	}
	rc.ch <- struct{}{}
}

func (rc *receiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rc.ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no request in 30 s")
	}
}

func runNotifier(t *testing.T, o *NotifierOptions) *Notifier {
	t.Helper()
	n := NewNotifier(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

var frostEvent = Event{Rule: "frost", Firing: true, Sensor: "greenhouse", When: "greenhouse.temperature < 2",
	Value: "temperature", Milli: 1500, Unit: "°C", Has: true,
	Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func TestWebhookJSON(t *testing.T) {
	rc := newReceiver()
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := runNotifier(t, &NotifierOptions{Device: "greenhouse-pi", DashboardURL: "http://greenhouse-pi:8080/"})
	n.Enqueue(frostEvent, []string{srv.URL + "/hook"})
	rc.wait(t)
	resolved := frostEvent
	resolved.Firing, resolved.Milli, resolved.Time = false, 3200, frostEvent.Time.Add(time.Hour)
	n.Enqueue(resolved, []string{srv.URL + "/hook"})
	rc.wait(t)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r := rc.got[0]; r.Method != "POST" || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(rc.body[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"rule": "frost", "state": "firing", "device": "greenhouse-pi", "sensor": "greenhouse",
		"when": "greenhouse.temperature < 2", "value": 1.5, "value_name": "temperature", "unit": "°C",
		"since": "2026-01-02T03:04:05Z", "time": "2026-01-02T03:04:05Z", "dashboard": "http://greenhouse-pi:8080/",
		"text": "frost firing on greenhouse-pi: greenhouse.temperature 1.5 °C (greenhouse.temperature < 2)"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if !strings.Contains(rc.body[1], `"state":"resolved"`) || !strings.Contains(rc.body[1], `"value":3.2`) || !strings.Contains(rc.body[1], `"time":"2026-01-02T04:04:05Z"`) {
		t.Errorf("resolved = %s", rc.body[1])
	}
}

func TestNtfyAndGotify(t *testing.T) {
	rc := newReceiver()
	srv := httptest.NewServer(rc)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	n := runNotifier(t, &NotifierOptions{Device: "gh", DashboardURL: "http://gh:8080/"})
	n.Enqueue(frostEvent, []string{"ntfy://me:secret@" + host + "/my-greenhouse?scheme=http", "gotify://" + host + "/sub/Atoken?disabletls=yes"})
	rc.wait(t)
	rc.wait(t)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, r := range rc.got {
		switch r.URL.Path {
		case "/my-greenhouse":
			u, p, _ := r.BasicAuth()
			if u != "me" || p != "secret" || r.Header.Get("Title") != "frost firing" || r.Header.Get("Priority") != "high" ||
				r.Header.Get("Click") != "http://gh:8080/" || !strings.HasPrefix(rc.body[i], "frost firing on gh: greenhouse.temperature 1.5 °C") {
				t.Errorf("ntfy: %v %q", r.Header, rc.body[i])
			}
		case "/sub/message":
			var m map[string]any
			json.Unmarshal([]byte(rc.body[i]), &m)
			if r.Header.Get("X-Gotify-Key") != "Atoken" || m["title"] != "frost firing" || m["priority"] != 5.0 {
				t.Errorf("gotify: %v %q", r.Header, rc.body[i])
			}
		default:
			t.Errorf("unexpected request to %s", r.URL)
		}
	}
}

// A receiver that is down for a while and comes back gets each message
// once, in order, and a restart in between loses nothing.
func TestReceiverDownThenBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections refused
	dir := t.TempDir()
	o := &NotifierOptions{StateDir: dir, RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond}
	n := NewNotifier(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	resolved := frostEvent
	resolved.Firing = false
	n.Enqueue(frostEvent, []string{"http://" + addr + "/hook"})
	n.Enqueue(resolved, []string{"http://" + addr + "/hook"})
	for i := 0; n.Stats().Failed < 5; i++ {
		if i > 3000 {
			t.Fatal("no failed attempts")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if st := n.Stats(); st.Sent != 0 || st.Queued != 2 {
		t.Fatalf("stats while down: %+v", st)
	}
	fi, err := os.Lstat(filepath.Join(dir, QueueFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("queue file: %v %v", fi, err)
	}

	// The receiver comes back; so does sensorcast, with the queue on disk.
	rc := newReceiver()
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rc}}
	srv.Start()
	defer srv.Close()
	n2 := runNotifier(t, o)
	rc.wait(t)
	rc.wait(t)
	for i := 0; n2.Stats().Queued > 0; i++ {
		if i > 3000 {
			t.Fatal("queue not emptied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-rc.ch:
		t.Fatal("a message delivered twice")
	case <-time.After(100 * time.Millisecond):
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.body) != 2 || !strings.Contains(rc.body[0], `"firing"`) || !strings.Contains(rc.body[1], `"resolved"`) {
		t.Errorf("received %q", rc.body)
	}
}

func TestRefusedForGoodIsDropped(t *testing.T) {
	rc := newReceiver()
	rc.code = http.StatusNotFound
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := runNotifier(t, &NotifierOptions{RetryMin: time.Millisecond})
	n.Enqueue(frostEvent, []string{srv.URL})
	rc.wait(t)
	for i := 0; n.Stats().Dropped == 0; i++ {
		if i > 3000 {
			t.Fatal("not dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := n.Stats(); st.Queued != 0 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestQueueBounded(t *testing.T) {
	n := NewNotifier(&NotifierOptions{MaxQueue: 3, StateDir: t.TempDir()})
	for i := range 5 {
		ev := frostEvent
		ev.Milli = int64(i)
		n.Enqueue(ev, []string{"http://127.0.0.1:1/x"})
	}
	st := n.Stats()
	if st.Queued != 3 || st.Dropped != 2 || n.queue[0].Event.Milli != 2 {
		t.Errorf("stats %+v, first %+v", st, n.queue[0].Event)
	}
	// A restart with a smaller bound keeps the newest.
	n2 := NewNotifier(&NotifierOptions{MaxQueue: 2, StateDir: n.o.StateDir})
	if st := n2.Stats(); st.Queued != 2 || n2.queue[0].Event.Milli != 3 {
		t.Errorf("after restart %+v", st)
	}
}

func TestQueueFileRefusedIfOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, QueueFile), []byte(`[{"id":1,"url":"http://127.0.0.1:1/","event":{"rule":"x"}}]`), 0o644)
	if st := NewNotifier(&NotifierOptions{StateDir: dir}).Stats(); st.Queued != 0 {
		t.Errorf("a queue file readable by others was used: %+v", st)
	}
	os.Chmod(filepath.Join(dir, QueueFile), 0o600)
	if st := NewNotifier(&NotifierOptions{StateDir: dir}).Stats(); st.Queued != 1 {
		t.Errorf("a good queue file not used: %+v", st)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ntfy://me:secret@host/topic?scheme=http": "ntfy://me@host/topic",
		"gotify://host/sub/Atoken":                "gotify://host/sub/REDACTED",
		"https://host/hook?key=s3cret":            "https://host/hook",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
