package ws

import "unicode/utf8"

// utf8Stream validates UTF-8 that arrives in pieces (TCP reads of a frame,
// fragments of a message) and reports the first invalid byte as soon as it
// is seen, also when a code point is split between pieces. It holds at most
// the three leading bytes of an incomplete code point.
type utf8Stream struct {
	pend [4]byte
	n    uint8
}

// seqLen is the length of the UTF-8 sequence led by b, or 0 if b cannot
// lead one (a continuation byte, C0, C1 or F5–FF).
func seqLen(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b >= 0xC2 && b <= 0xDF:
		return 2
	case b >= 0xE0 && b <= 0xEF:
		return 3
	case b >= 0xF0 && b <= 0xF4:
		return 4
	}
	return 0
}

// validPrefix reports whether p (shorter than its sequence) can still
// become a valid code point: the second byte's range depends on the lead
// (no overlongs, no surrogates, nothing above U+10FFFF).
func validPrefix(p []byte) bool {
	if len(p) == 0 || len(p) >= seqLen(p[0]) {
		return false
	}
	lo, hi := byte(0x80), byte(0xBF)
	switch p[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	if len(p) > 1 && (p[1] < lo || p[1] > hi) {
		return false
	}
	for _, b := range p[min(len(p), 2):] {
		if b < 0x80 || b > 0xBF {
			return false
		}
	}
	return true
}

// feed validates p as the next bytes of the stream. It returns false as
// soon as the bytes seen so far cannot be the start of valid UTF-8.
func (s *utf8Stream) feed(p []byte) bool {
	for s.n > 0 && len(p) > 0 {
		s.pend[s.n] = p[0]
		s.n++
		p = p[1:]
		if int(s.n) == seqLen(s.pend[0]) {
			if !utf8.Valid(s.pend[:s.n]) {
				return false
			}
			s.n = 0
		} else if !validPrefix(s.pend[:s.n]) {
			return false
		}
	}
	if len(p) == 0 {
		return true
	}
	// Hold back a code point cut off at the end; validate the rest whole.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if b := p[i]; b < 0x80 || b >= 0xC0 {
			if b >= 0xC0 && len(p)-i < seqLen(b) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	if cut == len(p) {
		return true
	}
	s.n = uint8(copy(s.pend[:], p[cut:]))
	return validPrefix(s.pend[:s.n])
}

// done reports whether the stream ended on a code point boundary, and
// resets it for the next message.
func (s *utf8Stream) done() bool {
	ok := s.n == 0
	s.n = 0
	return ok
}
