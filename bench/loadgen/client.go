// Package loadgen is a black-box WebSocket load generator written on raw
// TCP: the handshake, the frame parser and the masked client frames are its
// own, so every server under test gets exactly the same client work. It
// holds idle connections, receives broadcasts and measures their fan-out
// spread, and drives pipelined echo traffic.
package loadgen

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"
)

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit, for
// thousands of connections in one process.
func RaiseFileLimit() error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	return nil
}

// Conn is one client connection after a successful upgrade.
type Conn struct {
	nc    net.Conn
	br    *bufio.Reader
	cr    *countReader // nil for a Conn not made by Dial
	proto string       // the subprotocol the server chose, "" for none
}

// countReader counts the bytes read from the socket.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Subprotocol returns the subprotocol the server chose in the handshake,
// "" when it chose none.
func (c *Conn) Subprotocol() string { return c.proto }

// BytesRead returns the bytes this connection has consumed from the socket
// so far: the handshake response and every frame ReadFrame has returned or
// is reading (bytes read ahead into the buffer but not parsed yet do not
// count). It must not be called concurrently with ReadFrame.
func (c *Conn) BytesRead() int64 {
	if c.cr == nil {
		return 0
	}
	return c.cr.n - int64(c.br.Buffered())
}

// ErrHandshake reports a server that did not answer the upgrade with 101.
var ErrHandshake = errors.New("websocket handshake refused")

// Dial opens a TCP connection to addr and upgrades it on path.
func Dial(addr, path string) (*Conn, error) { return DialSubprotocols(addr, path) }

// ErrSubprotocol reports a server that chose a subprotocol the client did
// not offer.
var ErrSubprotocol = errors.New("websocket subprotocol not offered")

// DialSubprotocols is Dial offering the given subprotocols, in order of
// preference, in Sec-WebSocket-Protocol; Conn.Subprotocol tells which one
// the server chose.
func DialSubprotocols(addr, path string, protocols ...string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n"
	if len(protocols) > 0 {
		req += "Sec-WebSocket-Protocol: " + strings.Join(protocols, ", ") + "\r\n"
	}
	req += "\r\n"
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	cr := &countReader{r: nc}
	br := bufio.NewReaderSize(cr, 4096)
	status, err := br.ReadString('\n')
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		nc.Close()
		return nil, fmt.Errorf("%w: %q", ErrHandshake, strings.TrimSpace(status))
	}
	proto := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		if line == "\r\n" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Sec-WebSocket-Protocol") {
			proto = strings.TrimSpace(value)
		}
	}
	if proto != "" && !slices.Contains(protocols, proto) {
		nc.Close()
		return nil, fmt.Errorf("%w: %q", ErrSubprotocol, proto)
	}
	_ = nc.SetDeadline(time.Time{})
	return &Conn{nc: nc, br: br, cr: cr, proto: proto}, nil
}

// Close closes the TCP connection without a closing handshake.
func (c *Conn) Close() error { return c.nc.Close() }

// Frame opcodes.
const (
	OpText   = 1
	OpBinary = 2
	OpClose  = 8
	OpPing   = 9
	OpPong   = 10
)

// ErrFrame reports a frame this client does not accept from a server: a
// masked one, a reserved bit set, or one larger than the buffer.
var ErrFrame = errors.New("bad server frame")

// ReadFrame reads the next message into buf and returns its opcode and
// payload (a slice of buf); fragments are joined. Pings are answered with
// pongs.
func (c *Conn) ReadFrame(buf []byte) (op byte, payload []byte, err error) {
	var msgOp byte
	have := 0 // bytes of a fragmented message so far
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return 0, nil, err
		}
		if h[1]&0x80 != 0 || h[0]&0x70 != 0 {
			return 0, nil, fmt.Errorf("%w: header %x", ErrFrame, h)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(c.br, e[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		op = h[0] & 0x0f
		fin := h[0]&0x80 != 0
		if op >= OpClose { // control frames sit between fragments
			var cb [125]byte
			if n > 125 {
				return 0, nil, fmt.Errorf("%w: control frame of %d bytes", ErrFrame, n)
			}
			p := cb[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			if op == OpPing {
				if _, err := c.nc.Write(AppendFrame(nil, OpPong, p)); err != nil {
					return 0, nil, err
				}
				continue
			}
			if op == OpClose {
				return op, nil, nil
			}
			continue
		}
		if (op == 0) != (have > 0 || msgOp != 0) {
			return 0, nil, fmt.Errorf("%w: opcode %d out of sequence", ErrFrame, op)
		}
		if op != 0 {
			msgOp = op
		}
		if n > uint64(len(buf)-have) {
			return 0, nil, fmt.Errorf("%w: message over %d bytes", ErrFrame, len(buf))
		}
		p := buf[have : have+int(n)]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return 0, nil, err
		}
		have += int(n)
		if fin {
			return msgOp, buf[:have], nil
		}
	}
}

// mask is the fixed masking key of every client frame: the same work for
// every server, and frames can be built once.
var mask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// AppendFrame appends a final, masked client frame to b.
func AppendFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i&3])
	}
	return b
}

// pushSeq extracts N from a push message's "seq":N.
func pushSeq(p []byte) (uint64, bool) { return pushUint(p, `"seq":`) }

// pushTS extracts T from a push message's "ts":T, a positive number.
func pushTS(p []byte) (int64, bool) {
	n, ok := pushUint(p, `"ts":`)
	if !ok || n == 0 || n > math.MaxInt64/uint64(time.Millisecond) {
		return 0, false
	}
	return int64(n), true
}

// pushUint extracts the decimal digits after key; at most 19 of them, so
// the value cannot overflow.
func pushUint(p []byte, key string) (uint64, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return 0, false
	}
	var n uint64
	j := i + len(key)
	start := j
	for ; j < len(p) && p[j] >= '0' && p[j] <= '9'; j++ {
		if j-start == 19 {
			return 0, false
		}
		n = n*10 + uint64(p[j]-'0')
	}
	return n, j > start
}
