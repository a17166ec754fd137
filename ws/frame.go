package ws

import (
	"sync/atomic"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// headroom is the space kept in front of every outbound payload for the
// largest unmasked server header (2 + 8 bytes), so that header and payload
// form one contiguous slice.
const headroom = 10

// outFrame is an encoded server-to-client data frame. Broadcast frames come
// from the server's fixed pool and are shared by every connection's ring;
// refs counts the rings and writer batches that still reference it, and the
// frame returns to the pool when it drops to zero. A broadcast that finds
// the pool empty (stalled clients pin its frames) gets a frame of its own
// from the heap instead, which the garbage collector takes back. Frames made
// by Conn.Send and Prepared messages are never dropped for a broadcast.
type outFrame struct {
	buf    []byte // backing: headroom + MaxBroadcast bytes for pool frames
	wire   []byte // header and payload, a window into buf
	refs   atomic.Int32
	pooled bool      // from the shared pool
	class  dropClass // what a full queue may do with it
	key    uint64    // with classKeyed: a newer frame with the same key supersedes it
	seq    uint64    // broadcast sequence number (Server.bseq); 0 for a Conn.Send frame
}

// dropClass says whether a queued frame may be dropped when a queue is full.
type dropClass uint8

const (
	// classKept frames are never dropped: Conn.Send and Prepared frames,
	// and broadcasts with key 0 (BroadcastKey).
	classKept dropClass = iota
	// classAny frames (Broadcast) may be dropped, oldest first.
	classAny
	// classKeyed frames (BroadcastKey with a key) are dropped only when a
	// newer frame with the same key replaces them.
	classKeyed
)

// dropFrame removes one frame from the power-of-two ring q[*head:tail],
// keeping the order of the others, and returns it (its reference still to
// be released), or nil if none may go. With newer non-nil (the frame about
// to be queued) it removes the oldest keyed frame that a later frame in the
// ring or newer itself supersedes; with newer nil, the oldest frame that
// any newer frame may replace (Broadcast).
func dropFrame(q []*outFrame, head *uint32, tail uint32, newer *outFrame) *outFrame {
	m := uint32(len(q) - 1)
	for i := *head; i != tail; i++ {
		g := q[i&m]
		if newer == nil {
			if g.class != classAny {
				continue
			}
		} else {
			if g.class != classKeyed {
				continue
			}
			sup := newer.supersedes(g)
			for j := i + 1; !sup && j != tail; j++ {
				sup = q[j&m].supersedes(g)
			}
			if !sup {
				continue
			}
		}
		for j := i; j != *head; j-- {
			q[j&m] = q[(j-1)&m]
		}
		q[*head&m] = nil
		*head++
		return g
	}
	return nil
}

// supersedes reports whether f, newer, makes the queued frame g redundant.
func (f *outFrame) supersedes(g *outFrame) bool {
	return f.class == classKeyed && g.class == classKeyed && f.key == g.key
}

// fill encodes payload as one final text frame into f. The payload must fit
// in len(f.buf) - headroom.
func (f *outFrame) fill(payload []byte) { f.fillOp(frame.OpText, payload) }

// fillOp encodes payload as one final frame with opcode op into f.
func (f *outFrame) fillOp(op frame.Opcode, payload []byte) {
	hl := frame.Len(uint64(len(payload)), false)
	off := headroom - hl
	frame.Put(f.buf[off:], frame.Header{Fin: true, Opcode: op, Length: uint64(len(payload))})
	n := copy(f.buf[headroom:], payload)
	f.wire = f.buf[off : headroom+n]
}

// release drops one reference.
func (f *outFrame) release() {
	if f.refs.Add(-1) < 0 {
		panic("ws: frame released too often")
	}
}

// framePool is a fixed set of broadcast frames allocated once by NewServer.
// A frame is free while its reference count is zero; get claims one with a
// compare-and-swap, so the pool needs no lock and never allocates.
type framePool struct {
	frames []outFrame
}

func newFramePool(n, maxPayload int) *framePool {
	p := &framePool{frames: make([]outFrame, n)}
	size := headroom + maxPayload
	backing := make([]byte, n*size)
	for i := range p.frames {
		p.frames[i].buf = backing[i*size : (i+1)*size : (i+1)*size]
		p.frames[i].pooled = true
	}
	return p
}

// get returns a free frame holding one reference, or nil if every frame is
// still referenced by some ring, queue or writer. It takes the first free
// frame, so that a server whose clients keep up reuses the same few frames
// and only their pages of the backing array become resident.
func (p *framePool) get() *outFrame {
	for i := range p.frames {
		f := &p.frames[i]
		if f.refs.Load() == 0 && f.refs.CompareAndSwap(0, 1) {
			return f
		}
	}
	return nil
}

// newOwnFrame allocates a frame for one connection (Conn.Send, Conn.Write).
func newOwnFrame(op frame.Opcode, payload []byte) *outFrame {
	f := &outFrame{buf: make([]byte, headroom+len(payload))}
	f.refs.Store(1)
	f.fillOp(op, payload)
	return f
}
