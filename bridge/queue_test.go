package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func rec(i int) []byte {
	return appendRecord(nil, []message{{fmt.Sprintf("t/%d", i), []byte(fmt.Sprintf("payload %d", i))}})
}

func bodies(q *queue) []string {
	var out []string
	for _, b := range q.peek(1 << 30) {
		m, err := parseRecord(b)
		if err != nil {
			panic(err)
		}
		out = append(out, m[0].topic)
	}
	return out
}

func TestQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		q.push(rec(i))
	}
	q.ack(q.peek(3))
	// No close: as if the process was killed.
	q2, err := openQueue(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.close()
	got := fmt.Sprint(bodies(q2))
	if want := "[t/3 t/4 t/5 t/6 t/7 t/8 t/9]"; got != want {
		t.Fatalf("after reopen: %s, want %s", got, want)
	}
	q.close()
}

func TestQueueDropsOldestWhenFull(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		q.push(rec(i))
	}
	if n, dropped := q.stats(); n != 3 || dropped != 2 {
		t.Fatalf("stats = %d queued, %d dropped; want 3, 2", n, dropped)
	}
	if got := fmt.Sprint(bodies(q)); got != "[t/2 t/3 t/4]" {
		t.Fatalf("queue = %s", got)
	}
	q.close()
	// A smaller bound on restart drops the oldest of what was kept.
	q, err = openQueue(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != "[t/3 t/4]" {
		t.Fatalf("reopened with max 2: %s", got)
	}
	if _, dropped := q.stats(); dropped != 1 {
		t.Fatalf("dropped on reopen = %d, want 1", dropped)
	}
}

func TestQueueAckAfterDrop(t *testing.T) {
	q, _ := openQueue("", 2)
	q.push(rec(0))
	q.push(rec(1))
	batch := q.peek(2)
	q.push(rec(2)) // drops 0 while 0 and 1 are in flight
	q.ack(batch)   // 0 is gone already; only 1 is removed
	if got := fmt.Sprint(bodies(q)); got != "[t/2]" {
		t.Fatalf("queue = %s, want [t/2]", got)
	}
}

func TestQueueEmptiesFileAndCompacts(t *testing.T) {
	dir := t.TempDir()
	q, err := openQueue(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	for i := range 10 {
		q.push(rec(i))
	}
	q.ack(q.peek(10))
	if fi, _ := os.Stat(filepath.Join(dir, queueFile)); fi.Size() != 0 {
		t.Fatalf("empty queue's file has %d bytes", fi.Size())
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	for range 100 { // 6.4 MB
		q.push(appendRecord(nil, []message{{"big", big}}))
	}
	q.push(rec(7))
	q.ack(q.peek(100))
	fi, _ := os.Stat(filepath.Join(dir, queueFile))
	if fi.Size() > 1<<10 {
		t.Fatalf("file not compacted: %d bytes for one small record", fi.Size())
	}
	q2, err := openQueue(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.close()
	if got := fmt.Sprint(bodies(q2)); got != "[t/7]" {
		t.Fatalf("after compaction and reopen: %s", got)
	}
}

func TestQueueCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	q, _ := openQueue(dir, 100)
	q.push(rec(0))
	q.push(rec(1))
	q.close()
	path := filepath.Join(dir, queueFile)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-3], 0o600) // the last write was cut short
	q, err := openQueue(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(bodies(q)); got != "[t/0]" {
		t.Fatalf("after a torn write: %s", got)
	}
	q.push(rec(2))
	q.close()
	q, _ = openQueue(dir, 100)
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != "[t/0 t/2]" {
		t.Fatalf("appending after the cut: %s", got)
	}
}

func TestQueueBadStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := openQueue(filepath.Join(file, "sub"), 10); err == nil {
		t.Fatal("state directory under a file: no error")
	}
}

func TestParseRecordRejects(t *testing.T) {
	good := appendRecord(nil, []message{{"a/b", []byte("1")}, {"a/c", nil}})
	if m, err := parseRecord(good); err != nil || len(m) != 2 || m[0].topic != "a/b" || string(m[0].payload) != "1" || m[1].topic != "a/c" {
		t.Fatalf("parseRecord(good) = %v, %v", m, err)
	}
	for _, bad := range [][]byte{nil, {0x80}, {5}, {1, 3, 'a'}, append(good, 0), good[:len(good)-1]} {
		if _, err := parseRecord(bad); err == nil {
			t.Errorf("parseRecord(%q): no error", bad)
		}
	}
}

// FuzzParseRecords feeds arbitrary queue files to the loader: it must
// never panic, and what it keeps must re-encode to the valid prefix.
func FuzzParseRecords(f *testing.F) {
	q, _ := openQueue(f.TempDir(), 10)
	q.push(rec(1))
	q.push(rec(2))
	data, _ := os.ReadFile(filepath.Join(q.f.Name()))
	q.close()
	f.Add(data)
	f.Add(data[:len(data)-1])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, sizes, valid := parseRecords(data)
		if valid > len(data) || len(recs) != len(sizes) {
			t.Fatalf("valid %d of %d, %d recs, %d sizes", valid, len(data), len(recs), len(sizes))
		}
		var sum int64
		for i, r := range recs {
			sum += sizes[i]
			parseRecord(r) // must not panic
		}
		if sum != int64(valid) {
			t.Fatalf("sizes sum to %d, valid %d", sum, valid)
		}
		parseHead(data, int64(len(data)))
	})
}

// FuzzParseRecord checks that parseRecord never panics and round-trips
// what it accepts.
func FuzzParseRecord(f *testing.F) {
	f.Add(appendRecord(nil, []message{{"sensorcast/pi/sim", []byte(`{"type":"reading"}`)}}))
	f.Add(appendRecord(nil, nil))
	f.Add([]byte{2, 1, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := parseRecord(b)
		if err != nil {
			return
		}
		if again := appendRecord(nil, msgs); !bytes.Equal(again, b) {
			// Non-minimal varints are accepted; the messages must match.
			m2, err := parseRecord(again)
			if err != nil || len(m2) != len(msgs) {
				t.Fatalf("re-encoding of %q does not parse: %v", b, err)
			}
		}
	})
}
