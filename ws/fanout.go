package ws

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// maxShards caps the fan-out workers of one Server.
const maxShards = 8

// A shard is one fan-out worker's share of the broadcast set. Broadcast
// appends each frame to every shard's queue and returns; the shard's worker
// goroutine (started when its queue fills from empty, exiting when it is
// empty again) takes every queued frame at once and hands them to each of
// its connections:
//
//   - a connection with nothing queued and no writer running gets them
//     written at once, on the worker, with one non-blocking writev: no
//     goroutine switch, no lock held across the system call, no write
//     deadline (a non-blocking write cannot stall);
//   - whatever the socket does not take (a full send buffer), and every
//     frame for a connection that is already busy, goes to the connection's
//     ring and its writer goroutine, which blocks with WriteTimeout.
//
// A worker that falls behind finds several broadcasts queued and sends them
// to each connection in one writev, so the cost per frame falls as the load
// rises. With one shard per CPU (at most maxShards) the fan-out of one
// broadcast runs in parallel.
type shard struct {
	s *Server

	// Guarded by s.mu: the connections of this shard in the broadcast set.
	conns []*Conn

	qmu     sync.Mutex
	queue   []*outFrame // power-of-two ring of frames to fan out
	head    uint32
	tail    uint32
	running bool

	// Owned by the running worker.
	now   int64 // unix nanoseconds when the current batch was taken
	batch []*outFrame
	raw   rawBatch
	runFn func() // sh.run, bound once so that starting the worker does not allocate
}

func newShards(s *Server) []*shard {
	n := runtime.GOMAXPROCS(0)
	n = max(1, min(n, maxShards))
	shards := make([]*shard, n)
	for i := range shards {
		sh := &shard{
			s:     s,
			queue: make([]*outFrame, s.opts.SendQueue),
			batch: make([]*outFrame, s.opts.SendQueue),
		}
		sh.raw.init(s.opts.SendQueue)
		sh.runFn = sh.run
		shards[i] = sh
	}
	return shards
}

// push queues f (taking a reference) for this shard's connections and
// starts the worker if it is not running. When the queue is full (the
// worker is behind), f replaces a queued frame it supersedes, else the
// oldest frame that may be dropped goes; if none may, the queue grows, so
// that no frame broadcast with BroadcastKey is ever lost here.
func (sh *shard) push(f *outFrame, conns int) {
	f.refs.Add(1)
	sh.qmu.Lock()
	if sh.tail-sh.head == uint32(len(sh.queue)) {
		switch {
		case sh.dropLocked(f):
			sh.s.stats.superseded.Add(uint64(conns))
			sh.s.stats.drops.Add(uint64(conns))
		case sh.dropLocked(nil):
			sh.s.stats.drops.Add(uint64(conns))
		default:
			sh.growLocked()
		}
	}
	m := uint32(len(sh.queue) - 1)
	sh.queue[sh.tail&m] = f
	sh.tail++
	start := !sh.running
	sh.running = true
	sh.qmu.Unlock()
	if start {
		// Counted in s.wg, so that Shutdown also waits for the workers.
		// The caller holds s.mu.RLock and Shutdown stops Broadcast under
		// s.mu before it waits, so no worker starts during that wait.
		sh.s.wg.Add(1)
		go sh.runFn()
	}
}

// dropLocked drops a frame from the queue (see dropFrame) and reports
// whether there was one to drop. sh.qmu is held.
func (sh *shard) dropLocked(newer *outFrame) bool {
	g := dropFrame(sh.queue, &sh.head, sh.tail, newer)
	if g == nil {
		return false
	}
	g.release()
	return true
}

// growLocked doubles the full queue. sh.qmu is held. The worker's batch
// grows to match when it next takes the queue.
func (sh *shard) growLocked() {
	m := uint32(len(sh.queue) - 1)
	q := make([]*outFrame, 2*len(sh.queue))
	n := 0
	for i := sh.head; i != sh.tail; i++ {
		q[n] = sh.queue[i&m]
		n++
	}
	sh.queue, sh.head, sh.tail = q, 0, uint32(n)
}

// run is the shard's worker goroutine.
func (sh *shard) run() {
	for {
		sh.qmu.Lock()
		if len(sh.batch) < len(sh.queue) {
			sh.batch = make([]*outFrame, len(sh.queue))
			sh.raw.init(len(sh.queue))
		}
		n := 0
		m := uint32(len(sh.queue) - 1)
		for sh.head != sh.tail {
			sh.batch[n] = sh.queue[sh.head&m]
			sh.queue[sh.head&m] = nil
			sh.head++
			n++
		}
		if n == 0 {
			sh.running = false
			sh.qmu.Unlock()
			sh.s.wg.Done()
			return
		}
		sh.qmu.Unlock()

		fs := sh.batch[:n]
		sh.now = time.Now().UnixNano()
		sh.s.mu.RLock()
		for _, c := range sh.conns {
			c.deliver(sh, fs)
		}
		sh.s.mu.RUnlock()
		for i, f := range fs {
			f.release()
			fs[i] = nil
		}
	}
}

// deliver hands this shard's batch of broadcast frames to c: written at
// once if c is idle, else queued to its ring. Frames broadcast before c
// joined are skipped.
func (c *Conn) deliver(sh *shard, fs []*outFrame) {
	for len(fs) > 0 && fs[0].seq <= c.joinSeq {
		fs = fs[1:]
	}
	if len(fs) == 0 {
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return
	}
	if c.raw != nil && !c.writing && !c.held && c.head == c.tail && c.cur == nil && !c.ping && !c.pong {
		c.writing = true
		c.drops = 0
		c.mu.Unlock()
		c.writeNow(sh, fs)
		return
	}
	queued, slow := false, false
	for _, f := range fs {
		q, sl := c.enqueueLocked(f)
		queued, slow = queued || q, slow || sl
		if sl {
			break
		}
	}
	start := (queued || slow) && c.wakeLocked()
	c.mu.Unlock()
	c.afterEnqueue(start, slow)
}

// writeNow writes fs to c with one non-blocking writev on the calling
// worker. The caller has set c.writing, so nothing else writes meanwhile.
// What the socket does not take goes to c.cur (a frame cut short, whose
// rest must precede everything else) and the ring, and c's writer
// goroutine takes over.
func (c *Conn) writeNow(sh *shard, fs []*outFrame) {
	n, err := sh.raw.writev(c.raw, fs)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The writer goroutine's or OnOpen's deadline has passed since it
		// last wrote. A non-blocking write needs none: clear it and retry.
		if err = c.nc.SetWriteDeadline(time.Time{}); err == nil {
			c.wdl = 0
			n, err = sh.raw.writev(c.raw, fs)
		}
	}
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		c.closeTCP(fmt.Errorf("ws: write frames: %w", err))
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		return
	}
	if n > 0 {
		c.lastSeen.Store(sh.now) // a client that takes data is alive
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.writing = false
		c.mu.Unlock()
		return
	}
	c.s.stats.bytesSent.Add(uint64(max(n, 0)))
	slow, whole := false, uint64(0)
	for _, f := range fs {
		if n >= len(f.wire) {
			n -= len(f.wire)
			whole++
			continue
		}
		if n > 0 {
			f.refs.Add(1)
			c.cur, c.curOff = f, n
			n = 0
			continue
		}
		if _, slow = c.enqueueLocked(f); slow {
			break
		}
	}
	c.s.stats.framesSent.Add(whole)
	// Hand over to a writer goroutine (c.writing stays set) if anything is
	// left, including control frames and a close queued meanwhile.
	start := c.cur != nil || c.head != c.tail || c.ping || c.pong || (c.closeWire != nil && !c.closeSent)
	if !start {
		c.writing = false
	}
	c.mu.Unlock()
	c.afterEnqueue(start, slow)
}
