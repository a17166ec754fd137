package ws

import (
	"fmt"
	"time"
)

// writeLoop is the writer goroutine. It is started when something is queued
// and no writer runs, and exits when nothing is left. Each batch takes the
// pending pong or ping first, then either the close frame (for a hangup
// close, only once the ring has drained) or up to SendQueue ring frames,
// and goes out with one SetWriteDeadline and one
// writev (net.Buffers.WriteTo). Only one writer runs at a time, so the
// writer-owned fields (pongWire, iov, bufs, batch) need no lock.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.state == stateClosed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.bufs = c.iov[:0]
		nb := 0
		if c.cur != nil {
			// The rest of a frame the fan-out worker's non-blocking write
			// cut short: nothing may come between its bytes.
			c.bufs = append(c.bufs, c.cur.wire[c.curOff:])
			c.batch[0] = c.cur
			nb = 1
			c.cur = nil
		}
		if c.pong {
			n := copy(c.pongWire[:], c.pongStage[:c.pongN])
			c.bufs = append(c.bufs, c.pongWire[:n])
			c.pong = false
		}
		if c.ping {
			c.bufs = append(c.bufs, c.s.pingWire)
			c.ping = false
		}
		closing, hangup := false, false
		if c.closeWire != nil && (!c.hangup || c.head == c.tail) {
			if !c.closeSent {
				c.bufs = append(c.bufs, c.closeWire)
				c.closeSent = true
				closing, hangup = true, c.hangup
			}
		} else {
			m := uint32(len(c.ring) - 1)
			for c.head != c.tail && nb < len(c.batch) {
				f := c.ring[c.head&m]
				c.ring[c.head&m] = nil
				c.head++
				c.batch[nb] = f
				nb++
				c.bufs = append(c.bufs, f.wire)
			}
			if nb > 0 {
				c.room.Broadcast() // wake a Write waiting for ring room
			}
		}
		if len(c.bufs) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		timeout := c.s.opts.WriteTimeout
		if closing && timeout > closeTimeout {
			timeout = closeTimeout
		}
		err := c.setWriteDeadline(timeout, closing)
		if err == nil {
			var n int64
			n, err = c.bufs.WriteTo(c.nc)
			c.s.stats.bytesSent.Add(uint64(n))
			if err == nil {
				c.s.stats.framesSent.Add(uint64(nb))
				if nb > 0 {
					// A client that takes data is alive, however
					// late its pongs come behind that data.
					c.lastSeen.Store(time.Now().UnixNano())
				}
			}
		}
		for i := range nb {
			c.batch[i].release()
			c.batch[i] = nil
		}
		if err != nil {
			if isTimeout(err) {
				c.s.stats.slow.Add(1)
				c.s.log.Warn("ws: closing stalled client", "remote", c.nc.RemoteAddr().String(), "timeout", timeout)
			}
			c.closeTCP(fmt.Errorf("ws: write frames: %w", err))
			continue // observes stateClosed and exits
		}
		if hangup {
			c.closeTCP(nil)
		}
	}
}

// setWriteDeadline bounds the next write by timeout. The writer calls it
// before every batch; to spare the runtime a timer update per batch, a
// deadline set less than timeout/8 ago is kept unless exact (a close frame,
// OnOpen's writes), so every write still gets at least 7/8 of timeout.
// Only the goroutine that owns c.writing calls it.
func (c *Conn) setWriteDeadline(timeout time.Duration, exact bool) error {
	dl := time.Now().Add(timeout).UnixNano()
	if !exact && c.wdl != 0 && dl-c.wdl < int64(timeout/8) {
		return nil
	}
	c.wdl = dl
	return c.nc.SetWriteDeadline(time.Unix(0, dl))
}
