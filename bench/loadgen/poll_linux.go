package loadgen

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// epollET is EPOLLET as the unsigned event mask of syscall.EpollEvent.
const epollET = 1 << 31

// pollers reads the push clients of a Push through epoll, one goroutine and
// one epoll instance per GOMAXPROCS, each with its share of the sockets. A
// goroutine per client costs two reads (the second one finds the socket
// empty) and a park and a wake-up per frame; a poller reads each frame with
// one read, so the load generator takes less of the CPU that it shares with
// the server under test. The sockets are taken out of the Go runtime's
// poller: Conn.Close then closes them.
type pollers struct {
	epfds []int
	wake  [2]int // a pipe in every epoll set; written to stop the pollers
	wg    sync.WaitGroup
}

// rawClient is one push client's socket and the bytes received but not
// yet parsed.
type rawClient struct {
	i    int // index in the Push
	fd   int
	in   []byte
	n    int
	msgs msgParser
	dead bool
}

// startPollers moves every client of p to epoll readers. It returns nil,
// having changed nothing, when a connection is not a socket (as in tests)
// or epoll cannot be set up.
func startPollers(p *Push) *pollers {
	for _, c := range p.conns {
		if _, ok := c.nc.(syscall.Conn); !ok || c.br == nil {
			return nil
		}
	}
	ps := &pollers{}
	if err := syscall.Pipe2(ps.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	for range runtime.GOMAXPROCS(0) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err == nil {
			err = syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, ps.wake[0], &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1})
		}
		if err != nil {
			if fd >= 0 {
				syscall.Close(fd)
			}
			ps.close()
			return nil
		}
		ps.epfds = append(ps.epfds, fd)
	}
	// From here on no failure leaves a connection half moved: a socket
	// that cannot be moved fails the run through p.fail.
	shares := make([][]*rawClient, len(ps.epfds))
	for i, c := range p.conns {
		rc := &rawClient{i: i, fd: -1, in: make([]byte, 4096), msgs: msgParser{limit: msgLimit}}
		k := i % len(ps.epfds)
		fd, err := c.detach()
		if err == nil {
			rc.fd = fd
			rc.n = copy(rc.in, c.leftover)
			c.leftover = nil
			err = syscall.EpollCtl(ps.epfds[k], syscall.EPOLL_CTL_ADD, fd,
				&syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(len(shares[k]))})
		}
		if err != nil {
			p.fail(fmt.Errorf("client %d: moving to epoll: %w", i, err))
			rc.dead = true
		}
		shares[k] = append(shares[k], rc)
		if rc.n > 0 && !rc.dead {
			if err := p.consume(rc, int64(time.Since(p.epoch))); err != nil {
				p.fail(err)
				rc.dead = true
			}
		}
	}
	for k, fd := range ps.epfds {
		ps.wg.Go(func() { p.poll(fd, shares[k]) })
	}
	return ps
}

// detach takes the connection's socket out of the Go runtime's poller and
// returns a descriptor of it that Close will close, with the bytes the
// handshake's reader had already buffered in c.leftover.
func (c *Conn) detach() (int, error) {
	rc, err := c.nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) {
		syscall.ForkLock.RLock() // no child process inherits it
		defer syscall.ForkLock.RUnlock()
		if fd, err = syscall.Dup(int(s)); err == nil {
			syscall.CloseOnExec(fd)
		}
	})
	if cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, fmt.Errorf("dup: %w", err)
	}
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		c.leftover = append([]byte(nil), b...)
	}
	c.nc.Close() // the duplicate keeps the socket open
	c.fd, c.detached = fd, true
	return fd, nil
}

// poll reads the sockets of one epoll set until stop.
func (p *Push) poll(epfd int, clients []*rawClient) {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			p.fail(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd < 0 {
				return
			}
			if rc := clients[ev.Fd]; !rc.dead {
				if err := p.drain(rc); err != nil {
					p.fail(err)
					rc.dead = true
					syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, rc.fd, nil)
				}
			}
		}
	}
}

// drain reads what the socket holds (edge-triggered: until a read returns
// less than there was room for) and records the messages.
func (p *Push) drain(rc *rawClient) error {
	for {
		room := len(rc.in) - rc.n
		n, err := syscall.Read(rc.fd, rc.in[rc.n:])
		switch {
		case err == syscall.EAGAIN:
			return nil
		case err == syscall.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("client %d: %w", rc.i, err)
		case n == 0:
			return fmt.Errorf("client %d: %w", rc.i, io.EOF)
		}
		rc.n += n
		if err := p.consume(rc, int64(time.Since(p.epoch))); err != nil {
			return err
		}
		if n < room {
			return nil
		}
	}
}

// consume records every whole message in rc's buffer, received at now, and
// keeps the rest.
func (p *Push) consume(rc *rawClient, now int64) error {
	b := rc.in[:rc.n]
	for {
		op, payload, used, err := rc.msgs.next(b)
		if err != nil {
			return fmt.Errorf("client %d: %w", rc.i, err)
		}
		if used == 0 {
			break
		}
		b = b[used:]
		if op == OpPing {
			if _, err := syscall.Write(rc.fd, AppendFrame(nil, OpPong, payload)); err != nil {
				return fmt.Errorf("client %d: pong: %w", rc.i, err)
			}
			continue
		}
		if op == 0 {
			continue
		}
		if err := p.record(rc.i, op, payload, now); err != nil {
			return err
		}
	}
	if len(b) == len(rc.in) { // cannot happen: a message is at most msgLimit
		return fmt.Errorf("client %d: %w: no frame in %d bytes", rc.i, ErrFrame, len(b))
	}
	rc.n = copy(rc.in, b)
	return nil
}

// stop ends the pollers and waits for them; the sockets stay open.
func (ps *pollers) stop() {
	syscall.Write(ps.wake[1], []byte{0})
	ps.wg.Wait()
	ps.close()
}

func (ps *pollers) close() {
	for _, fd := range ps.epfds {
		syscall.Close(fd)
	}
	syscall.Close(ps.wake[0])
	syscall.Close(ps.wake[1])
}
