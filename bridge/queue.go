package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// queue holds the readings not yet acknowledged by the broker, oldest
// first, at most max of them. Pushing, peeking and acknowledging only touch
// memory and never wait for the disk. With a directory, flush (called by
// one goroutine, every sync interval) mirrors the queue on disk, so a
// restart or a power cut loses only what was pushed since the last flush:
//
//	mqtt-queue       frames, appended: [len u32][crc32 u32][frame u64][base u64][last u64][body]
//	mqtt-queue.head  [frame u64][crc32 of frame]: every frame below it is done
//
// Frames are numbered densely: every record written gets the next number;
// base is the first number in the file and last the last number of the
// write(2) the frame came in. The crc covers everything after itself. On
// load, damaged or missing frames are found from the numbers, counted as
// lost and logged; the good frames around them are kept.
//
// A flush appends the records pushed since the last one in one write(2)
// and then fsyncs the file; records acknowledged before that are never
// written. When every record in the file is done the file is truncated;
// when the done part at the start grows large, or after a disk error or
// damage, the pending records are rewritten into a new file, which is
// fsynced and renamed over the old one. The head is written (and fsynced)
// only when records in the file were acknowledged.
//
// A disk error (e.g. ENOSPC) is logged once; the queue then keeps going in
// memory, retries at every flush, and logs again once it is back on disk.
type queue struct {
	mu      sync.Mutex
	max     int
	recs    []qrec // pending, oldest first; those on disk are a prefix
	dropped uint64 // dropped because the queue was full
	lost    uint64 // found damaged or missing in the file on load

	// Disk state. fs, dir, f, hf and wbuf belong to the flusher; the rest
	// is guarded by mu.
	fs       fsys
	dir      string
	f, hf    file // nil: memory only
	wbuf     []byte
	log      *slog.Logger
	end      int64  // size of the file's valid contents
	base     uint64 // first frame number in the file
	next     uint64 // next frame number
	diskHead uint64 // the head file's frame number
	rewrite  bool   // the file must be rewritten (damage or a disk error)
	diskErr  error  // the disk error being reported; nil when on disk

	// eager makes run write each pushed record at once (write(2), no
	// fsync), so that a killed process loses nothing; the bridge sets it
	// while the broker is unreachable. Otherwise records wait for the
	// sync, and those acknowledged by then are never written.
	eager    atomic.Bool
	wake     chan struct{} // run's signal that a record was pushed
	unsynced bool          // written since the last fsync (flusher only)
	lastBody []byte        // the last record written (flusher only)

	// onSync, when set (tests), is called by flush after a successful
	// fsync with the last record written.
	onSync func(last []byte)
}

// qrec is a pending record.
type qrec struct {
	body  []byte
	frame uint64 // its number on disk; 0 while not written
	off   int64  // its frame's offset in the file
}

const (
	queueFile   = "mqtt-queue"
	headFile    = "mqtt-queue.head"
	frameHeader = 32
	maxRecord   = 1 << 20
	compactAt   = 4 << 20
	// maxFrameJump bounds the numbering gap the loader accepts between two
	// good frames, so that garbage is not taken for a frame.
	maxFrameJump = 1 << 32
)

// openQueue opens (or creates) the queue in dir, or a memory-only queue
// when dir is "". Records beyond limit are dropped, oldest first. Damaged
// or missing records are counted (stats) and logged.
func openQueue(dir string, limit int, fs fsys, log *slog.Logger) (*queue, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &queue{max: limit, fs: fs, dir: dir, log: log, next: 1, wake: make(chan struct{}, 1)}
	if dir == "" {
		return q, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mqtt: state directory: %w", err)
	}
	f, err := fs.OpenFile(filepath.Join(dir, queueFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mqtt: open queue: %w", err)
	}
	hf, err := fs.OpenFile(filepath.Join(dir, headFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mqtt: open queue: %w", err)
	}
	q.f, q.hf = f, hf
	data, err := io.ReadAll(f)
	if err != nil {
		q.close()
		return nil, fmt.Errorf("mqtt: load queue: %w", err)
	}
	var hb [12]byte
	n, _ := hf.ReadAt(hb[:], 0)
	head := parseHead(hb[:n])
	l := parseFrames(data, head)
	q.recs, q.lost, q.base, q.diskHead = l.recs, l.lost, l.base, head
	q.end = int64(len(data))
	q.next = max(l.next, head, 1)
	q.rewrite = l.damaged
	if l.damaged {
		log.Error("mqtt: the queue file was damaged (power cut or bad storage); the readings in the damaged part are lost",
			"lost", l.lost, "kept", len(l.recs), "file", filepath.Join(dir, queueFile))
	}
	for len(q.recs) > q.max {
		q.dropOldest()
	}
	return q, nil
}

// parseHead returns the frame number stored in a head file, or 0 when it
// is missing or damaged (then every frame in the file is pending).
func parseHead(b []byte) uint64 {
	if len(b) != 12 || crc32.ChecksumIEEE(b[:8]) != binary.LittleEndian.Uint32(b[8:]) {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// frameHdr is a frame's header.
type frameHdr struct {
	n                 uint32 // body length
	frame, base, last uint64
}

// frameAt parses the frame at the start of b, which must be numbered
// after prev (0: any). It returns the header, the body and ok.
func frameAt(b []byte, prev uint64) (h frameHdr, body []byte, ok bool) {
	if len(b) < frameHeader {
		return h, nil, false
	}
	h = frameHdr{
		n:     binary.LittleEndian.Uint32(b),
		frame: binary.LittleEndian.Uint64(b[8:]),
		base:  binary.LittleEndian.Uint64(b[16:]),
		last:  binary.LittleEndian.Uint64(b[24:]),
	}
	if h.n == 0 || h.n > maxRecord || uint64(len(b)-frameHeader) < uint64(h.n) ||
		h.frame == 0 || h.base > h.frame || h.last < h.frame || h.last-h.frame > maxFrameJump ||
		h.frame <= prev || prev != 0 && h.frame-prev > maxFrameJump {
		return h, nil, false
	}
	end := frameHeader + int(h.n)
	if crc32.ChecksumIEEE(b[8:end]) != binary.LittleEndian.Uint32(b[4:]) {
		return h, nil, false
	}
	return h, b[frameHeader:end], true
}

// appendFrame appends body as frame number frame.
func appendFrame(dst, body []byte, frame, base, last uint64) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(body)))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, frame)
	dst = binary.LittleEndian.AppendUint64(dst, base)
	dst = binary.LittleEndian.AppendUint64(dst, last)
	dst = append(dst, body...)
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.ChecksumIEEE(dst[start+8:]))
	return dst
}

// loaded is what parseFrames found in a queue file.
type loaded struct {
	recs    []qrec // the good frames at or after the head, in order
	lost    uint64 // frames at or after the head that are damaged or missing
	base    uint64 // the file's first frame number
	next    uint64 // the first number after every frame the file knew of
	damaged bool   // the file holds bytes that are not good frames
}

// parseFrames reads a queue file. After damage it looks for the next good
// frame byte by byte; the frame numbers tell how many were lost: those
// between two good frames, those before the first good one (from base or
// the head), and those after the last good one up to the last of its
// write. Bytes after a complete write count as at least one lost record.
func parseFrames(data []byte, head uint64) loaded {
	var l loaded
	var prev, prevLast uint64
	count := func(from, to uint64) { // frames in [from, to) not yet done
		from = max(from, head)
		if to > from {
			l.lost += to - from
		}
	}
	pos, goodEnd := 0, 0
	for pos < len(data) {
		h, body, ok := frameAt(data[pos:], prev)
		if !ok {
			l.damaged = true
			pos++
			continue
		}
		if prev == 0 {
			l.base = h.base
			count(h.base, h.frame)
		} else {
			count(prev+1, h.frame)
		}
		if h.frame >= head {
			l.recs = append(l.recs, qrec{body: body, frame: h.frame, off: int64(pos)})
		}
		prev, prevLast = h.frame, h.last
		pos += frameHeader + len(body)
		goodEnd = pos
	}
	switch {
	case prev != 0 && prevLast > prev:
		count(prev+1, prevLast+1)
	case goodEnd < len(data):
		count(max(prev+1, head), max(prev+1, head)+1)
	}
	l.next = prevLast + 1
	return l
}

// push appends a copy of body, dropping the oldest record when the queue
// is full. It never touches the disk. An empty body is ignored (a record
// always has its message count).
func (q *queue) push(body []byte) {
	if len(body) == 0 {
		return
	}
	b := append(make([]byte, 0, len(body)), body...)
	q.mu.Lock()
	if len(q.recs) >= q.max {
		q.dropOldest()
	}
	q.recs = append(q.recs, qrec{body: b})
	q.mu.Unlock()
	if q.eager.Load() {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// dropOldest removes the oldest record and counts it. q.mu must be held.
func (q *queue) dropOldest() {
	q.dropped++
	q.remove(1)
}

// peek returns up to n of the oldest records. They stay queued.
func (q *queue) peek(n int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.recs))
	out := make([][]byte, n)
	for i := range out {
		out[i] = q.recs[i].body
	}
	return out
}

// ack removes the oldest records: the broker has them. A record dropped
// meanwhile (the queue was full) is not removed twice: ack is given the
// records peek returned.
func (q *queue) ack(done [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, d := range done {
		if n < len(q.recs) && &q.recs[n].body[0] == &d[0] {
			n++
		}
	}
	q.remove(n)
}

// remove forgets the n oldest records; the next flush updates the disk.
// q.mu must be held.
func (q *queue) remove(n int) {
	if n == 0 {
		return
	}
	clear(q.recs[:n])
	q.recs = q.recs[n:]
	if len(q.recs) == 0 {
		q.recs = q.recs[:0:0]
	}
}

// stats returns the number of pending, dropped and lost records.
func (q *queue) stats() (pending int, dropped, lost uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.recs), q.dropped, q.lost
}

// flush brings the disk up to date with memory: it writes the records
// pushed since the last flush, truncates or rewrites the file, fsyncs, and
// writes the head. Only one goroutine may call it (and close). It never
// holds q.mu while it waits for the disk.
func (q *queue) flush() { q.flushOrWrite(true) }

// writeNew appends the records pushed since the last write, without fsync.
func (q *queue) writeNew() { q.flushOrWrite(false) }

func (q *queue) flushOrWrite(sync bool) {
	if q.f == nil {
		return
	}
	q.mu.Lock()
	onDisk := 0 // records on disk form a prefix of q.recs
	for onDisk < len(q.recs) && q.recs[onDisk].frame != 0 {
		onDisk++
	}
	// Every frame below head is done.
	head, done := q.next, q.end
	if onDisk > 0 {
		head, done = q.recs[0].frame, q.recs[0].off
	}
	const (
		appendTo = iota
		truncate
		rewrite
	)
	mode := appendTo
	switch {
	case !sync && (q.rewrite || q.diskErr != nil):
		q.mu.Unlock() // the next sync repairs the file first
		return
	case !sync:
	case q.rewrite:
		mode = rewrite
	case onDisk == 0 && q.end > 0:
		mode = truncate
	case done >= compactAt && done > q.end/2:
		mode = rewrite
	}
	from := onDisk
	if mode == rewrite {
		from = 0
	}
	todo := q.recs[from:]
	if mode == appendTo && len(todo) == 0 && (!sync || head == q.diskHead || done == 0) && !(sync && q.unsynced) {
		q.mu.Unlock()
		return
	}
	first, base, off := q.next, q.base, q.end
	if mode != appendTo || q.end == 0 {
		base, off = first, 0
	}
	last := first + uint64(len(todo)) - 1
	buf := q.wbuf[:0]
	written := make([]qrec, len(todo)) // to mark them afterwards
	for i, r := range todo {
		written[i] = qrec{body: r.body, frame: first + uint64(i), off: off + int64(len(buf))}
		buf = appendFrame(buf, r.body, first+uint64(i), base, last)
	}
	wasErr := q.diskErr
	q.mu.Unlock()

	// The head first: it is true whatever happens to the data, and keeps
	// acknowledged records from being sent again after a restart even
	// while the data cannot be written (a full disk still lets a file be
	// overwritten in place). After a truncation a stale head is harmless.
	var err error
	writeHead := sync && mode != truncate && head != q.diskHead && done > 0
	if writeHead {
		err = q.writeHead(head)
	}
	headOK := writeHead && err == nil
	if err == nil {
		err = q.write(mode == truncate, mode == rewrite, buf, off, sync)
	}
	q.wbuf = buf[:0]
	if len(buf) > 64<<10 {
		q.wbuf = nil // do not keep a big rewrite's buffer
	}

	q.mu.Lock()
	if len(todo) > 0 {
		q.next = last + 1 // even after an error: never reuse a number
	}
	if err != nil {
		if wasErr == nil {
			q.log.Error("mqtt: cannot write the queue to disk; keeping it in memory and retrying every sync",
				"dir", q.dir, "err", err)
		}
		// The records already on disk are still there (a failed append
		// only leaves garbage after them; a failed rewrite leaves the old
		// file): keep their numbers, so the head never passes them.
		q.diskErr, q.rewrite = err, true
		if headOK {
			q.diskHead = head
		}
		q.mu.Unlock()
		return
	}
	// Mark the written records that are still pending: in q.recs they
	// come in the same order, after those already on disk and before
	// those pushed meanwhile.
	j := 0
	for i := range q.recs {
		if mode == appendTo && q.recs[i].frame != 0 {
			continue
		}
		for j < len(written) && &written[j].body[0] != &q.recs[i].body[0] {
			j++
		}
		if j == len(written) {
			break
		}
		q.recs[i].frame, q.recs[i].off = written[j].frame, written[j].off
	}
	if mode != appendTo || len(buf) > 0 {
		q.end = off + int64(len(buf))
		q.base = base
	}
	if headOK {
		q.diskHead = head
	}
	q.rewrite, q.diskErr = false, nil
	if wasErr != nil {
		q.log.Info("mqtt: the queue is back on disk", "queued", len(q.recs))
	}
	q.mu.Unlock()
	if len(written) > 0 {
		q.lastBody = written[len(written)-1].body
	}
	q.unsynced = !sync && (q.unsynced || len(buf) > 0)
	if sync && q.onSync != nil && q.lastBody != nil {
		q.onSync(q.lastBody)
		q.lastBody = nil
	}
}

// write does a flush's file operations: truncate and append, or rewrite;
// with sync, and anything written since the last fsync, an fsync.
func (q *queue) write(truncate, rewrite bool, buf []byte, off int64, sync bool) error {
	if rewrite {
		return q.rewriteFile(buf)
	}
	if !truncate && len(buf) == 0 && !(sync && q.unsynced) {
		return nil
	}
	if truncate {
		if err := q.f.Truncate(0); err != nil {
			return err
		}
	}
	if len(buf) > 0 {
		if _, err := q.f.WriteAt(buf, off); err != nil {
			return err
		}
	}
	if !sync {
		return nil
	}
	return q.f.Sync()
}

// rewriteFile replaces the queue file with one holding buf: written to a
// temporary file, fsynced, renamed over the old one. Until the rename the
// old file stays as it was.
func (q *queue) rewriteFile(buf []byte) error {
	name := filepath.Join(q.dir, queueFile)
	tmp, err := q.fs.OpenFile(name+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = tmp.WriteAt(buf, 0); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = q.fs.Rename(name+".tmp", name)
	}
	if err != nil {
		tmp.Close()
		q.fs.Remove(name + ".tmp")
		return err
	}
	q.f.Close()
	q.f = tmp
	return q.fs.SyncDir(q.dir)
}

// writeHead records that every frame below head is done.
func (q *queue) writeHead(head uint64) error {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:], head)
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
	if _, err := q.hf.WriteAt(b[:], 0); err != nil {
		return err
	}
	return q.hf.Sync()
}

// run flushes every interval until stop is closed, and in eager mode
// writes each pushed record at once. It logs the readings dropped because
// the queue was full, at most once a minute.
func (q *queue) run(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	var logged uint64
	var lastLog time.Time
	for {
		select {
		case <-t.C:
		case <-q.wake:
			q.writeNew()
			continue
		case <-stop:
			return
		}
		q.flush()
		if n, dropped, _ := q.stats(); dropped > logged && time.Since(lastLog) >= time.Minute {
			q.log.Warn("mqtt: queue full; the oldest readings were dropped", "queued", n, "dropped_total", dropped)
			logged, lastLog = dropped, time.Now()
		}
	}
}

// close flushes the queue and closes its files; the pending records stay on
// disk for the next start. It returns the disk error if they could not be
// written.
func (q *queue) close() error {
	if q.f == nil {
		return nil
	}
	q.flush()
	q.mu.Lock()
	err, n := q.diskErr, len(q.recs)
	q.mu.Unlock()
	if err != nil {
		q.log.Error("mqtt: the queue could not be written to disk; the readings only in memory are lost", "lost", n, "err", err)
		err = fmt.Errorf("mqtt: write queue: %w", err)
	}
	if cerr := q.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mqtt: close queue: %w", cerr)
	}
	if cerr := q.hf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mqtt: close queue: %w", cerr)
	}
	q.f, q.hf = nil, nil
	return err
}

// A record body is the MQTT messages of one reading:
// uvarint count, then for each: uvarint len, topic, uvarint len, payload.

type message struct {
	topic   string
	payload []byte
}

func appendRecord(dst []byte, msgs []message) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(msgs)))
	for _, m := range msgs {
		dst = binary.AppendUvarint(dst, uint64(len(m.topic)))
		dst = append(dst, m.topic...)
		dst = binary.AppendUvarint(dst, uint64(len(m.payload)))
		dst = append(dst, m.payload...)
	}
	return dst
}

var errBadRecord = errors.New("mqtt: damaged queue record")

func parseRecord(b []byte) ([]message, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadRecord
	}
	b = b[k:]
	msgs := make([]message, 0, n)
	field := func() ([]byte, error) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadRecord
		}
		f := b[k : k+int(l)]
		b = b[k+int(l):]
		return f, nil
	}
	for range n {
		t, err := field()
		if err != nil {
			return nil, err
		}
		p, err := field()
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, message{string(t), p})
	}
	if len(b) != 0 {
		return nil, errBadRecord
	}
	return msgs, nil
}
