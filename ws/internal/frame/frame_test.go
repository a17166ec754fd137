package frame

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		length uint64
		masked bool
		want   []byte // encoded header
	}{
		{0, false, []byte{0x81, 0}},
		{125, false, []byte{0x81, 125}},
		{126, false, []byte{0x81, 126, 0, 126}},
		{127, false, []byte{0x81, 126, 0, 127}},
		{65535, false, []byte{0x81, 126, 0xFF, 0xFF}},
		{65536, false, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{1<<63 - 1, false, []byte{0x81, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{0, true, []byte{0x81, 0x80, 1, 2, 3, 4}},
		{125, true, []byte{0x81, 0x80 | 125, 1, 2, 3, 4}},
		{126, true, []byte{0x81, 0x80 | 126, 0, 126, 1, 2, 3, 4}},
		{65536, true, []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}},
		{1<<63 - 1, true, []byte{0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		h := Header{Fin: true, Opcode: OpText, Masked: tt.masked, Length: tt.length}
		if tt.masked {
			h.Key = [4]byte{1, 2, 3, 4}
		}
		var buf [MaxHeaderLen]byte
		n := Put(buf[:], h)
		if !bytes.Equal(buf[:n], tt.want) {
			t.Errorf("Put(len %d, masked %v) = % x, want % x", tt.length, tt.masked, buf[:n], tt.want)
		}
		if l := Len(tt.length, tt.masked); l != n {
			t.Errorf("Len(%d, %v) = %d, Put wrote %d", tt.length, tt.masked, l, n)
		}
		got, m, err := Parse(tt.want)
		if err != nil || m != len(tt.want) || got != h {
			t.Errorf("Parse(% x) = %+v, %d, %v; want %+v, %d", tt.want, got, m, err, h, len(tt.want))
		}
		// Every proper prefix asks for more bytes.
		for i := range len(tt.want) {
			if _, m, err := Parse(tt.want[:i]); m != 0 || err != nil {
				t.Errorf("Parse(prefix %d of % x) = %d, %v; want 0, nil", i, tt.want, m, err)
			}
		}
	}
}

func TestParseBits(t *testing.T) {
	h, n, err := Parse([]byte{0x70 | 0x0A, 0x80 | 3, 9, 8, 7, 6})
	want := Header{Fin: false, RSV: 0x70, Opcode: OpPong, Masked: true, Length: 3, Key: [4]byte{9, 8, 7, 6}}
	if err != nil || n != 6 || h != want {
		t.Fatalf("Parse = %+v, %d, %v; want %+v", h, n, err, want)
	}
}

func TestParseLengthMSB(t *testing.T) {
	for _, b := range [][]byte{
		{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
	} {
		if _, n, err := Parse(b); !errors.Is(err, ErrLengthMSB) || n != 0 {
			t.Errorf("Parse(% x) = %d, %v; want ErrLengthMSB", b, n, err)
		}
	}
}

func TestOpcodes(t *testing.T) {
	for op := range Opcode(16) {
		reserved := op != OpContinuation && op != OpText && op != OpBinary && op != OpClose && op != OpPing && op != OpPong
		if op.IsReserved() != reserved {
			t.Errorf("%#x.IsReserved() = %v", op, op.IsReserved())
		}
		if op.IsControl() != (op >= 8) {
			t.Errorf("%#x.IsControl() = %v", op, op.IsControl())
		}
	}
}

func TestValidReceivedCloseCode(t *testing.T) {
	valid := []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !ValidReceivedCloseCode(c) {
			t.Errorf("%d reported invalid", c)
		}
	}
	for _, c := range invalid {
		if ValidReceivedCloseCode(c) {
			t.Errorf("%d reported valid", c)
		}
	}
}

func maskBytes(key [4]byte, b []byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

func TestMask(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	for n := range 200 {
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(i*7 + 3)
		}
		got := bytes.Clone(in)
		Mask(key, got)
		want := bytes.Clone(in)
		maskBytes(key, want)
		if !bytes.Equal(got, want) {
			t.Fatalf("Mask of %d bytes differs from the byte loop", n)
		}
		Mask(key, got)
		if !bytes.Equal(got, in) {
			t.Fatalf("Mask twice of %d bytes did not restore the input", n)
		}
	}
}

func BenchmarkMask(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{128, 1024, 16384} {
		buf := make([]byte, n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				Mask(key, buf)
			}
		})
	}
}

func TestParseNonMinimalLength(t *testing.T) {
	for _, b := range [][]byte{
		{0x81, 126, 0, 0},
		{0x81, 126, 0, 125},
		{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 126},
		{0x81, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},
		{0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4},
	} {
		if _, n, err := Parse(b); !errors.Is(err, ErrNonMinimalLength) || n != 0 {
			t.Errorf("Parse(% x) = %d, %v; want ErrNonMinimalLength", b, n, err)
		}
	}
}

func TestMaskAt(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	in := make([]byte, 100)
	for i := range in {
		in[i] = byte(i*13 + 1)
	}
	want := bytes.Clone(in)
	maskBytes(key, want)
	for _, cuts := range [][]int{{1}, {2, 7}, {3, 4, 5, 99}, {33, 65}} {
		got := bytes.Clone(in)
		prev := 0
		for _, c := range append(cuts, len(got)) {
			MaskAt(key, prev, got[prev:c])
			prev = c
		}
		if !bytes.Equal(got, want) {
			t.Errorf("MaskAt in pieces %v differs from the byte loop", cuts)
		}
	}
}
