package bridge

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func numbered(i int) *reading.Reading {
	var r reading.Reading
	r.Reset("pi", "sim", time.Unix(int64(i), 0))
	r.Add("n", reading.None, int64(i)*1000)
	return &r
}

// TestPublishReadingNeverWaitsForDisk: with the queue's disk write stuck,
// 1000 PublishReading calls (made under the hub's lock in sensorcast)
// still complete; the queue keeps the newest, counts and logs the dropped,
// and everything kept reaches the disk once it moves again.
func TestPublishReadingNeverWaitsForDisk(t *testing.T) {
	dir := t.TempDir()
	fs := &fakeFS{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	logs := &syncBuf{}
	no := false
	m, err := build(&Options{
		Config:   Config{Broker: "tcp://127.0.0.1:1", Queue: 100, SyncInterval: 10 * time.Millisecond, Values: &no},
		Device:   "pi",
		StateDir: dir,
		Logger:   logs.logger(),
	}, fs)
	if err != nil {
		t.Fatal(err)
	}
	m.start()
	defer m.Close()
	var once sync.Once
	release := func() { once.Do(func() { close(fs.block) }) }
	defer release()

	m.PublishReading(numbered(0))
	select {
	case <-fs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the queue was not written to disk within 10s")
	}
	// The bridge's disk goroutine is now stuck in a write.
	done := make(chan time.Duration)
	go func() {
		var worst time.Duration
		for i := 1; i <= 1000; i++ {
			t0 := time.Now()
			m.PublishReading(numbered(i))
			worst = max(worst, time.Since(t0))
		}
		done <- worst
	}()
	select {
	case worst := <-done:
		t.Logf("1000 PublishReading calls while the disk is stuck; the slowest took %v", worst)
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("PublishReading waits for the disk")
	}
	if st := m.Stats(); st.Queued != 100 || st.Dropped != 901 {
		t.Errorf("stats = %+v, want 100 queued (the newest), 901 dropped", st)
	}
	release()
	for range 400 {
		if strings.Contains(logs.String(), "queue full") {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "queue full; the oldest readings were dropped") || !strings.Contains(logs.String(), "dropped_total=901") {
		t.Errorf("the dropped readings are not logged:\n%s", logs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	recs, lost := inspect(t, dir)
	if len(recs) != 100 || lost != 0 || recs[0] != "sensorcast/pi/sim" {
		t.Fatalf("on disk: %d records, %d lost: %v", len(recs), lost, recs)
	}
	q := mustOpen(t, dir, 1000)
	defer q.close()
	for i, b := range q.peek(1000) {
		msgs, _ := parseRecord(b)
		if want := fmt.Sprintf(`"n":{"v":%d,`, 901+i); !strings.Contains(string(msgs[0].payload), want) {
			t.Fatalf("record %d is %s, want reading %d", i, msgs[0].payload, 901+i)
		}
	}
}

// TestPublishReadingAllocs: PublishReading allocates only the queue's
// copy of the record.
func TestPublishReadingAllocs(t *testing.T) {
	m, err := build(&Options{Config: Config{Broker: "tcp://127.0.0.1:1"}, Device: "pi"}, osFS{})
	if err != nil {
		t.Fatal(err)
	}
	r := numbered(1)
	r.Add("temperature", reading.Celsius, 21375)
	if n := testing.AllocsPerRun(1000, func() { m.PublishReading(r) }); n > 1 {
		t.Errorf("PublishReading: %v allocations, want at most 1", n)
	}
}

// TestAppendReading: the record PublishReading queues is the one the
// messages make, with topics made safe.
func TestAppendReading(t *testing.T) {
	var r reading.Reading
	r.Reset("pi", "a/b c#ä", time.Unix(1, 0))
	r.Add("x+y", reading.Celsius, 21375)
	r.Add("h\xffi", reading.Percent, -5)
	for _, tc := range []struct{ json, values bool }{{true, true}, {true, false}, {false, true}} {
		m, err := build(&Options{Config: Config{Broker: "tcp://127.0.0.1:1", JSON: &tc.json, Values: &tc.values}, Device: "my pi"}, osFS{})
		if err != nil {
			t.Fatal(err)
		}
		base := "sensorcast/my_pi/" + topicSafe(r.Sensor)
		var msgs []message
		if tc.json {
			msgs = append(msgs, message{base, r.AppendJSON(nil)})
		}
		if tc.values {
			for _, v := range r.Values() {
				msgs = append(msgs, message{base + "/" + topicSafe(v.Name), reading.AppendMilli(nil, v.Milli)})
			}
		}
		if got, want := m.appendReading(nil, &r), appendRecord(nil, msgs); string(got) != string(want) {
			t.Errorf("json %v values %v:\n got %q\nwant %q", tc.json, tc.values, got, want)
		}
	}
}
