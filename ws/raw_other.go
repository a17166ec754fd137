//go:build !linux

package ws

import (
	"errors"
	"net"
	"syscall"
)

// rawConn is the socket under a net.Conn, for non-blocking writes.
type rawConn = syscall.RawConn

// rawOf returns nil: outside Linux every frame goes through the
// connection's writer goroutine.
func rawOf(net.Conn) rawConn { return nil }

// rawBatch is the fan-out worker's writev state; unused outside Linux.
type rawBatch struct{}

func (b *rawBatch) init(int) {}

func (b *rawBatch) writev(rawConn, []*outFrame) (int, error) {
	return 0, errors.New("ws: non-blocking writes need Linux")
}

// readRaw is never called outside Linux (rawOf returns nil).
func (c *Conn) readRaw(uintptr) bool {
	c.rerr = errors.New("ws: raw reads need Linux")
	return true
}
