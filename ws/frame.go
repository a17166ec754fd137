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
// frame returns to the pool when it drops to zero. Frames made by Conn.Send
// are owned by one connection and are never dropped for a broadcast.
type outFrame struct {
	buf    []byte // fixed backing: headroom + MaxBroadcast bytes
	wire   []byte // header and payload, a window into buf
	refs   atomic.Int32
	pooled bool   // from the shared pool; false for a Conn.Send frame
	seq    uint64 // broadcast sequence number (Server.bseq); 0 for a Conn.Send frame
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
