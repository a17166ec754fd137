package ws

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConn is the socket under a net.Conn, for non-blocking writes.
type rawConn = syscall.RawConn

// rawOf returns the socket of a TCP or Unix connection, or nil for any
// other net.Conn (a TLS connection, net.Pipe), which then never takes the
// non-blocking path.
func rawOf(nc net.Conn) rawConn {
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawBatch is a fan-out worker's writev state: the iovec array is reused
// for every connection, so a write allocates nothing.
type rawBatch struct {
	iov  []syscall.Iovec
	niov int
	n    int
	err  error
	fn   func(fd uintptr) bool // b.write, bound once
}

func (b *rawBatch) init(n int) {
	b.iov = make([]syscall.Iovec, n)
	b.fn = b.write
}

// writev writes the frames with one non-blocking writev (a plain write
// for a single frame) and returns how
// many bytes the socket took. A full send buffer is syscall.EAGAIN with
// n = 0; it never waits.
func (b *rawBatch) writev(rc rawConn, fs []*outFrame) (int, error) {
	b.niov = len(fs)
	for i, f := range fs {
		b.iov[i].Base = &f.wire[0]
		b.iov[i].SetLen(len(f.wire))
	}
	b.n, b.err = 0, nil
	if err := rc.Write(b.fn); err != nil {
		return 0, err // the connection is closed
	}
	for i := range fs {
		b.iov[i].Base = nil
	}
	return b.n, b.err
}

// write is the callback run by RawConn.Write on the socket. It returns
// true in every case: RawConn.Write must not wait for the socket to become
// writable.
func (b *rawBatch) write(fd uintptr) bool {
	for {
		var r uintptr
		var e syscall.Errno
		if b.niov == 1 {
			// One frame (the common case below overload): plain write.
			r, _, e = syscall.Syscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(b.iov[0].Base)), uintptr(b.iov[0].Len))
		} else {
			r, _, e = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&b.iov[0])), uintptr(b.niov))
		}
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			b.n, b.err = 0, e
		} else {
			b.n = int(r)
		}
		return true
	}
}

// readRaw is the callback run by RawConn.Read: one read into the read
// array, taken from the pool if the connection holds none. On EAGAIN it
// gives an unused array back and returns false, so that RawConn.Read
// waits for data without a buffer.
func (c *Conn) readRaw(fd uintptr) bool {
	c.takeReadBuf()
	for {
		n, err := syscall.Read(int(fd), c.rbuf[c.w:])
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.putReadBuf()
			return false
		}
		c.rn, c.rerr = max(n, 0), err
		return true
	}
}
