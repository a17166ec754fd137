package frame

import (
	"encoding/binary"
	"errors"
)

// Opcode is the 4-bit frame type of RFC 6455 §5.2.
type Opcode uint8

// Opcodes defined by RFC 6455 §11.8. All others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (close, ping, pong or a
// reserved control opcode).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is one of the reserved opcodes 0x3–0x7 and
// 0xB–0xF.
func (o Opcode) IsReserved() bool {
	return (o >= 0x3 && o <= 0x7) || o >= 0xB
}

// Header bits of the first two bytes.
const (
	finBit  = 0x80
	rsvBits = 0x70
	opBits  = 0x0F
	maskBit = 0x80
)

// MaxHeaderLen is the longest possible header: 2 bytes, an 8-byte extended
// length and a 4-byte mask key.
const MaxHeaderLen = 14

// MaxControlPayload is the largest payload a control frame may carry
// (RFC 6455 §5.5).
const MaxControlPayload = 125

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	RSV    uint8 // the three RSV bits as they appear in byte 0 (mask 0x70)
	Opcode Opcode
	Masked bool
	Length uint64 // payload length
	Key    [4]byte
}

// ErrLengthMSB reports a 64-bit payload length with its most significant
// bit set, which RFC 6455 §5.2 forbids.
var ErrLengthMSB = errors.New("64-bit payload length has the most significant bit set")

// ErrNonMinimalLength reports a payload length not in its shortest
// encoding: a 16-bit length below 126 or a 64-bit length below 65536
// (RFC 6455 §5.2: "the minimal number of bytes MUST be used").
var ErrNonMinimalLength = errors.New("payload length not minimally encoded")

// Parse decodes the header at the start of b and returns it with its length
// in bytes. If b does not yet hold the whole header, Parse returns n == 0 and
// a nil error: read more and call again. Parse checks only the wire encoding;
// protocol policy (RSV bits, opcodes, masking, control-frame rules) is the
// caller's job, so that the caller can choose the close code.
func Parse(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&finBit != 0
	h.RSV = b0 & rsvBits
	h.Opcode = Opcode(b0 & opBits)
	h.Masked = b1&maskBit != 0
	n = 2
	switch l := b1 &^ maskBit; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[2:4]))
		if h.Length < 126 {
			return h, 0, ErrNonMinimalLength
		}
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		h.Length = binary.BigEndian.Uint64(b[2:10])
		if h.Length>>63 != 0 {
			return h, 0, ErrLengthMSB
		}
		if h.Length <= 0xFFFF {
			return h, 0, ErrNonMinimalLength
		}
		n = 10
	default:
		h.Length = uint64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.Key[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Len returns the encoded length of a header for a payload of length bytes.
func Len(length uint64, masked bool) int {
	n := 2
	switch {
	case length > 0xFFFF:
		n = 10
	case length > 125:
		n = 4
	}
	if masked {
		n += 4
	}
	return n
}

// Put encodes h at the start of dst, which must have room for Len(h.Length,
// h.Masked) bytes, and returns the number of bytes written. The shortest
// length encoding is always used. Lengths with the top bit set are the
// caller's bug and are encoded as given, so that tests can produce them.
func Put(dst []byte, h Header) int {
	b0 := h.RSV&rsvBits | byte(h.Opcode)&opBits
	if h.Fin {
		b0 |= finBit
	}
	var b1 byte
	if h.Masked {
		b1 = maskBit
	}
	n := 2
	switch {
	case h.Length > 0xFFFF:
		_ = dst[9]
		b1 |= 127
		binary.BigEndian.PutUint64(dst[2:10], h.Length)
		n = 10
	case h.Length > 125:
		_ = dst[3]
		b1 |= 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(h.Length))
		n = 4
	default:
		b1 |= byte(h.Length)
	}
	dst[0], dst[1] = b0, b1
	if h.Masked {
		copy(dst[n:n+4], h.Key[:])
		n += 4
	}
	return n
}

// ValidReceivedCloseCode reports whether code may appear in a close frame
// received from the peer (RFC 6455 §7.4.1 and §7.4.2 and the IANA registry):
// 1000–1003, 1007–1014 and the application range 3000–4999. 1004–1006 and
// 1015 are reserved and must never be sent on the wire.
func ValidReceivedCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
