package bridge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func rec(i int) []byte {
	return appendRecord(nil, []message{{fmt.Sprintf("t/%d", i), []byte(fmt.Sprintf("payload %d", i))}})
}

func topicOf(b []byte) string {
	m, err := parseRecord(b)
	if err != nil {
		panic(err)
	}
	return m[0].topic
}

func bodies(q *queue) []string {
	var out []string
	for _, b := range q.peek(1 << 30) {
		out = append(out, topicOf(b))
	}
	return out
}

// topics returns "t/from … t/to-1" as bodies would.
func topics(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("t/%d", i))
	}
	return out
}

// inspect reads dir's queue the way a restart would, without opening (and
// so without repairing) it.
func inspect(t *testing.T, dir string) (recs []string, lost uint64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, queueFile))
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := os.ReadFile(filepath.Join(dir, headFile))
	l := parseFrames(data, parseHead(hb))
	for _, r := range l.recs {
		recs = append(recs, topicOf(r.body))
	}
	return recs, l.lost
}

// syncBuf is a log destination safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *syncBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// fakeFS is the real file system with counters and faults.
type fakeFS struct {
	osFS
	mu                       sync.Mutex
	writes, syncs, truncates int
	full                     bool          // writes to the queue file fail with ENOSPC after half
	block                    chan struct{} // non-nil: writes wait until it is closed
	entered                  chan struct{} // told (if it has room) when a write waits
}

func (fs *fakeFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := fs.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fakeFile{f, fs, name}, nil
}

func (fs *fakeFS) counts() (writes, syncs, truncates int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.writes, fs.syncs, fs.truncates
}

func (fs *fakeFS) setFull(full bool) {
	fs.mu.Lock()
	fs.full = full
	fs.mu.Unlock()
}

type fakeFile struct {
	file
	fs   *fakeFS
	name string
}

func (f *fakeFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	f.fs.writes++
	full, block := f.fs.full && !strings.HasSuffix(f.name, ".head"), f.fs.block
	f.fs.mu.Unlock()
	if block != nil {
		select {
		case f.fs.entered <- struct{}{}:
		default:
		}
		<-block
	}
	if full {
		n, _ := f.file.WriteAt(p[:len(p)/2], off)
		return n, &fs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.file.WriteAt(p, off)
}

func (f *fakeFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.syncs++
	f.fs.mu.Unlock()
	return f.file.Sync()
}

func (f *fakeFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	f.fs.truncates++
	f.fs.mu.Unlock()
	return f.file.Truncate(size)
}

func mustOpen(t testing.TB, dir string, limit int) *queue {
	t.Helper()
	q, err := openQueue(dir, limit, osFS{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 100)
	for i := range 10 {
		q.push(rec(i))
	}
	q.flush()
	q.ack(q.peek(3))
	q.flush()
	// No close: as if the process was killed.
	q2 := mustOpen(t, dir, 100)
	defer q2.close()
	if got, want := fmt.Sprint(bodies(q2)), fmt.Sprint(topics(3, 10)); got != want {
		t.Fatalf("after reopen: %s, want %s", got, want)
	}
	q.close()
}

func TestQueueDropsOldestWhenFull(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 3)
	for i := range 5 {
		q.push(rec(i))
	}
	if n, dropped, _ := q.stats(); n != 3 || dropped != 2 {
		t.Fatalf("stats = %d queued, %d dropped; want 3, 2", n, dropped)
	}
	if got := fmt.Sprint(bodies(q)); got != "[t/2 t/3 t/4]" {
		t.Fatalf("queue = %s", got)
	}
	q.close()
	// A smaller bound on restart drops the oldest of what was kept.
	q = mustOpen(t, dir, 2)
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != "[t/3 t/4]" {
		t.Fatalf("reopened with max 2: %s", got)
	}
	if _, dropped, _ := q.stats(); dropped != 1 {
		t.Fatalf("dropped on reopen = %d, want 1", dropped)
	}
}

func TestQueueAckAfterDrop(t *testing.T) {
	q := mustOpen(t, "", 2)
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
	q := mustOpen(t, dir, 1<<20)
	defer q.close()
	for i := range 10 {
		q.push(rec(i))
	}
	q.flush()
	q.ack(q.peek(10))
	q.flush()
	if fi, _ := os.Stat(filepath.Join(dir, queueFile)); fi.Size() != 0 {
		t.Fatalf("empty queue's file has %d bytes", fi.Size())
	}
	big := bytes.Repeat([]byte("x"), 64<<10)
	for range 100 { // 6.4 MB
		q.push(appendRecord(nil, []message{{"big", big}}))
	}
	q.flush()
	q.push(rec(7))
	q.ack(q.peek(100))
	q.flush()
	fi, _ := os.Stat(filepath.Join(dir, queueFile))
	if fi.Size() > 1<<10 {
		t.Fatalf("file not compacted: %d bytes for one small record", fi.Size())
	}
	q2 := mustOpen(t, dir, 10)
	defer q2.close()
	if got := fmt.Sprint(bodies(q2)); got != "[t/7]" {
		t.Fatalf("after compaction and reopen: %s", got)
	}
}

// TestQueueDamagedFile: a torn tail and flipped bytes lose only the
// records they hit; each lost record is counted and logged, once.
func TestQueueDamagedFile(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 100)
	for batch := range 3 { // three syncs of ten records: frames 1-10, 11-20, 21-30
		for i := range 10 {
			q.push(rec(batch*10 + i))
		}
		q.flush()
	}
	offs := make([]int64, 0, 30)
	q.mu.Lock()
	for _, r := range q.recs {
		offs = append(offs, r.off)
	}
	q.mu.Unlock()
	q.close()

	path := filepath.Join(dir, queueFile)
	data, _ := os.ReadFile(path)
	data[offs[0]+frameHeader+2] ^= 0xff  // record 0's body: the first frame
	data[offs[4]+frameHeader+3] ^= 0x01  // record 4's body
	data[offs[14]] ^= 0x40               // record 14's length
	data = data[:offs[24]+frameHeader/2] // cut inside record 24, in the last sync's write
	os.WriteFile(path, data, 0o600)

	var want []string
	for i := range 24 {
		if i != 0 && i != 4 && i != 14 {
			want = append(want, fmt.Sprintf("t/%d", i))
		}
	}
	const wantLost = 3 + 6 // 0, 4, 14, and 24 to 29 (the rest of the last write)

	logs := &syncBuf{}
	q, err := openQueue(dir, 100, osFS{}, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(bodies(q)); got != fmt.Sprint(want) {
		t.Errorf("after damage:\n got %s\nwant %s", got, want)
	}
	if _, _, lost := q.stats(); lost != wantLost {
		t.Errorf("lost = %d, want %d", lost, wantLost)
	}
	if !strings.Contains(logs.String(), "queue file was damaged") || !strings.Contains(logs.String(), fmt.Sprintf("lost=%d", wantLost)) {
		t.Errorf("no clear log line for the damage:\n%s", logs)
	}
	q.push(rec(30))
	q.close() // rewrites the damaged file

	logs = &syncBuf{}
	q, _ = openQueue(dir, 100, osFS{}, logs.logger())
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != fmt.Sprint(append(want, "t/30")) {
		t.Errorf("after the repair: %s", got)
	}
	if _, _, lost := q.stats(); lost != 0 || logs.String() != "" {
		t.Errorf("damage reported again after the repair: lost %d, log %s", lost, logs)
	}
}

// TestQueueDiskFull: with the disk full the queue goes on in memory, logs
// once, keeps acknowledged records from coming back, and writes
// everything pending once space returns.
func TestQueueDiskFull(t *testing.T) {
	dir := t.TempDir()
	fs := &fakeFS{}
	logs := &syncBuf{}
	q, err := openQueue(dir, 100, fs, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		q.push(rec(i))
	}
	q.flush()
	q.ack(q.peek(2))

	fs.setFull(true)
	for i := 5; i < 10; i++ {
		q.push(rec(i))
	}
	for range 3 {
		q.flush()
	}
	if n := strings.Count(logs.String(), "cannot write the queue to disk"); n != 1 {
		t.Errorf("%d disk-full log lines for one outage, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
	if got := fmt.Sprint(bodies(q)); got != fmt.Sprint(topics(2, 10)) {
		t.Errorf("in memory during the outage: %s", got)
	}
	// A restart now: the acknowledged 0 and 1 do not come back; 2-4 do;
	// of the half-written 5-9, what is whole comes back and the rest is
	// counted.
	recs, lost := inspect(t, dir)
	if len(recs) < 3 || fmt.Sprint(recs[:3]) != fmt.Sprint(topics(2, 5)) ||
		fmt.Sprint(recs[3:]) != fmt.Sprint(topics(5, 5+len(recs)-3)) || len(recs)-3+int(lost) != 5 {
		t.Errorf("restart during the outage: %v, %d lost", recs, lost)
	}

	q.ack(q.peek(1)) // 2
	q.push(rec(10))
	fs.setFull(false)
	q.flush()
	if !strings.Contains(logs.String(), "back on disk") {
		t.Errorf("no log line when the disk works again:\n%s", logs)
	}
	if recs, lost := inspect(t, dir); fmt.Sprint(recs) != fmt.Sprint(topics(3, 11)) || lost != 0 {
		t.Errorf("on disk after the outage: %v, %d lost; want %v", recs, lost, topics(3, 11))
	}
	q.close()
	q = mustOpen(t, dir, 100)
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != fmt.Sprint(topics(3, 11)) {
		t.Errorf("after a restart: %s", got)
	}
}

// TestQueueWritesPerMinute counts the queue's write(2), fsync and
// truncate calls at one reading a second with the default sync interval,
// under fake time. The figures are in the package doc.
func TestQueueWritesPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		fs := &fakeFS{}
		q, err := openQueue(dir, DefaultQueue, fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			q.run(DefaultSyncInterval, stop)
			close(done)
		}()
		time.Sleep(DefaultSyncInterval / 2) // readings between syncs

		// The broker is unreachable: every reading goes to disk, written
		// at once (so kill -9 loses none), fsynced at the next sync.
		q.eager.Store(true)
		for i := range 60 {
			q.push(rec(i))
			time.Sleep(time.Second)
		}
		w, s, tr := fs.counts()
		t.Logf("1 Hz, broker unreachable: %d writes, %d fsyncs, %d truncates a minute", w, s, tr)
		if w != 60 || s != 60 || tr != 0 {
			t.Errorf("broker unreachable: %d writes, %d fsyncs, %d truncates a minute; want 60, 60, 0", w, s, tr)
		}

		// It is back and takes everything: one truncate and its fsync.
		q.ack(q.peek(60))
		time.Sleep(time.Second)
		w2, s2, tr2 := fs.counts()
		if w2-w != 0 || s2-s != 1 || tr2-tr != 1 {
			t.Errorf("queue emptied: %d writes, %d fsyncs, %d truncates; want 0, 1, 1", w2-w, s2-s, tr2-tr)
		}

		// Connected: readings are acknowledged before the next sync and
		// never written.
		q.eager.Store(false)
		for i := range 60 {
			q.push(rec(i))
			time.Sleep(10 * time.Millisecond)
			q.ack(q.peek(1))
			time.Sleep(990 * time.Millisecond)
		}
		w3, s3, tr3 := fs.counts()
		t.Logf("1 Hz, connected: %d writes, %d fsyncs, %d truncates a minute", w3-w2, s3-s2, tr3-tr2)
		if w3 != w2 || s3 != s2 || tr3 != tr2 {
			t.Errorf("connected: %d writes, %d fsyncs, %d truncates a minute; want none", w3-w2, s3-s2, tr3-tr2)
		}
		close(stop)
		<-done
		q.close()
	})
}

const killDirEnv = "SENSORCAST_BRIDGE_QUEUE_KILL_DIR"

// TestQueueKillHelper is the process TestQueueKill9 kills: it pushes a
// record at 50 Hz, syncs every 100 ms and prints what it did.
func TestQueueKillHelper(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("the helper process of TestQueueKill9")
	}
	q, err := openQueue(dir, DefaultQueue, osFS{}, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	q.onSync = func(last []byte) { fmt.Println("synced", strings.TrimPrefix(topicOf(last), "t/")) }
	go q.run(100*time.Millisecond, nil)
	tick := time.NewTicker(20 * time.Millisecond)
	for i := 0; ; i++ {
		<-tick.C
		q.push(rec(i))
		fmt.Println("pushed", i)
		if i == 25 {
			q.ack(q.peek(5))
			fmt.Println("acked 5")
		}
	}
}

// TestQueueKill9 kills a process writing to the queue at 50 Hz: on restart
// everything up to its last sync is there, in order, none twice, and the
// records acknowledged before that sync do not come back.
func TestQueueKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestQueueKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lastSynced, lastPushed, syncsAfterAck := -1, -1, -1
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		verb, arg, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(arg)
		switch verb {
		case "synced":
			lastSynced = max(lastSynced, n)
			if syncsAfterAck >= 0 {
				syncsAfterAck++
			}
		case "pushed":
			lastPushed = n
			if n == 40 { // in the middle of writing
				cmd.Process.Signal(syscall.SIGKILL)
			}
		case "acked":
			syncsAfterAck = 0
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if lastSynced < 0 {
		t.Fatalf("the helper never synced:\n%s", strings.Join(lines, "\n"))
	}

	recs, lost := inspect(t, dir)
	if len(recs) == 0 {
		t.Fatalf("nothing kept; last sync was record %d", lastSynced)
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(recs[0], "t/"))
	if start != 0 && start != 5 || syncsAfterAck >= 2 && start != 5 {
		t.Errorf("first record t/%d; acknowledged 0-4 (two syncs after the ack: %v)", start, syncsAfterAck >= 2)
	}
	end := start + len(recs)
	if fmt.Sprint(recs) != fmt.Sprint(topics(start, end)) {
		t.Errorf("records not in order or repeated: %v", recs)
	}
	// The helper prints after each push: at most one more was pushed.
	if end-1 < lastSynced || end-1 > lastPushed+1 {
		t.Errorf("kept up to t/%d; last sync t/%d, last push t/%d", end-1, lastSynced, lastPushed)
	}
	t.Logf("killed after push %d; last sync %d; kept t/%d…t/%d, %d counted lost", lastPushed, lastSynced, start, end-1, lost)

	q := mustOpen(t, dir, DefaultQueue)
	defer q.close()
	if got := fmt.Sprint(bodies(q)); got != fmt.Sprint(recs) {
		t.Errorf("openQueue after the kill: %s, want %v", got, recs)
	}
}

func TestQueueBadStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := openQueue(filepath.Join(file, "sub"), 10, osFS{}, nil); err == nil {
		t.Fatal("state directory under a file: no error")
	}
}

func TestQueueCloseReportsDiskError(t *testing.T) {
	fs := &fakeFS{}
	logs := &syncBuf{}
	q, err := openQueue(t.TempDir(), 10, fs, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	fs.setFull(true)
	q.push(rec(1))
	if err := q.close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("close with the disk full = %v, want ENOSPC", err)
	}
	if !strings.Contains(logs.String(), "lost=1") {
		t.Errorf("the readings lost at close are not logged:\n%s", logs)
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

// FuzzParseFrames feeds arbitrary queue files to the loader: it must
// never panic, and the records it keeps must lie inside the data, in
// order.
func FuzzParseFrames(f *testing.F) {
	dir := f.TempDir()
	q, _ := openQueue(dir, 10, osFS{}, nil)
	q.push(rec(1))
	q.flush()
	q.push(rec(2))
	q.push(rec(3))
	q.close()
	data, _ := os.ReadFile(filepath.Join(dir, queueFile))
	f.Add(data, uint64(0))
	f.Add(data[:len(data)-1], uint64(2))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, head uint64) {
		l := parseFrames(data, head)
		var prev uint64
		var end int64
		for _, r := range l.recs {
			if r.frame <= prev || r.frame < head || r.off < end || r.off+frameHeader+int64(len(r.body)) > int64(len(data)) {
				t.Fatalf("bad record %+v after frame %d, offset %d", r, prev, end)
			}
			prev, end = r.frame, r.off+frameHeader+int64(len(r.body))
			parseRecord(r.body) // must not panic
		}
		if len(l.recs) > 0 && l.next <= prev {
			t.Fatalf("next %d not after frame %d", l.next, prev)
		}
		parseHead(data)
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

// TestQueueEagerWrite: while the broker is unreachable each record is
// written at once, so a killed process loses none of them; the fsync
// still waits for the sync.
func TestQueueEagerWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		fs := &fakeFS{}
		q, err := openQueue(dir, 100, fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		q.eager.Store(true)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			q.run(time.Hour, stop)
			close(done)
		}()
		for i := range 3 {
			q.push(rec(i))
			synctest.Wait()
		}
		if recs, _ := inspect(t, dir); fmt.Sprint(recs) != fmt.Sprint(topics(0, 3)) {
			t.Errorf("written at once: %v", recs)
		}
		if w, s, _ := fs.counts(); w != 3 || s != 0 {
			t.Errorf("%d writes, %d fsyncs before the sync; want 3, 0", w, s)
		}
		close(stop)
		<-done
		q.close()
		if _, s, _ := fs.counts(); s != 1 {
			t.Errorf("%d fsyncs at close, want 1", s)
		}
	})
}
