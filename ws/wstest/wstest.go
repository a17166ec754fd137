// Package wstest is a minimal WebSocket client for tests: it dials a real
// ws.Server over TCP (or runs the handshake over any net.Conn, such as one
// end of net.Pipe), reads server frames and writes masked client frames,
// including deliberately malformed ones. It imports only the standard
// library and ws/internal/frame.
package wstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// Opcode is a frame opcode (RFC 6455 §5.2).
type Opcode uint8

// Opcodes.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// MaxMessage bounds the messages ReadMessage accepts.
const MaxMessage = 16 << 20

// Conn is the client end of a WebSocket connection. It is not safe for
// concurrent use, except that reading and writing may happen on two
// goroutines.
type Conn struct {
	nc          net.Conn
	br          *bufio.Reader
	closeCode   uint16
	closeReason string
	gotClose    bool
	msg         []byte // fragmented message being assembled
	msgOp       Opcode
}

// Dial connects to rawURL ("ws://127.0.0.1:port/path") and performs the
// opening handshake; see Handshake. ctx bounds dialing and the handshake.
func Dial(ctx context.Context, rawURL string, header http.Header) (*Conn, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: parse url: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("wstest: unsupported scheme %q", u.Scheme)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: dial: %w", err)
	}
	c, resp, err := Handshake(ctx, nc, rawURL, header)
	if err != nil {
		nc.Close()
	}
	return c, resp, err
}

// Handshake sends an upgrade request for rawURL over nc and checks the
// response: status 101 and a Sec-WebSocket-Accept matching the key sent.
// Entries in header are added to the request; a header named like one of
// the handshake's own (Origin, Sec-WebSocket-Version, Sec-WebSocket-Key,
// Upgrade, Connection) replaces it, so tests can send invalid requests. On
// a non-101 answer the response is returned with its body read into memory,
// together with an error. nc is not closed on error.
func Handshake(ctx context.Context, nc net.Conn, rawURL string, header http.Header) (*Conn, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: parse url: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(raw[:]))
	h.Set("Sec-WebSocket-Version", "13")
	for k, v := range header {
		h[http.CanonicalHeaderKey(k)] = v
	}
	key := h.Get("Sec-WebSocket-Key")
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	if err := h.Write(&req); err != nil {
		return nil, nil, fmt.Errorf("wstest: write request: %w", err)
	}
	req.WriteString("\r\n")
	if _, err := nc.Write(req.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("wstest: write request: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: read response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fmt.Errorf("wstest: handshake: status %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		return nil, resp, fmt.Errorf("wstest: handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return &Conn{nc: nc, br: br}, resp, nil
}

// AcceptKey returns the Sec-WebSocket-Accept value for key (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// NetConn returns the underlying connection, for deadlines or an abrupt
// Close.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetDeadline sets the read and write deadline of the underlying connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// ReadFrame reads one server frame. Server frames must not be masked.
func (c *Conn) ReadFrame() (fin bool, op Opcode, payload []byte, err error) {
	var hb [frame.MaxHeaderLen]byte
	n := 0
	for {
		h, hl, err := frame.Parse(hb[:n])
		if err != nil {
			return false, 0, nil, fmt.Errorf("wstest: read frame header: %w", err)
		}
		if hl > 0 {
			if h.Masked {
				return false, 0, nil, errors.New("wstest: read frame header: masked server frame")
			}
			if h.Length > MaxMessage {
				return false, 0, nil, fmt.Errorf("wstest: read frame header: length %d too large", h.Length)
			}
			payload = make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return false, 0, nil, fmt.Errorf("wstest: read frame payload: %w", err)
			}
			if Opcode(h.Opcode) == OpClose {
				c.gotClose = true
				if len(payload) >= 2 {
					c.closeCode = binary.BigEndian.Uint16(payload)
					c.closeReason = string(payload[2:])
				}
			}
			if h.RSV != 0 {
				return false, 0, nil, errors.New("wstest: read frame header: RSV bits set")
			}
			return h.Fin, Opcode(h.Opcode), payload, nil
		}
		b, err := c.br.ReadByte()
		if err != nil {
			return false, 0, nil, fmt.Errorf("wstest: read frame header: %w", err)
		}
		hb[n] = b
		n++
	}
}

// ReadMessage returns the next control frame or complete data message,
// reassembling fragmented messages; control frames interleaved with
// fragments are returned as they arrive. A close frame is returned as
// OpClose; CloseCode reports its code.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	for {
		fin, op, p, err := c.ReadFrame()
		if err != nil {
			return 0, nil, err
		}
		switch {
		case op >= OpClose:
			return op, p, nil
		case op == OpContinuation:
			if c.msgOp == 0 {
				return 0, nil, errors.New("wstest: read message: continuation without start")
			}
			c.msg = append(c.msg, p...)
		default:
			if c.msgOp != 0 {
				return 0, nil, errors.New("wstest: read message: new message inside fragmented message")
			}
			c.msgOp, c.msg = op, append(c.msg[:0], p...)
		}
		if len(c.msg) > MaxMessage {
			return 0, nil, errors.New("wstest: read message: too large")
		}
		if fin {
			op, msg := c.msgOp, c.msg
			c.msgOp, c.msg = 0, nil
			return op, msg, nil
		}
	}
}

// ReadText returns the next text message, answering pings and skipping
// pongs on the way. A close frame from the server ends it with an error.
func (c *Conn) ReadText() ([]byte, error) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		switch op {
		case OpText:
			return p, nil
		case OpPing:
			if err := c.WriteFrame(true, OpPong, p); err != nil {
				return nil, err
			}
		case OpClose:
			return nil, fmt.Errorf("wstest: read text: server closed with %d %q", c.closeCode, c.closeReason)
		case OpPong:
		default:
			return nil, fmt.Errorf("wstest: read text: unexpected opcode %d", op)
		}
	}
}

// CloseCode returns the code and reason of the server's close frame, and
// whether one has been read. An empty close frame reports code 0.
func (c *Conn) CloseCode() (code uint16, reason string, ok bool) {
	return c.closeCode, c.closeReason, c.gotClose
}

// WriteFrame writes one masked frame with a random key.
func (c *Conn) WriteFrame(fin bool, op Opcode, payload []byte) error {
	h := frame.Header{Fin: fin, Opcode: frame.Opcode(op), Masked: true, Length: uint64(len(payload))}
	_, _ = rand.Read(h.Key[:])
	b := make([]byte, frame.Len(h.Length, true)+len(payload))
	n := frame.Put(b, h)
	copy(b[n:], payload)
	frame.Mask(h.Key, b[n:])
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("wstest: write frame: %w", err)
	}
	return nil
}

// WriteText writes payload as one text message.
func (c *Conn) WriteText(payload string) error { return c.WriteFrame(true, OpText, []byte(payload)) }

// WriteRaw writes b as is, for malformed input.
func (c *Conn) WriteRaw(b []byte) error {
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("wstest: write raw: %w", err)
	}
	return nil
}

// Frame encodes a client frame with the given mask key, for WriteRaw and
// for building test input. Set masked to false to produce an invalid
// unmasked client frame.
func Frame(fin bool, op Opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := frame.Header{Fin: fin, Opcode: frame.Opcode(op), Masked: masked, Key: key, Length: uint64(len(payload))}
	b := make([]byte, frame.Len(h.Length, masked)+len(payload))
	n := frame.Put(b, h)
	copy(b[n:], payload)
	if masked {
		frame.Mask(key, b[n:])
	}
	return b
}

// Close sends a close frame with code and reason (code 0 sends an empty
// close), waits up to 5 s for the server's close frame (discarding other
// frames) and closes the connection. It returns the first error.
func (c *Conn) Close(code uint16, reason string) error {
	var p []byte
	if code != 0 {
		p = binary.BigEndian.AppendUint16(nil, code)
		p = append(p, reason...)
	}
	err := c.WriteFrame(true, OpClose, p)
	if err == nil && !c.gotClose {
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !c.gotClose {
			if _, _, _, err = c.ReadFrame(); err != nil {
				break
			}
		}
	}
	if cerr := c.nc.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}
