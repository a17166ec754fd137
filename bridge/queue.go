package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// queue holds the readings not yet acknowledged by the broker, oldest
// first, at most max of them. With a directory it mirrors them on disk, so a
// restart loses nothing:
//
//	mqtt-queue       records, appended: [len uint32][crc32 uint32][body]
//	mqtt-queue.head  [offset uint64][crc32 of offset]: the first pending record
//
// A record is written with one write(2), so it survives the process being
// killed; a torn record at the end (power loss) is cut off on load.
// Acknowledged records are skipped by moving the head; the file is
// truncated when the queue empties and rewritten when the skipped part
// grows large.
type queue struct {
	mu      sync.Mutex
	max     int
	recs    [][]byte // pending bodies, oldest first
	sizes   []int64  // on-disk size of each pending record
	dropped uint64

	f, hf     *os.File // nil: memory only
	head, end int64
	diskErr   error // first disk error; the queue then runs in memory
}

const (
	queueFile     = "mqtt-queue"
	headFile      = "mqtt-queue.head"
	recHeader     = 8
	maxRecord     = 1 << 20
	compactAtHead = 4 << 20
)

// openQueue opens (or creates) the queue in dir, or a memory-only queue
// when dir is "". Records beyond max are dropped, oldest first.
func openQueue(dir string, max int) (*queue, error) {
	q := &queue{max: max}
	if dir == "" {
		return q, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mqtt: state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, queueFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mqtt: open queue: %w", err)
	}
	hf, err := os.OpenFile(filepath.Join(dir, headFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mqtt: open queue: %w", err)
	}
	q.f, q.hf = f, hf
	data, err := io.ReadAll(f)
	if err == nil {
		var hb [12]byte
		n, _ := hf.ReadAt(hb[:], 0)
		q.head = parseHead(hb[:n], int64(len(data)))
		var valid int
		q.recs, q.sizes, valid = parseRecords(data[q.head:])
		q.end = q.head + int64(valid)
		if q.end < int64(len(data)) {
			err = f.Truncate(q.end)
		}
	}
	if err != nil {
		q.close()
		return nil, fmt.Errorf("mqtt: load queue: %w", err)
	}
	for len(q.recs) > q.max {
		q.dropOldest()
	}
	return q, nil
}

// parseHead returns the offset stored in a head file, or 0 when it is
// missing, damaged or beyond the data (the data was truncated first).
func parseHead(b []byte, size int64) int64 {
	if len(b) != 12 {
		return 0
	}
	off := binary.LittleEndian.Uint64(b)
	if crc32.ChecksumIEEE(b[:8]) != binary.LittleEndian.Uint32(b[8:]) || off > uint64(size) {
		return 0
	}
	return int64(off)
}

// parseRecords splits data into record bodies. It stops at the first
// damaged or incomplete record and returns how many bytes were valid.
func parseRecords(data []byte) (recs [][]byte, sizes []int64, valid int) {
	for len(data)-valid >= recHeader {
		n := binary.LittleEndian.Uint32(data[valid:])
		sum := binary.LittleEndian.Uint32(data[valid+4:])
		if n > maxRecord || uint64(len(data)-valid-recHeader) < uint64(n) {
			break
		}
		body := data[valid+recHeader : valid+recHeader+int(n)]
		if crc32.ChecksumIEEE(body) != sum {
			break
		}
		recs = append(recs, body)
		sizes = append(sizes, int64(recHeader+n))
		valid += recHeader + int(n)
	}
	return recs, sizes, valid
}

// push appends body, dropping the oldest record when the queue is full.
func (q *queue) push(body []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.recs) >= q.max {
		q.dropOldest()
	}
	size := int64(recHeader + len(body))
	if q.f != nil && q.diskErr == nil {
		buf := make([]byte, size)
		binary.LittleEndian.PutUint32(buf, uint32(len(body)))
		binary.LittleEndian.PutUint32(buf[4:], crc32.ChecksumIEEE(body))
		copy(buf[recHeader:], body)
		if _, err := q.f.WriteAt(buf, q.end); err != nil {
			q.fail(err)
		}
		q.end += size
	}
	q.recs = append(q.recs, body)
	q.sizes = append(q.sizes, size)
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
	return append([][]byte(nil), q.recs[:n]...)
}

// ack removes the n oldest records: the broker has them. A record dropped
// meanwhile (the queue was full) is not removed twice: ack is given the
// records peek returned.
func (q *queue) ack(done [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, d := range done {
		if n < len(q.recs) && &q.recs[n][0] == &d[0] {
			n++
		}
	}
	q.remove(n)
}

// remove forgets the n oldest records, on disk too. q.mu must be held.
func (q *queue) remove(n int) {
	if n == 0 {
		return
	}
	for _, s := range q.sizes[:n] {
		q.head += s
	}
	clear(q.recs[:n])
	q.recs = q.recs[n:]
	q.sizes = q.sizes[n:]
	if len(q.recs) == 0 {
		q.recs, q.sizes = q.recs[:0:0], q.sizes[:0:0]
	}
	if q.f == nil || q.diskErr != nil {
		return
	}
	switch {
	case len(q.recs) == 0:
		// Truncate first: a head beyond the data reads as 0.
		if err := q.f.Truncate(0); err != nil {
			q.fail(err)
			return
		}
		q.head, q.end = 0, 0
	case q.head >= compactAtHead && q.head > q.end/2:
		if err := q.compact(); err != nil {
			q.fail(err)
			return
		}
	}
	q.writeHead()
}

// compact rewrites the pending records at the start of a new file.
func (q *queue) compact() error {
	name := q.f.Name()
	tmp, err := os.OpenFile(name+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var off int64
	for _, body := range q.recs {
		var h [recHeader]byte
		binary.LittleEndian.PutUint32(h[:], uint32(len(body)))
		binary.LittleEndian.PutUint32(h[4:], crc32.ChecksumIEEE(body))
		if _, err = tmp.WriteAt(append(h[:], body...), off); err != nil {
			break
		}
		off += int64(recHeader + len(body))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		// Head 0 first: if we stop between the two steps the old file is
		// read from its start, which only repeats acknowledged readings.
		q.head = 0
		q.writeHead()
		err = os.Rename(name+".tmp", name)
	}
	if err != nil {
		tmp.Close()
		os.Remove(name + ".tmp")
		return err
	}
	q.f.Close()
	q.f = tmp
	q.end = off
	return nil
}

func (q *queue) writeHead() {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:], uint64(q.head))
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
	if _, err := q.hf.WriteAt(b[:], 0); err != nil {
		q.fail(err)
	}
}

func (q *queue) fail(err error) {
	if q.diskErr == nil {
		q.diskErr = err
	}
}

// takeDiskErr returns the first disk error, once.
func (q *queue) takeDiskErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.diskErr
	if err != nil && !errors.Is(err, errReported) {
		q.diskErr = fmt.Errorf("%w: %w", errReported, err)
		return err
	}
	return nil
}

var errReported = errors.New("reported")

// stats returns the number of pending and dropped records.
func (q *queue) stats() (pending int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.recs), q.dropped
}

func (q *queue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.f == nil {
		return nil
	}
	err := q.f.Sync()
	if cerr := q.f.Close(); err == nil {
		err = cerr
	}
	if cerr := q.hf.Close(); err == nil {
		err = cerr
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
