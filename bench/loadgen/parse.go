package loadgen

import (
	"encoding/binary"
	"fmt"
)

// msgParser joins the frames of a server's byte stream into messages, for
// readers that make their own reads instead of going through ReadFrame. It
// accepts exactly what ReadFrame accepts.
type msgParser struct {
	limit int    // largest message, as ReadFrame's buffer
	msg   []byte // payload of a fragmented message so far
	op    byte   // opcode of that message; 0: none under way
}

// next parses the frame at the start of b. used is the number of bytes it
// took, 0 while b does not hold the whole frame. Once a message is whole, and
// for every control frame, it returns the opcode and the payload (valid until
// the next call); for the first fragments of a message op is 0.
func (m *msgParser) next(b []byte) (op byte, payload []byte, used int, err error) {
	if len(b) < 2 {
		return 0, nil, 0, nil
	}
	if b[1]&0x80 != 0 || b[0]&0x70 != 0 {
		return 0, nil, 0, fmt.Errorf("%w: header %x", ErrFrame, b[:2])
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
	}
	op = b[0] & 0x0f
	fin := b[0]&0x80 != 0
	if op >= OpClose {
		if n > 125 {
			return 0, nil, 0, fmt.Errorf("%w: control frame of %d bytes", ErrFrame, n)
		}
	} else {
		if (op == 0) != (m.op != 0) {
			return 0, nil, 0, fmt.Errorf("%w: opcode %d out of sequence", ErrFrame, op)
		}
		if n > uint64(m.limit-len(m.msg)) {
			return 0, nil, 0, fmt.Errorf("%w: message over %d bytes", ErrFrame, m.limit)
		}
	}
	if uint64(len(b)-h) < n {
		return 0, nil, 0, nil
	}
	used = h + int(n)
	payload = b[h:used]
	if op >= OpClose {
		return op, payload, used, nil
	}
	if op != 0 {
		m.op = op
	}
	if !fin {
		m.msg = append(m.msg, payload...)
		return 0, nil, used, nil
	}
	op, m.op = m.op, 0
	if len(m.msg) > 0 {
		payload = append(m.msg, payload...)
		m.msg = m.msg[:0]
	}
	return op, payload, used, nil
}
