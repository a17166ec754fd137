package frame

import "encoding/binary"

// Mask XORs b in place with the masking key (RFC 6455 §5.3), starting at key
// position 0. Applying it twice restores the input.
//
// It works on whole frames only, which is why it needs no rotating key
// position: the ws server unmasks a frame once it is entirely in its read
// array, and the test client masks a frame it has built whole.
//
// The key is repeated into a 64-bit word read little-endian, so that byte i
// of every 8-byte chunk meets key[i mod 4]; the chunks are XORed with
// encoding/binary loads and stores, which compile to one load, one XOR and
// one store on amd64 and arm64. A byte loop finishes the tail. On 32-bit ARM
// the loads become byte loads; server-side unmasking only touches small
// client frames, so that is not worth an unsafe fast path.
func Mask(key [4]byte, b []byte) {
	k32 := uint64(binary.LittleEndian.Uint32(key[:]))
	k := k32<<32 | k32
	for len(b) >= 32 {
		v := b[:32]
		binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
		binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
		binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
		binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b[:8], binary.LittleEndian.Uint64(b[:8])^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// MaskAt is Mask for a window of a payload that starts pos bytes into it,
// so that a payload can be unmasked piece by piece as it arrives.
func MaskAt(key [4]byte, pos int, b []byte) {
	if s := pos & 3; s != 0 {
		key = [4]byte{key[s], key[(s+1)&3], key[(s+2)&3], key[(s+3)&3]}
	}
	Mask(key, b)
}
