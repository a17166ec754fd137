package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func cframe(fin bool, op wstest.Opcode, payload string) []byte {
	return wstest.Frame(fin, op, []byte(payload), true, testKey)
}

// header builds a masked client header only, with no payload, so that a
// test proves the server rejects it before reading the payload.
func header(b0 byte, length uint64) []byte {
	var b []byte
	switch {
	case length > 0xFFFF:
		b = append([]byte{b0, 0x80 | 127}, binary.BigEndian.AppendUint64(nil, length)...)
	case length > 125:
		b = append([]byte{b0, 0x80 | 126}, binary.BigEndian.AppendUint16(nil, uint16(length))...)
	default:
		b = []byte{b0, 0x80 | byte(length)}
	}
	return append(b, testKey[:]...)
}

func closePayload(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

func TestReadRejections(t *testing.T) {
	const limit = 1024
	tests := []struct {
		name  string
		input []byte
		want  uint16 // close code the client must see; 0 for an empty close
	}{
		{"rsv1", header(0x80|0x40|0x1, 5), 1002},
		{"rsv2", header(0x80|0x20|0x1, 5), 1002},
		{"rsv3", header(0x80|0x10|0x1, 5), 1002},
		{"reserved opcode 3", header(0x80|0x3, 0), 1002},
		{"reserved opcode 7", header(0x80|0x7, 0), 1002},
		{"reserved control opcode B", header(0x80|0xB, 0), 1002},
		{"reserved control opcode F", header(0x80|0xF, 0), 1002},
		{"unmasked text", wstest.Frame(true, wstest.OpText, []byte("hi"), false, testKey), 1002},
		{"ping 126 bytes", header(0x80|0x9, 126), 1002},
		{"close 126 bytes", header(0x80|0x8, 126), 1002},
		{"fragmented ping", header(0x9, 1), 1002},
		{"fragmented close", header(0x8, 0), 1002},
		{"64-bit length with top bit", header(0x81, 1<<63), 1002},
		{"64-bit length 2^63-1", header(0x81, 1<<63-1), 1009},
		{"text over ReadLimit", header(0x81, limit+1), 1009},
		{"text 65536", header(0x81, 65536), 1009},
		{"fragments over ReadLimit", append(cframe(false, wstest.OpText, strings.Repeat("a", 600)), header(0x00, 600)...), 1009},
		{"continuation without start", cframe(true, wstest.OpContinuation, "x"), 1002},
		{"text inside fragmented text", append(cframe(false, wstest.OpText, "a"), cframe(true, wstest.OpText, "b")...), 1002},
		{"binary inside fragmented text", append(cframe(false, wstest.OpText, "a"), cframe(true, wstest.OpBinary, "b")...), 1002},
		{"16-bit length below 126", []byte{0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4}, 1002},
		{"64-bit length below 65536", []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3, 4}, 1002},
		// Fail fast: the rest of the frame or message is never sent.
		{"invalid UTF-8 mid-frame", cframe(true, wstest.OpText, "a\xff"+strings.Repeat("b", 98))[:8], 1007},
		{"surrogate prefix mid-frame", cframe(true, wstest.OpText, "a\xed\xa0"+strings.Repeat("b", 97))[:9], 1007},
		{"invalid UTF-8 in an unfinished message", cframe(false, wstest.OpText, "a\xc0"), 1007},
		{"invalid UTF-8", cframe(true, wstest.OpText, "a\xffb"), 1007},
		{"truncated UTF-8", cframe(true, wstest.OpText, "a\xe2\x82"), 1007},
		{"invalid UTF-8 across fragments", append(cframe(false, wstest.OpText, "a\xe2"), cframe(true, wstest.OpContinuation, "\x82")...), 1007},
		{"close 1-byte payload", cframe(true, wstest.OpClose, "\x03"), 1002},
		{"close code 0", cframe(true, wstest.OpClose, closePayload(0, "")), 1002},
		{"close code 999", cframe(true, wstest.OpClose, closePayload(999, "")), 1002},
		{"close code 1004", cframe(true, wstest.OpClose, closePayload(1004, "")), 1002},
		{"close code 1005", cframe(true, wstest.OpClose, closePayload(1005, "")), 1002},
		{"close code 1006", cframe(true, wstest.OpClose, closePayload(1006, "")), 1002},
		{"close code 1015", cframe(true, wstest.OpClose, closePayload(1015, "")), 1002},
		{"close code 2000", cframe(true, wstest.OpClose, closePayload(2000, "")), 1002},
		{"close code 5000", cframe(true, wstest.OpClose, closePayload(5000, "")), 1002},
		{"close invalid UTF-8 reason", cframe(true, wstest.OpClose, closePayload(1000, "\xff")), 1007},
		// Valid closes are echoed.
		{"close 1000", cframe(true, wstest.OpClose, closePayload(1000, "bye")), 1000},
		{"close 1001", cframe(true, wstest.OpClose, closePayload(1001, "")), 1001},
		{"close 1011", cframe(true, wstest.OpClose, closePayload(1011, "")), 1011},
		{"close 3000", cframe(true, wstest.OpClose, closePayload(3000, "")), 3000},
		{"close 4999", cframe(true, wstest.OpClose, closePayload(4999, "é")), 4999},
		{"close empty", cframe(true, wstest.OpClose, ""), 0},
		{"close inside fragmented message", append(cframe(false, wstest.OpText, "a"), cframe(true, wstest.OpClose, closePayload(1000, ""))...), 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			_, url := startServer(t, rec.opts(&Options{ReadLimit: limit}))
			c := dial(t, url, nil)
			if err := c.WriteRaw(tt.input); err != nil {
				t.Fatal(err)
			}
			if got := readClose(t, c); got != tt.want {
				t.Fatalf("close code %d, want %d", got, tt.want)
			}
			err := rec.closeErr(t)
			wantStatus := StatusCode(tt.want)
			if tt.want == 0 {
				wantStatus = StatusNoStatusRcvd
			}
			if got := CloseStatus(err); got != wantStatus {
				t.Fatalf("OnClose err %v: CloseStatus %d, want %d", err, got, wantStatus)
			}
			if tt.want == 1009 && !errors.Is(err, ErrMessageTooBig) {
				t.Fatalf("OnClose err %v does not wrap ErrMessageTooBig", err)
			}
			select {
			case m := <-rec.msgs:
				t.Fatalf("message %q delivered from a rejected stream", m)
			default:
			}
		})
	}
}

func TestFragmentationWithInterleavedPing(t *testing.T) {
	rec := newRecorder()
	_, url := startServer(t, rec.opts(&Options{}))
	c := dial(t, url, nil)
	var in []byte
	in = append(in, cframe(false, wstest.OpText, "Hel")...)
	in = append(in, cframe(true, wstest.OpPing, "p1")...)
	in = append(in, cframe(false, wstest.OpContinuation, "lo")...)
	in = append(in, cframe(true, wstest.OpPong, "unsolicited")...)
	in = append(in, cframe(false, wstest.OpContinuation, "")...)
	in = append(in, cframe(true, wstest.OpPing, "p2")...)
	in = append(in, cframe(true, wstest.OpContinuation, ", €!")...)
	in = append(in, cframe(true, wstest.OpText, "second")...)
	// Send it a few bytes at a time, so that frames straddle reads.
	for i := 0; i < len(in); i += 3 {
		if err := c.WriteRaw(in[i:min(i+3, len(in))]); err != nil {
			t.Fatal(err)
		}
	}
	if m := rec.msg(t); m != "Hello, €!" {
		t.Fatalf("message %q", m)
	}
	if m := rec.msg(t); m != "second" {
		t.Fatalf("message %q", m)
	}
	// Pongs answer the pings with their payload (the first may be replaced
	// by the second if both were pending at once).
	op, p, err := c.ReadMessage()
	if err != nil || op != wstest.OpPong || (string(p) != "p1" && string(p) != "p2") {
		t.Fatalf("ReadMessage = %v %q %v, want pong", op, p, err)
	}
	if string(p) == "p1" {
		op, p, err = c.ReadMessage()
		if err != nil || op != wstest.OpPong || string(p) != "p2" {
			t.Fatalf("ReadMessage = %v %q %v, want pong p2", op, p, err)
		}
	}
}

func TestUTF8SplitAcrossFragments(t *testing.T) {
	rec := newRecorder()
	_, url := startServer(t, rec.opts(&Options{}))
	c := dial(t, url, nil)
	// "€" is E2 82 AC; "😀" is F0 9F 98 80.
	parts := []string{"a\xe2", "\x82", "\xacb\xf0\x9f", "\x98", "\x80"}
	for i, p := range parts {
		op := wstest.OpContinuation
		if i == 0 {
			op = wstest.OpText
		}
		if err := c.WriteFrame(i == len(parts)-1, op, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if m := rec.msg(t); m != "a€b😀" {
		t.Fatalf("message %q", m)
	}
}

func TestMessageAtReadLimit(t *testing.T) {
	rec := newRecorder()
	_, url := startServer(t, rec.opts(&Options{ReadLimit: 300}))
	c := dial(t, url, nil)
	full := strings.Repeat("z", 300)
	// Whole, then fragmented with a control frame of 125 bytes between the
	// last fragments, which needs the read array's slack.
	if err := c.WriteText(full); err != nil {
		t.Fatal(err)
	}
	var in []byte
	in = append(in, cframe(false, wstest.OpText, full[:150])...)
	in = append(in, cframe(false, wstest.OpContinuation, full[150:299])...)
	in = append(in, cframe(true, wstest.OpPing, strings.Repeat("p", 125))...)
	in = append(in, cframe(true, wstest.OpContinuation, full[299:])...)
	if err := c.WriteRaw(in); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if m := rec.msg(t); m != full {
			t.Fatalf("message of %d bytes, want %d", len(m), len(full))
		}
	}
	if op, p, err := c.ReadMessage(); err != nil || op != wstest.OpPong || len(p) != 125 {
		t.Fatalf("ReadMessage = %v, %d bytes, %v", op, len(p), err)
	}
}

func TestServerClose(t *testing.T) {
	rec := newRecorder()
	opened := make(chan *Conn, 1)
	o := rec.opts(&Options{})
	o.OnOpen = func(c *Conn) { opened <- c }
	_, url := startServer(t, o)
	c := dial(t, url, nil)
	sc := <-opened
	if err := sc.Close(StatusCode(999), ""); err == nil {
		t.Fatal("Close accepted code 999")
	}
	if err := sc.Close(StatusNormalClosure, strings.Repeat("r", 124)); err == nil {
		t.Fatal("Close accepted a 124-byte reason")
	}
	if err := sc.Close(StatusPolicyViolation, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(StatusPolicyViolation, "again"); err == nil {
		t.Fatal("second Close returned nil, want net.ErrClosed")
	}
	op, p, err := c.ReadMessage()
	if err != nil || op != wstest.OpClose || string(p) != closePayload(1008, "bye") {
		t.Fatalf("ReadMessage = %v %q %v", op, p, err)
	}
	if err := c.WriteFrame(true, wstest.OpClose, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("connection still open after the close handshake")
	}
	if err := rec.closeErr(t); CloseStatus(err) != StatusPolicyViolation {
		t.Fatalf("OnClose err %v", err)
	}
	if err := sc.Send([]byte("late")); err == nil {
		t.Fatal("Send after close returned nil")
	}
}

// TestEchoWrite echoes text and binary messages, fragmented or not, with
// Conn.Write from OnMessage, and checks type and bytes; the client
// pipelines more messages than the send queue holds, so Write must wait
// for room instead of failing.
func TestEchoWrite(t *testing.T) {
	errs := make(chan error, 100)
	_, url := startServer(t, &Options{ReadLimit: 1 << 17, SendQueue: 2, OnMessage: func(c *Conn, typ MessageType, p []byte) {
		if err := c.Write(typ, p); err != nil {
			errs <- err
		}
	}})
	c := dial(t, url, nil)
	bin := make([]byte, 70000)
	for i := range bin {
		bin[i] = byte(i)
	}
	var raw []byte
	for i := range 20 {
		raw = append(raw, cframe(true, wstest.OpText, fmt.Sprintf("msg %d κ", i))...)
	}
	raw = append(raw, wstest.Frame(false, wstest.OpBinary, bin[:40000], true, testKey)...)
	raw = append(raw, cframe(true, wstest.OpPing, "p")...)
	raw = append(raw, wstest.Frame(true, wstest.OpContinuation, bin[40000:], true, testKey)...)
	raw = append(raw, cframe(false, wstest.OpText, "a\xe2")...)
	raw = append(raw, cframe(true, wstest.OpContinuation, "\x82\xac")...)
	if err := c.WriteRaw(raw); err != nil {
		t.Fatal(err)
	}
	// Control frames overtake queued data, so the pong may come anywhere.
	var texts []string
	seen := map[wstest.Opcode]int{}
	for range 23 {
		op, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		seen[op]++
		switch op {
		case wstest.OpBinary:
			if !bytes.Equal(p, bin) {
				t.Fatalf("binary echo differs (%d bytes)", len(p))
			}
		case wstest.OpText:
			texts = append(texts, string(p))
		case wstest.OpPong:
			if string(p) != "p" {
				t.Fatalf("pong %q", p)
			}
		}
	}
	if seen[wstest.OpBinary] != 1 || seen[wstest.OpText] != 21 || seen[wstest.OpPong] != 1 {
		t.Fatalf("got %v", seen)
	}
	for i := range 20 {
		if texts[i] != fmt.Sprintf("msg %d κ", i) {
			t.Fatalf("text %d = %q", i, texts[i])
		}
	}
	if texts[20] != "a€" {
		t.Fatalf("last text %q", texts[20])
	}
	select {
	case err := <-errs:
		t.Fatalf("Write: %v", err)
	default:
	}
}

func TestWriteRejects(t *testing.T) {
	s := NewServer(nil)
	c := s.newConn(discardConn{})
	if err := c.Write(MessageText, []byte("a\xff")); err == nil {
		t.Error("Write accepted invalid UTF-8")
	}
	if err := c.Write(MessageType(9), nil); err == nil {
		t.Error("Write accepted message type 9")
	}
	// Before the connection joins the broadcast set (OnOpen), Write writes at
	// once: more messages than the ring holds all go through.
	for range 2 * len(c.ring) {
		if err := c.Write(MessageBinary, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	c.closeTCP(nil)
	if err := c.Write(MessageBinary, []byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after close: %v, want net.ErrClosed", err)
	}
}

// TestWriteWaitEndsOnClose: a Write waiting for queue room behind a client
// that reads nothing returns net.ErrClosed when the connection closes.
func TestWriteWaitEndsOnClose(t *testing.T) {
	_, srv := tcpPair(t) // the client end is never read
	s := NewServer(&Options{SendQueue: 1, WriteTimeout: time.Minute})
	c := s.newConn(srv)
	c.unhold()
	big := make([]byte, 4<<20)
	errc := make(chan error, 1)
	go func() {
		for {
			if err := c.Write(MessageBinary, big); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := 0; ; i++ {
		c.mu.Lock()
		blocked := c.tail-c.head == 1 && c.writing
		c.mu.Unlock()
		if blocked {
			break
		}
		if i > 5000 {
			t.Fatal("Write never filled the queue")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let the next Write reach its wait; the test passes either way
	c.closeTCP(errors.New("test"))
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write still waiting after close")
	}
}

// holdsReadArray reports, after the reader has gone back to waiting,
// whether the server's only connection keeps a read array.
func holdsReadArray(t *testing.T, s *Server) bool {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // let the reader reach its wait
	st := s.Stats()
	if st.Conns != 1 || st.ReadArrays > 1 {
		t.Fatalf("stats %+v", st)
	}
	return st.ReadArrays == 1
}

// TestReadArrayOnlyWhileReceiving: a TCP connection gives its read array
// back while it waits with nothing buffered, and keeps it (with its bytes)
// while a frame or a fragmented message is only partly received.
func TestReadArrayOnlyWhileReceiving(t *testing.T) {
	rec := newRecorder()
	s, url := startServer(t, rec.opts(&Options{PingInterval: -1}))
	c := dial(t, url, nil)
	waitConns(t, s, 1)
	if holdsReadArray(t, s) {
		t.Fatal("idle connection holds a read array")
	}
	msg := strings.Repeat("fragmented ü ", 30)
	parts := []string{msg[:100], msg[100:250], msg[250:]}
	for i, p := range parts {
		op := wstest.OpContinuation
		if i == 0 {
			op = wstest.OpText
		}
		f := cframe(i == len(parts)-1, op, p)
		// Each frame in two writes, the cut inside its payload.
		for j, chunk := range [][]byte{f[:len(f)/2], f[len(f)/2:]} {
			if err := c.WriteRaw(chunk); err != nil {
				t.Fatal(err)
			}
			last := i == len(parts)-1 && j == 1
			if held := holdsReadArray(t, s); held == last {
				t.Fatalf("fragment %d, write %d: holds a read array = %v", i, j, held)
			}
		}
	}
	if got := rec.msg(t); got != msg {
		t.Fatalf("message %q, want %q", got, msg)
	}
	// Ping and message again after idling: a new array from the pool.
	if err := c.WriteRaw(cframe(true, wstest.OpPing, "p")); err != nil {
		t.Fatal(err)
	}
	if op, p, err := c.ReadMessage(); err != nil || op != wstest.OpPong || string(p) != "p" {
		t.Fatalf("ReadMessage = %v %q %v, want the pong", op, p, err)
	}
	if err := c.WriteText("again"); err != nil {
		t.Fatal(err)
	}
	if got := rec.msg(t); got != "again" {
		t.Fatalf("message %q", got)
	}
	if holdsReadArray(t, s) {
		t.Fatal("idle connection holds a read array after messages")
	}
	// A connection torn down mid-frame gives its array back.
	if err := c.WriteRaw(cframe(true, wstest.OpText, "cut short")[:5]); err != nil {
		t.Fatal(err)
	}
	if !holdsReadArray(t, s) {
		t.Fatal("no read array for a partial frame")
	}
	c.NetConn().Close()
	<-rec.closed
	if st := s.Stats(); st.Conns != 0 || st.ReadArrays != 0 {
		t.Fatalf("after the close: stats %+v", st)
	}
}
