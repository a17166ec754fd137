package ws

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// errDrain tells the read loop that a close frame has been queued with
// hangup: stop parsing and read (discarding) until the writer closes TCP or
// the close deadline passes.
var errDrain = errors.New("ws: draining after close")

// readLoop is the reader goroutine, one per connection. It owns the
// connection's teardown: whatever ends it, TCP is closed, the connection
// leaves the server and OnClose runs, once.
func (c *Conn) readLoop() {
	err := c.readFrames()
	if errors.Is(err, errDrain) {
		err = c.drain()
	}
	c.closeTCP(err)
	c.dropReadArray()
	c.s.remove(c)
	c.mu.Lock()
	cause := c.err
	c.mu.Unlock()
	c.s.log.Debug("ws: connection closed", "remote", c.nc.RemoteAddr().String(), "err", cause)
	if fn := c.s.opts.OnClose; fn != nil {
		fn(c, cause)
	}
	c.s.wg.Done()
}

// fill reads more bytes into the read array, compacting it first if the
// window has reached its end.
func (c *Conn) fill() error {
	if c.r == c.w {
		c.r, c.w = c.msgLen, c.msgLen
	} else if c.w == c.s.rcap {
		c.compact()
	}
	if c.w == c.s.rcap {
		// Cannot happen: checkHeader keeps every accepted frame within the array.
		return c.fail(StatusInternalError, "read buffer overflow", nil)
	}
	var n int
	var err error
	if c.raw != nil {
		n, err = c.readIdle()
	} else {
		n, err = c.nc.Read(c.rbuf[c.w:])
	}
	if n > 0 {
		c.w += n
		c.lastSeen.Store(time.Now().UnixNano())
	}
	if err != nil && n == 0 {
		return fmt.Errorf("ws: read: %w", err)
	}
	return nil
}

// readIdle reads into the read array through the raw socket. While no
// bytes are buffered and no fragmented message is open, the array goes
// back to the server's pool before waiting, so an idle connection holds
// none: it is taken again when data arrives.
func (c *Conn) readIdle() (int, error) {
	c.rn, c.rerr = 0, nil
	if err := c.raw.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return c.rn, nil
}

// takeReadBuf gives the connection a read array if it has none.
func (c *Conn) takeReadBuf() {
	if c.rbuf == nil {
		c.rbp = c.s.rbufs.Get().(*[]byte)
		c.rbuf = *c.rbp
		c.s.stats.readArrays.Add(1)
	}
}

// dropReadArray lets go of the read array when the connection is torn
// down (or its handshake fails): back to the pool if it came from there.
func (c *Conn) dropReadArray() {
	if c.rbp != nil {
		c.s.rbufs.Put(c.rbp)
		c.s.stats.readArrays.Add(-1)
	} else if c.rbuf != nil {
		c.s.stats.readArrays.Add(-1) // its own array, counted by newConn
	}
	c.rbp, c.rbuf = nil, nil
}

// putReadBuf returns an unused read array to the pool.
func (c *Conn) putReadBuf() {
	if c.raw != nil && c.rbp != nil && c.r == c.w && c.msgLen == 0 {
		c.s.rbufs.Put(c.rbp)
		c.rbp, c.rbuf = nil, nil
		c.r, c.w = 0, 0
		c.s.stats.readArrays.Add(-1)
	}
}

// compact moves the unparsed bytes down to just after the assembled
// message.
func (c *Conn) compact() {
	if c.r == c.msgLen {
		return
	}
	n := copy(c.rbuf[c.msgLen:], c.rbuf[c.r:c.w])
	c.r, c.w = c.msgLen, c.msgLen+n
}

// readFrames parses frames from the read array until the connection fails
// or closes.
func (c *Conn) readFrames() error {
	for {
		if err := c.parseBuffered(); err != nil {
			return err
		}
		if err := c.fill(); err != nil {
			return err
		}
	}
}

// parseBuffered handles every complete frame in rbuf[r:w], leaving a
// partial frame (compacted if it would not fit) for the next read. The
// buffered part of a partial text frame is unmasked and validated at once,
// so that invalid UTF-8 fails the connection on the read that brings it.
func (c *Conn) parseBuffered() error {
	for {
		h, hl, err := frame.Parse(c.rbuf[c.r:c.w])
		if err != nil {
			return c.fail(StatusProtocolError, "invalid payload length", err)
		}
		if hl == 0 {
			return nil // need more header bytes
		}
		if err := c.checkHeader(&h); err != nil {
			return err
		}
		start := c.r + hl
		end := start + int(h.Length)
		if end > c.w {
			if c.isText(&h) && c.w > start+c.done {
				fresh := c.rbuf[start+c.done : c.w]
				frame.MaskAt(h.Key, c.done, fresh)
				c.done += len(fresh)
				if !c.u8.feed(fresh) {
					return c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in text message", nil)
				}
			}
			if end > c.s.rcap {
				c.compact()
			}
			return nil // need more payload bytes
		}
		p := c.rbuf[start:end]
		fresh := p[c.done:]
		frame.MaskAt(h.Key, c.done, fresh)
		c.r, c.done = end, 0
		if err := c.handle(&h, p, fresh); err != nil {
			return err
		}
	}
}

// isText reports whether h is a frame of a text message.
func (c *Conn) isText(h *frame.Header) bool {
	return h.Opcode == frame.OpText || (h.Opcode == frame.OpContinuation && c.msgOp == frame.OpText)
}

// checkHeader applies the protocol rules that can be decided from the
// header alone, before any payload is read (RFC 6455 §5.2–§5.5).
func (c *Conn) checkHeader(h *frame.Header) error {
	switch {
	case h.RSV != 0:
		return c.fail(StatusProtocolError, "reserved bits set", nil)
	case h.Opcode.IsReserved():
		return c.fail(StatusProtocolError, "reserved opcode", nil)
	case !h.Masked:
		return c.fail(StatusProtocolError, "unmasked client frame", nil)
	case h.Opcode.IsControl():
		if !h.Fin {
			return c.fail(StatusProtocolError, "fragmented control frame", nil)
		}
		if h.Length > frame.MaxControlPayload {
			return c.fail(StatusProtocolError, "control frame too long", nil)
		}
		return nil
	case h.Opcode == frame.OpContinuation && c.msgOp == 0:
		return c.fail(StatusProtocolError, "continuation without a message", nil)
	case h.Opcode != frame.OpContinuation && c.msgOp != 0:
		return c.fail(StatusProtocolError, "new message inside a fragmented message", nil)
	case h.Length > uint64(c.s.opts.ReadLimit-c.msgLen):
		return c.fail(StatusMessageTooBig, "message too big", ErrMessageTooBig)
	}
	return nil
}

// handle acts on one complete, unmasked frame whose payload p lies in the
// read array. fresh is the tail of p not yet seen by the UTF-8 validator.
func (c *Conn) handle(h *frame.Header, p, fresh []byte) error {
	switch h.Opcode {
	case frame.OpPing:
		c.queuePong(p)
		return nil
	case frame.OpPong:
		return nil // lastSeen was updated by the read
	case frame.OpClose:
		return c.handleClose(p)
	}
	// Text, binary or continuation.
	text := c.isText(h)
	if text && !c.u8.feed(fresh) {
		return c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in text message", nil)
	}
	if !h.Fin {
		if c.msgOp == 0 {
			c.msgOp = h.Opcode
		}
		c.msgLen += copy(c.rbuf[c.msgLen:], p)
		return nil
	}
	msg, typ := p, MessageType(h.Opcode)
	if c.msgOp != 0 {
		c.msgLen += copy(c.rbuf[c.msgLen:], p)
		msg, typ = c.rbuf[:c.msgLen], MessageType(c.msgOp)
		c.msgOp, c.msgLen = 0, 0
	}
	if text && !c.u8.done() {
		return c.fail(StatusInvalidFramePayloadData, "text message ends inside a UTF-8 sequence", nil)
	}
	if fn := c.s.opts.OnMessage; fn != nil && c.isOpen() {
		fn(c, typ, msg)
	}
	return nil
}

func (c *Conn) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen
}

// handleClose validates the peer's close frame. If this side started the
// close, the handshake is complete and TCP is closed; otherwise the code is
// echoed and TCP is closed once the echo is written.
func (c *Conn) handleClose(p []byte) error {
	ce, failCode := parseClose(p)
	if failCode != 0 {
		return c.fail(failCode, "invalid close frame", nil)
	}
	cause := fmt.Errorf("ws: read frames: %w", ce)
	echo := ce.Code
	if echo == StatusNoStatusRcvd {
		echo = 0 // an empty close is echoed empty
	}
	if !c.startClose(echo, ce.Reason, nil, true, cause) {
		c.closeTCP(cause) // our close was answered
		return fmt.Errorf("ws: read frames: %w", ce)
	}
	return errDrain
}

// fail queues a close frame with code and reason, to be followed by
// closing TCP, and returns errDrain. detail, if non-nil, is wrapped in the
// cause given to OnClose alongside the CloseError.
func (c *Conn) fail(code StatusCode, reason string, detail error) error {
	ce := CloseError{Code: code, Reason: reason}
	var cause error
	if detail != nil {
		cause = fmt.Errorf("ws: read frame: %w: %w", detail, ce)
	} else {
		cause = fmt.Errorf("ws: read frame: %w", ce)
	}
	c.startClose(code, reason, nil, true, cause)
	return errDrain
}

// drain reads and discards until TCP is closed (by the writer after the
// close frame) or the close deadline set by startClose passes.
func (c *Conn) drain() error {
	c.takeReadBuf()
	for {
		if _, err := c.nc.Read(c.rbuf); err != nil {
			return fmt.Errorf("ws: read: %w", err)
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
