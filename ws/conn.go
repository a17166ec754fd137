package ws

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// connState is the life cycle of a connection.
type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // a close frame is queued or sent; reading goes on until the peer's close
	stateClosed            // TCP is closed
)

// readSlack is the room the read array keeps beyond ReadLimit: one control
// frame (6-byte masked header and 125 bytes) may arrive while a fragmented
// message of ReadLimit bytes is being assembled, and a data frame header
// may take up to 14 bytes.
const readSlack = 6 + frame.MaxControlPayload

// Conn is one upgraded WebSocket connection. It is created by the Server's
// handshake and handed to OnOpen, OnMessage and OnClose. Its methods are safe
// for concurrent use.
//
// Every buffer a Conn uses is allocated once with it and never grows: the
// read array (ReadLimit plus one control frame), the send ring (SendQueue
// frame pointers), the writev list and three control-frame buffers.
type Conn struct {
	s       *Server
	nc      net.Conn
	release func() // from Options.Admit, called once when the connection is removed
	writeFn func() // c.writeLoop, bound once so that starting a writer does not allocate

	// Reader state, owned by the reader goroutine.
	rbuf   []byte                // read array; frames are parsed and unmasked in place; nil while idle (raw)
	rbp    *[]byte               // rbuf as taken from the server's pool (raw connections)
	rn     int                   // result of the last raw read
	rerr   error                 // error of the last raw read
	readFn func(fd uintptr) bool // c.readRaw, bound once
	r, w   int                   // unparsed bytes are rbuf[r:w]
	msgLen int                   // an open fragmented message is assembled at rbuf[:msgLen]
	msgOp  frame.Opcode          // its opcode; 0 when no fragmented message is open
	done   int                   // payload bytes of the partial frame at rbuf[r:] already unmasked
	u8     utf8Stream            // UTF-8 state of the text message being read

	lastSeen atomic.Int64 // unix nanoseconds of the last successful read or data write

	// Writer state, owned by the single active writer goroutine.
	pongWire [maxCloseFrame]byte
	wdl      int64       // the write deadline last set, unix nanoseconds; 0 for none
	iov      [][]byte    // fixed backing for bufs: SendQueue + 4 entries
	bufs     net.Buffers // a field, so that WriteTo does not allocate
	batch    []*outFrame // ring frames in the current writev (and cur)

	mu        sync.Mutex
	state     connState
	ring      []*outFrame // power-of-two ring of queued data frames
	head      uint32      // ring[head&(len-1)] is the oldest frame
	tail      uint32      // tail-head frames are queued
	writing   bool        // a writer goroutine is running
	held      bool        // opening: queue but do not write until the broadcast set is joined
	ping      bool        // the shared ping frame is due
	pong      bool        // pongStage holds a pong that is due
	pongStage [maxCloseFrame]byte
	pongN     uint8
	closeWire []byte // the close frame to send; nil until closing starts
	closeBuf  [maxCloseFrame]byte
	closeSent bool
	hangup    bool      // close TCP as soon as the close frame is written
	cur       *outFrame // a frame cut short by a non-blocking write; its rest goes first
	curOff    int       // bytes of cur already written
	drops     int       // consecutive frames dropped from a full ring
	err       error     // first cause of the close, given to OnClose

	room        sync.Cond // on mu: signalled when ring room frees up or closing starts
	subprotocol string    // negotiated in the handshake; "" for none

	joined  bool   // in the broadcast set; guarded by s.mu
	idx     int    // index in s.conns; guarded by s.mu
	sh      *shard // the fan-out worker serving this connection
	shIdx   int    // index in sh.conns; guarded by s.mu
	joinSeq uint64 // broadcasts up to this sequence number predate joining; set under s.mu

	// raw is the socket for non-blocking writes by the fan-out worker; nil
	// where the net.Conn offers none (TLS, net.Pipe): then every frame goes
	// through the writer goroutine.
	raw rawConn
}

func (s *Server) newConn(nc net.Conn) *Conn {
	c := &Conn{
		s:     s,
		nc:    nc,
		ring:  make([]*outFrame, s.opts.SendQueue),
		iov:   make([][]byte, s.opts.SendQueue+4),
		batch: make([]*outFrame, s.opts.SendQueue+1),
		raw:   rawOf(nc),
	}
	c.writeFn = c.writeLoop
	c.readFn = c.readRaw
	if n := s.opts.SendBuffer; n > 0 {
		if tc, ok := nc.(interface{ SetWriteBuffer(int) error }); ok {
			tc.SetWriteBuffer(n) // best effort: the system's buffer otherwise
		}
	}
	if c.raw == nil {
		// Without the raw socket, reads block in net.Conn.Read, which
		// needs the read array all the time.
		c.rbuf = make([]byte, s.rcap)
		s.stats.readArrays.Add(1)
	}
	c.room.L = &c.mu
	c.held = true
	c.lastSeen.Store(time.Now().UnixNano())
	return c
}

// RemoteAddr returns the address of the peer's end of the TCP connection.
// Behind a reverse proxy this is the proxy.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

var errQueueFull = errors.New("send queue full")

// MessageType is the type of a WebSocket data message (RFC 6455 §5.6).
type MessageType uint8

// Message types, equal to their frame opcodes.
const (
	MessageText   MessageType = MessageType(frame.OpText)
	MessageBinary MessageType = MessageType(frame.OpBinary)
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Subprotocol returns the subprotocol agreed in the handshake (one of
// Options.Subprotocols), or "" if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Write queues payload as one message of type typ to this connection,
// waiting while its send queue is full, so that a reader goroutine that
// answers messages (an echo) applies back-pressure to its client instead of
// dropping. Like Send it copies payload into a frame of its own; text must
// be valid UTF-8. It returns net.ErrClosed once the connection is closing,
// which also ends a wait. In OnOpen it writes at once, as Send does.
func (c *Conn) Write(typ MessageType, payload []byte) error {
	switch typ {
	case MessageText:
		if !utf8.Valid(payload) {
			return errors.New("ws: write: text message is not valid UTF-8")
		}
	case MessageBinary:
	default:
		return fmt.Errorf("ws: write: invalid message type %d", uint8(typ))
	}
	f := newOwnFrame(frame.Opcode(typ), payload)
	c.mu.Lock()
	if c.state == stateOpen && c.closeWire == nil && c.held && !c.writing {
		c.writing = true
		c.mu.Unlock()
		return c.writeOpening(f)
	}
	for c.state == stateOpen && c.closeWire == nil && c.tail-c.head == uint32(len(c.ring)) {
		if c.held {
			// Another goroutine writes during OnOpen: waiting for room
			// would never end.
			c.mu.Unlock()
			return fmt.Errorf("ws: write: %w", errQueueFull)
		}
		c.room.Wait()
	}
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return fmt.Errorf("ws: write: %w", net.ErrClosed)
	}
	start := c.pushLocked(f)
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
	return nil
}

// Send sends payload as one text message to this connection only,
// allocating a frame of its own, unlike Broadcast. It is meant for the
// per-connection hello or snapshot in OnOpen: there, before the connection
// has joined the broadcast set, Send writes at once on the calling goroutine
// (bounded by WriteTimeout), so a snapshot of any number of messages
// reaches the client ahead of every broadcast. Later, Send queues the
// message; a frame queued by Send is never dropped in favour of a
// broadcast: if the ring holds no room, Send returns an error instead. The
// payload must be valid UTF-8; it is copied before Send returns. After the
// connection starts closing, Send returns net.ErrClosed.
func (c *Conn) Send(payload []byte) error {
	f := newOwnFrame(frame.OpText, payload)
	c.mu.Lock()
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return fmt.Errorf("ws: send: %w", net.ErrClosed)
	}
	if c.held && !c.writing {
		c.writing = true
		c.mu.Unlock()
		return c.writeOpening(f)
	}
	if c.tail-c.head == uint32(len(c.ring)) {
		c.mu.Unlock()
		return fmt.Errorf("ws: send: %w", errQueueFull)
	}
	start := c.pushLocked(f)
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
	return nil
}

// Join adds c to the broadcast set at once: every frame broadcast after
// Join returns reaches c, none broadcast before it does. It is meant for
// OnOpen, to join at the exact point of a snapshot: call it while holding
// the lock under which the caller both broadcasts and takes its snapshot,
// then send the snapshot with Send. Until OnOpen returns, broadcast frames
// for c wait in its queue (under BroadcastKey's rules when it fills), so
// what OnOpen sends still reaches the client first. Without a call to
// Join, c joins when OnOpen returns. Later calls do nothing.
func (c *Conn) Join() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.joined || c.sh != nil {
		return
	}
	c.joined = true
	s.joinedN++
	c.joinSeq = s.bseq.Load()
	c.sh = s.shards[s.nextShard%len(s.shards)]
	s.nextShard++
	c.shIdx = len(c.sh.conns)
	c.sh.conns = append(c.sh.conns, c)
}

// Prepared is a message framed once to be sent to many connections with
// SendPrepared, such as a large snapshot shared by the clients that connect
// at about the same time. It is immutable and safe for concurrent use.
type Prepared struct {
	f *outFrame
}

// NewPrepared frames payload as one message of type typ (text must be
// valid UTF-8). It copies payload.
func NewPrepared(typ MessageType, payload []byte) (*Prepared, error) {
	switch typ {
	case MessageText:
		if !utf8.Valid(payload) {
			return nil, errors.New("ws: prepare: text message is not valid UTF-8")
		}
	case MessageBinary:
	default:
		return nil, fmt.Errorf("ws: prepare: invalid message type %d", uint8(typ))
	}
	return &Prepared{f: newOwnFrame(frame.Opcode(typ), payload)}, nil
}

// Len returns the size of p on the wire, frame header included.
func (p *Prepared) Len() int { return len(p.f.wire) }

// Payload returns the message p carries. It must not be modified.
func (p *Prepared) Payload() []byte { return p.f.buf[headroom:] }

// SendPrepared sends p to this connection as Send sends a payload, without
// copying or framing it again: in OnOpen it writes at once, later it queues
// p, which is never dropped for a broadcast.
func (c *Conn) SendPrepared(p *Prepared) error {
	f := p.f
	c.mu.Lock()
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return fmt.Errorf("ws: send: %w", net.ErrClosed)
	}
	if c.held && !c.writing {
		c.writing = true
		c.mu.Unlock()
		return c.writeOpening(f)
	}
	if c.tail-c.head == uint32(len(c.ring)) {
		c.mu.Unlock()
		return fmt.Errorf("ws: send: %w", errQueueFull)
	}
	f.refs.Add(1)
	start := c.pushLocked(f)
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
	return nil
}

// writingNow reports whether a write to c is in progress.
func (c *Conn) writingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writing
}

// Close starts the closing handshake with code and reason (at most 123
// bytes of UTF-8) and returns without waiting. Queued data frames are
// discarded; the close frame goes out next, and TCP is closed when the
// peer's close arrives or after one second. It returns net.ErrClosed if the
// connection is already closing.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkSendClose(code, reason); err != nil {
		return err
	}
	if !c.startClose(code, reason, nil, false, CloseError{Code: code, Reason: reason}) {
		return fmt.Errorf("ws: close: %w", net.ErrClosed)
	}
	return nil
}

// pushLocked appends f to the ring, which must have room, takes a
// reference, and reports whether the caller must start a writer.
func (c *Conn) pushLocked(f *outFrame) (startWriter bool) {
	c.appendLocked(f)
	return c.wakeLocked()
}

// appendLocked appends f to the ring, which must have room.
func (c *Conn) appendLocked(f *outFrame) {
	c.ring[c.tail&uint32(len(c.ring)-1)] = f
	c.tail++
}

// wakeLocked marks a writer as running and reports whether the caller must
// start it.
func (c *Conn) wakeLocked() bool {
	if c.writing || c.held {
		return false
	}
	c.writing = true
	return true
}

// writeOpening writes f on the calling goroutine while the connection is
// still opening (OnOpen): no writer goroutine can run yet, so nothing
// interleaves, and whatever OnOpen sends, of any size, reaches the client
// ahead of every broadcast. The caller has set c.writing; it is cleared
// here, and a writer started if unhold ran meanwhile and left work.
func (c *Conn) writeOpening(f *outFrame) error {
	err := c.setWriteDeadline(c.s.opts.WriteTimeout, true)
	if err == nil {
		var n int
		n, err = c.nc.Write(f.wire)
		c.s.stats.bytesSent.Add(uint64(n))
		if err == nil {
			c.s.stats.framesSent.Add(1)
		}
	}
	c.mu.Lock()
	c.writing = false
	start := false
	if !c.held && (c.tail != c.head || c.ping || c.pong || (c.closeWire != nil && !c.closeSent)) {
		start = c.wakeLocked()
	}
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
	if err != nil {
		err = fmt.Errorf("ws: write: %w", err)
		c.closeTCP(err)
		return err
	}
	return nil
}

// unhold lets a new connection write once it has joined the broadcast
// set, so that the client sees nothing (not even OnOpen's hello) before it
// would also see every following broadcast.
func (c *Conn) unhold() {
	c.mu.Lock()
	c.held = false
	start := false
	if c.tail != c.head || c.ping || c.pong || (c.closeWire != nil && !c.closeSent) {
		start = c.wakeLocked()
	}
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
}

// enqueueLocked queues a shared broadcast frame, taking a reference. When
// the ring is full, f replaces a queued frame it supersedes (BroadcastKey),
// else the oldest frame that may be dropped (Broadcast) goes; if none may,
// a droppable f is itself dropped and any other f closes the connection
// with 1008: it cannot be sent without losing a message. MaxDrops losses
// in a row (superseded frames do not count) close it too. slow reports a close begun here: the caller
// must then call afterEnqueue once c.mu is released.
func (c *Conn) enqueueLocked(f *outFrame) (queued, slow bool) {
	if c.state != stateOpen || c.closeWire != nil {
		return false, false
	}
	if c.tail-c.head != uint32(len(c.ring)) {
		c.drops = 0
		f.refs.Add(1)
		c.appendLocked(f)
		return true, false
	}
	c.s.stats.drops.Add(1)
	if c.dropLocked(f) {
		// Nothing is lost: the client still gets that key's newest frame.
		c.s.stats.superseded.Add(1)
	} else {
		c.drops++
		if limit := c.s.opts.MaxDrops; limit > 0 && c.drops >= limit {
			return false, c.slowLocked()
		}
		switch {
		case c.dropLocked(nil):
		case f.class == classAny:
			return false, false // nothing queued may go: drop the new frame
		default:
			return false, c.slowLocked()
		}
	}
	f.refs.Add(1)
	c.appendLocked(f)
	return true, false
}

// slowLocked starts closing c with 1008 "slow consumer" and returns true.
func (c *Conn) slowLocked() bool {
	c.startCloseLocked(0, "", c.s.slowWire, false,
		fmt.Errorf("ws: write frames: %w", CloseError{Code: StatusPolicyViolation, Reason: "slow consumer"}))
	c.s.stats.slow.Add(1)
	return true
}

// afterEnqueue starts the writer goroutine if startWriter, and finishes a
// slow-consumer close begun by enqueueLocked.
func (c *Conn) afterEnqueue(startWriter, slow bool) {
	if slow {
		c.afterCloseStarted(startWriter, false)
		c.s.log.Warn("ws: closing slow consumer", "remote", c.nc.RemoteAddr().String(), "drops", c.s.opts.MaxDrops)
		return
	}
	if startWriter {
		go c.writeFn()
	}
}

// dropLocked drops a frame from the ring (see dropFrame) and reports
// whether there was one to drop.
func (c *Conn) dropLocked(newer *outFrame) bool {
	g := dropFrame(c.ring, &c.head, c.tail, newer)
	if g == nil {
		return false
	}
	g.release()
	return true
}

// releaseRingLocked drops every queued data frame.
func (c *Conn) releaseRingLocked() {
	m := uint32(len(c.ring) - 1)
	for ; c.head != c.tail; c.head++ {
		c.ring[c.head&m].release()
		c.ring[c.head&m] = nil
	}
}

// queuePing schedules the shared ping frame.
func (c *Conn) queuePing() {
	c.mu.Lock()
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return
	}
	c.ping = true
	start := c.wakeLocked()
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
}

// queuePong schedules a pong carrying p, replacing any pong not yet sent
// (RFC 6455 §5.5.3 allows answering only the most recent ping).
func (c *Conn) queuePong(p []byte) {
	c.mu.Lock()
	if c.state != stateOpen || c.closeWire != nil {
		c.mu.Unlock()
		return
	}
	n := frame.Put(c.pongStage[:], frame.Header{Fin: true, Opcode: frame.OpPong, Length: uint64(len(p))})
	n += copy(c.pongStage[n:], p)
	c.pongN = uint8(n)
	c.pong = true
	start := c.wakeLocked()
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
}

// startClose queues a close frame: shared if non-nil, else one encoded from
// code and reason. With hangup (the echo of the peer's close, or a failed
// connection, both started by the reader) the frame goes out after the data
// already queued, such as echoes of earlier messages, and the writer then
// closes TCP. Without it (a close this side starts) queued data is
// discarded, the frame goes out next, and the reader waits up to
// closeTimeout for the peer's close. cause becomes the error given to OnClose. It reports whether
// this call started the close.
func (c *Conn) startClose(code StatusCode, reason string, shared []byte, hangup bool, cause error) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false
	}
	c.startCloseLocked(code, reason, shared, hangup, cause)
	start := c.wakeLocked()
	c.mu.Unlock()
	c.afterCloseStarted(start, hangup)
	return true
}

func (c *Conn) startCloseLocked(code StatusCode, reason string, shared []byte, hangup bool, cause error) {
	c.state = stateClosing
	if c.err == nil {
		c.err = cause
	}
	if shared != nil {
		c.closeWire = shared
	} else {
		c.closeWire = c.closeBuf[:putClose(&c.closeBuf, code, reason)]
	}
	c.hangup = hangup
	if !hangup {
		c.releaseRingLocked()
	}
	c.room.Broadcast()
}

func (c *Conn) afterCloseStarted(startWriter, hangup bool) {
	if startWriter {
		go c.writeFn()
	}
	// Bound the wait for the peer's close (or, after a hangup close, for
	// the writer to flush and finish). SetReadDeadline is safe during a Read.
	wait := closeTimeout
	if hangup {
		wait += c.s.opts.WriteTimeout
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
}

// closeTCP closes the connection at once. cause is recorded if it is the
// first. Queued frames are released; a writer blocked in writev returns
// with an error and exits.
func (c *Conn) closeTCP(cause error) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	if c.err == nil {
		c.err = cause
	}
	c.releaseRingLocked()
	if c.cur != nil {
		c.cur.release()
		c.cur = nil
	}
	c.room.Broadcast()
	c.mu.Unlock()
	_ = c.nc.Close()
}
