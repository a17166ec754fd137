package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

// scriptConn is a net.Conn that plays a fixed inbound byte stream in
// chunks, then reports io.EOF, and records what the server writes.
type scriptConn struct {
	in    io.Reader
	chunk int
	mu    sync.Mutex
	out   bytes.Buffer
	shut  bool
}

func (c *scriptConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	shut := c.shut
	c.mu.Unlock()
	if shut {
		return 0, net.ErrClosed
	}
	if len(b) > c.chunk {
		b = b[:c.chunk]
	}
	return c.in.Read(b)
}

func (c *scriptConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return 0, net.ErrClosed
	}
	return c.out.Write(b)
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = true
	return nil
}

func (c *scriptConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (*scriptConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (*scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (*scriptConn) SetDeadline(t time.Time) error      { return nil }
func (*scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (*scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// fuzzOptions keep each fuzz server small: the frame pool is allocated per
// server.
func fuzzOptions(o *Options) *Options {
	o.ReadLimit = 256
	o.SendQueue = 1
	o.MaxBroadcast = 16
	o.PingInterval = -1
	return o
}

// shutdownQuickly waits for every goroutine of s, then for any writer.
func shutdownQuickly(t *testing.T, s *Server, conns ...*Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range conns {
		for i := 0; ; i++ {
			c.mu.Lock()
			busy := c.writing
			c.mu.Unlock()
			if !busy {
				break
			}
			if i > 1e7 {
				t.Fatal("writer did not exit")
			}
			runtime.Gosched()
		}
	}
}

// checkServerOutput parses what the server wrote: only unmasked pongs and
// at most one close frame, last, with a valid code.
func checkServerOutput(t *testing.T, out []byte) (closeCode uint16, sawClose bool) {
	t.Helper()
	for len(out) > 0 {
		if sawClose {
			t.Fatalf("bytes after the close frame: % x", out)
		}
		h, n, err := frame.Parse(out)
		if err != nil || n == 0 || h.Masked || h.RSV != 0 || !h.Fin || uint64(len(out)-n) < h.Length {
			t.Fatalf("malformed server frame % x (%+v, %v)", out, h, err)
		}
		p := out[n : n+int(h.Length)]
		switch h.Opcode {
		case frame.OpPong:
		case frame.OpClose:
			sawClose = true
			if len(p) == 1 {
				t.Fatalf("close frame with 1-byte body")
			}
			if len(p) >= 2 {
				closeCode = uint16(p[0])<<8 | uint16(p[1])
				if !frame.ValidReceivedCloseCode(closeCode) || !utf8.Valid(p[2:]) {
					t.Fatalf("invalid close frame sent: % x", p)
				}
			}
		default:
			t.Fatalf("unexpected server opcode %v", h.Opcode)
		}
		out = out[n+int(h.Length):]
	}
	return closeCode, sawClose
}

// FuzzReadFrames feeds an arbitrary inbound byte stream, in reads of
// 1 to 64 bytes, to a connection. It must never panic, must deliver only
// valid UTF-8 text, must end either open (the stream simply ran out) or
// with a valid close code, and must not allocate while reading and parsing
// (checkParseAllocs).
func FuzzReadFrames(f *testing.F) {
	k := testKey
	f.Add(byte(64), wstest.Frame(true, wstest.OpText, []byte("hello"), true, k))
	for _, n := range []int{125, 126, 127, 256, 257} {
		f.Add(byte(7), wstest.Frame(true, wstest.OpText, bytes.Repeat([]byte("a"), n), true, k))
	}
	f.Add(byte(1), header(0x81, 65535))
	f.Add(byte(3), header(0x81, 65536))
	f.Add(byte(64), header(0x81, 1<<63))
	f.Add(byte(64), append(append(wstest.Frame(false, wstest.OpText, []byte("a\xe2"), true, k),
		wstest.Frame(true, wstest.OpPing, []byte("p"), true, k)...),
		wstest.Frame(true, wstest.OpContinuation, []byte("\x82\xac"), true, k)...))
	f.Add(byte(64), wstest.Frame(true, wstest.OpClose, []byte{0x03, 0xe8, 'o', 'k'}, true, k))
	f.Add(byte(64), wstest.Frame(true, wstest.OpClose, []byte{0x03}, true, k))
	f.Add(byte(64), wstest.Frame(true, wstest.OpText, []byte{0xff}, true, k))
	f.Add(byte(64), wstest.Frame(true, wstest.OpText, []byte("x"), false, k))
	f.Fuzz(func(t *testing.T, chunk byte, in []byte) {
		checkParseAllocs(t, in, int(chunk%64)+1) // first, while no goroutine of ours runs
		var cause error
		s := NewServer(fuzzOptions(&Options{
			OnMessage: func(c *Conn, typ MessageType, p []byte) {
				if (typ == MessageText && !utf8.Valid(p)) || typ > MessageBinary || len(p) > 256 {
					t.Errorf("delivered invalid message % x", p)
				}
			},
			OnClose: func(c *Conn, err error) { cause = err },
		}))
		sc := &scriptConn{in: bytes.NewReader(in), chunk: int(chunk%64) + 1}
		c := s.newConn(sc)
		s.reserved.Add(1)
		s.open(c)
		shutdownQuickly(t, s, c)
		code, sawClose := checkServerOutput(t, sc.output())
		status := CloseStatus(cause)
		switch {
		case status == 0: // ended open: the stream ran out
		case status == StatusNoStatusRcvd, status == StatusGoingAway:
		case !frame.ValidReceivedCloseCode(uint16(status)):
			t.Fatalf("ended with invalid close status %d (%v)", status, cause)
		case sawClose && code != uint16(status) && code != 0:
			t.Fatalf("sent close %d but OnClose got %v", code, cause)
		}
	})
}

// checkParseAllocs reads and parses the stream again, synchronously, on a
// connection of its own, and requires every read and parse step that
// neither fails nor closes to allocate nothing: whatever the input, the
// reader works within its fixed read array. Allocation counts are
// process-wide, so a step that allocated is checked once more on a fresh
// connection, and only an allocation that repeats fails.
func checkParseAllocs(t *testing.T, in []byte, chunk int) {
	t.Helper()
	step, n := parseAllocs(t, in, chunk)
	if step < 0 {
		return
	}
	if step2, n2 := parseAllocs(t, in, chunk); step2 == step {
		t.Fatalf("%d (then %d) allocations in read and parse step %d", n, n2, step)
	}
}

// parseAllocs returns the first read and parse step that allocated and
// how often, or -1.
func parseAllocs(t *testing.T, in []byte, chunk int) (step int, n uint64) {
	s := NewServer(fuzzOptions(&Options{OnMessage: func(*Conn, MessageType, []byte) {}}))
	c := s.newConn(&scriptConn{in: bytes.NewReader(in), chunk: chunk})
	rlen, qlen := len(c.rbuf), len(c.ring)
	defer func() {
		if len(c.rbuf) != rlen || len(c.ring) != qlen {
			t.Fatalf("fixed arrays resized: read array %d→%d, ring %d→%d", rlen, len(c.rbuf), qlen, len(c.ring))
		}
	}()
	var before, after runtime.MemStats
	for i := range len(in) + 2 {
		runtime.ReadMemStats(&before)
		err := c.parseBuffered()
		if err == nil {
			err = c.fill()
		}
		runtime.ReadMemStats(&after)
		if err != nil {
			return -1, 0
		}
		if n := after.Mallocs - before.Mallocs; n != 0 {
			return i, n
		}
	}
	return -1, 0
}

// FuzzHandshake feeds arbitrary request bytes through net/http's request
// parser to ServeHTTP. A 101 answer requires a valid upgrade request and
// carries the right Sec-WebSocket-Accept; anything else is one of the
// documented error statuses.
func FuzzHandshake(f *testing.F) {
	ok := "GET /ws HTTP/1.1\r\nHost: pi\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	f.Add(ok + "\r\n")
	f.Add(ok + "Origin: http://pi\r\n\r\n")
	f.Add(ok + "Origin: http://evil\r\n\r\n")
	f.Add(ok + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	f.Add(strings.Replace(ok, "13", "8", 1) + "\r\n")
	f.Add(strings.Replace(ok, "GET", "POST", 1) + "Content-Length: 0\r\n\r\n")
	f.Add(strings.Replace(ok, "Upgrade\r\n", "keep-alive, upgrade\r\n", 1) + "\r\n")
	f.Add(ok + "\r\n" + string(wstest.Frame(true, wstest.OpText, []byte("early"), true, testKey)))
	f.Fuzz(func(t *testing.T, raw string) {
		src := strings.NewReader(raw)
		br := bufio.NewReader(src)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		s := NewServer(fuzzOptions(&Options{}))
		sc := &scriptConn{in: src, chunk: 64}
		rw := &hijackRW{h: http.Header{}, nc: sc, brw: bufio.NewReadWriter(br, bufio.NewWriter(sc))}
		s.ServeHTTP(rw, req)
		var conns []*Conn
		s.mu.RLock()
		conns = append(conns, s.conns...)
		s.mu.RUnlock()
		shutdownQuickly(t, s, conns...)
		if !rw.hijacked {
			switch rw.status {
			case 400, 403, 405, 426, 503:
			default:
				t.Fatalf("status %d", rw.status)
			}
			return
		}
		out := sc.output()
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), req)
		if err != nil {
			if len(out) == 0 {
				return // aborted: too many early bytes
			}
			t.Fatalf("unparsable 101 response %q: %v", out, err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("hijacked but answered %d", resp.StatusCode)
		}
		keys := req.Header.Values("Sec-WebSocket-Key")
		if req.Method != http.MethodGet || len(keys) != 1 || req.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Fatalf("upgraded an invalid request: %q", raw)
		}
		if k, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(k) != 16 {
			t.Fatalf("upgraded with key %q", keys[0])
		}
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wstest.AcceptKey(keys[0]) {
			t.Fatalf("Sec-WebSocket-Accept %q for key %q", got, keys[0])
		}
	})
}
