package loadgen

import (
	"bytes"
	"errors"
	"testing"
)

type message struct {
	op      byte
	payload string
}

// viaReadFrame decodes b as a Push's goroutine reader does: messages up to
// a close, and whether the stream ended in a bad frame rather than cut
// short.
func viaReadFrame(b []byte) (msgs []message, bad bool) {
	c := reader(b)
	buf := make([]byte, msgLimit)
	for {
		op, p, err := c.ReadFrame(buf)
		if err != nil {
			return msgs, errors.Is(err, ErrFrame)
		}
		msgs = append(msgs, message{op, string(p)})
		if op == OpClose {
			return msgs, false
		}
	}
}

// viaParser decodes b as a poller does, b arriving in pieces of at most
// chunk bytes.
func viaParser(b []byte, chunk int) (msgs []message, bad bool) {
	m := msgParser{limit: msgLimit}
	var in []byte
	for len(b) > 0 {
		k := min(chunk, len(b))
		in, b = append(in, b[:k]...), b[k:]
		for {
			op, p, used, err := m.next(in)
			if err != nil {
				return msgs, true
			}
			if used == 0 {
				break
			}
			in = in[used:]
			switch op {
			case 0, OpPing, OpPong:
			default:
				if op > OpClose { // ReadFrame skips reserved control opcodes
					continue
				}
				if op == OpClose { // ReadFrame does not return its payload
					return append(msgs, message{op, ""}), false
				}
				msgs = append(msgs, message{op, string(p)})
			}
		}
	}
	return msgs, false
}

func checkSameDecoding(t *testing.T, b []byte, chunk int) {
	t.Helper()
	want, wantBad := viaReadFrame(b)
	got, gotBad := viaParser(b, chunk)
	if len(got) != len(want) || gotBad != wantBad {
		t.Fatalf("%x in pieces of %d: parser %q (bad frame %v), ReadFrame %q (bad frame %v)", b, chunk, got, gotBad, want, wantBad)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%x in pieces of %d: message %d: parser %q, ReadFrame %q", b, chunk, i, got[i], want[i])
		}
	}
}

// TestParserMatchesReadFrame: the poller's parser takes the messages
// ReadFrame takes, refuses the frames it refuses, and does not depend on
// how the bytes arrive.
func TestParserMatchesReadFrame(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	for name, b := range map[string][]byte{
		"text":             {0x81, 2, 'h', 'i'},
		"two":              {0x81, 1, 'a', 0x82, 1, 'b'},
		"fragments":        {0x01, 1, 'a', 0x89, 0, 0x80, 1, 'b'},
		"16-bit length":    append([]byte{0x81, 126, 1, 44}, long...),
		"64-bit length":    {0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3},
		"close":            {0x81, 1, 'a', 0x88, 0, 0x81, 1, 'b'},
		"masked":           {0x81, 0x81, 0, 0, 0, 0, 'a'},
		"reserved bit":     {0xc1, 1, 'a'},
		"long control":     {0x89, 126, 0, 126},
		"continuation":     {0x80, 1, 'a'},
		"text in fragment": {0x01, 1, 'a', 0x81, 1, 'b'},
		"over limit":       {0x81, 127, 0, 0, 0, 0, 0, 0, 4, 1},
		"fragments over":   append(append([]byte{0x01, 126, 2, 0}, make([]byte, 512)...), append([]byte{0x80, 126, 2, 1}, make([]byte, 513)...)...),
		"cut short":        {0x81, 5, 'a'},
	} {
		t.Run(name, func(t *testing.T) {
			for _, chunk := range []int{1, 2, 3, 7, len(b)} {
				checkSameDecoding(t, b, chunk)
			}
		})
	}
}

// FuzzParser: for any bytes in any pieces, the poller's parser decodes what
// ReadFrame decodes.
func FuzzParser(f *testing.F) {
	f.Add([]byte{0x81, 2, 'h', 'i'}, uint8(1))
	f.Add([]byte{0x01, 1, 'a', 0x89, 0, 0x80, 1, 'b'}, uint8(3))
	f.Add([]byte{0x82, 126, 0, 3, 1, 2, 3}, uint8(2))
	f.Add([]byte{0x81, 0x81, 0, 0, 0, 0, 'a'}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		checkSameDecoding(t, b, int(chunk)+1)
	})
}
