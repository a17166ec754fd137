package ws

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

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
		{"binary", header(0x82, 3), 1003},
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
