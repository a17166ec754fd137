package loadgen

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// rawServer accepts one client on a free loopback port, answers its upgrade
// with 101 followed by first in the same write, then runs serve on the
// connection.
func rawServer(t *testing.T, first []byte, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			t.Errorf("upgrade request: %v", err)
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		if _, err := c.Write(append([]byte(resp), first...)); err != nil {
			t.Errorf("101: %v", err)
			return
		}
		serve(c, br)
	}()
	return ln.Addr().String()
}

func pushFrame(seq int, fin bool, op byte, payload string) []byte {
	h := op
	if fin {
		h |= 0x80
	}
	return append([]byte{h, byte(len(payload))}, payload...)
}

func pushMsg(seq int) string {
	return `{"type":"push","seq":` + strconv.Itoa(seq) + `,"ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`
}

// TestPollerFrames: with sockets, Push reads through epoll and still takes
// the frames that came with the 101, messages cut into fragments and
// across reads, and answers pings with masked pongs.
func TestPollerFrames(t *testing.T) {
	pongs := make(chan string, 1)
	addr := rawServer(t, pushFrame(1, true, OpText, pushMsg(1)), func(c net.Conn, br *bufio.Reader) {
		m := pushMsg(2)
		var out []byte
		out = append(out, pushFrame(0, false, OpText, m[:10])...)
		out = append(out, pushFrame(0, true, OpPing, "hi")...)
		out = append(out, pushFrame(0, true, 0, m[10:])...)
		for _, b := range out { // one byte per segment
			if _, err := c.Write([]byte{b}); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
		var h [6]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Errorf("pong: %v", err)
			return
		}
		p := make([]byte, h[1]&0x7f)
		io.ReadFull(br, p)
		for i := range p {
			p[i] ^= h[2+i&3]
		}
		pongs <- string([]byte{h[0], h[1]}) + string(p)
		br.ReadByte() // until the client closes
	})
	c, err := Dial(addr, "/push")
	if err != nil {
		t.Fatal(err)
	}
	p := StartPush([]*Conn{c}, time.Minute)
	if p.pollers == nil {
		p.Stop()
		t.Fatal("Push did not move a TCP connection to epoll")
	}
	select {
	case got := <-pongs:
		if want := "\x8a\x82hi"; got != want {
			t.Errorf("pong %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Error("no pong within 10 s")
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Received() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n, seq := p.Received(), p.MaxSeq(); n != 2 || seq != 2 {
		t.Errorf("received %d messages up to seq %d, want 2 up to 2", n, seq)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
}

// TestPollerErrors: a bad frame and a server that goes away are reported
// by Stop.
func TestPollerErrors(t *testing.T) {
	for name, serve := range map[string]struct {
		first []byte
		want  error
	}{
		"masked frame": {[]byte{0x81, 0x81, 0, 0, 0, 0, 'a'}, ErrFrame},
		"closed":       {nil, io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			addr := rawServer(t, serve.first, func(net.Conn, *bufio.Reader) {})
			c, err := Dial(addr, "/push")
			if err != nil {
				t.Fatal(err)
			}
			p := StartPush([]*Conn{c}, time.Minute)
			if p.pollers == nil {
				t.Error("Push did not move a TCP connection to epoll")
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				p.mu.Lock()
				failed := p.err != nil
				p.mu.Unlock()
				if failed {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err := p.Stop(); !errors.Is(err, serve.want) {
				t.Errorf("Stop = %v, want %v", err, serve.want)
			}
		})
	}
}
