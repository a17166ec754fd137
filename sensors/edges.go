package sensors

import (
	"encoding/binary"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// An Edge is one edge of a GPIO line as the kernel's GPIO character device
// reports it: timed by the kernel when the interrupt came, not when a
// reader got round to it, so a reader that falls behind still knows how
// far apart the edges were.
type Edge struct {
	// Time is when the kernel saw the edge, on CLOCK_MONOTONIC.
	Time time.Duration

	// Rising is true for a rising edge, false for a falling one.
	Rising bool

	// Seq is the line's sequence number of the edge: 1 for the first edge
	// after the line was requested, one more for each edge after it. A gap
	// means the kernel lost edges, its queue being full.
	Seq uint32
}

// EdgeReader delivers a GPIO line's edges in the order the kernel saw them.
// OpenEdgeLine opens one on a real line.
type EdgeReader interface {
	// Name returns the line's name, such as "GPIO22".
	Name() string

	// ReadEdges waits for at least one edge and stores the edges queued,
	// up to len(buf), in buf. After Close, or when the line fails, it
	// returns an error; after Close that error wraps os.ErrClosed.
	ReadEdges(buf []Edge) (int, error)

	// Close releases the line. A ReadEdges in progress returns.
	Close() error
}

// EdgeOpts says how to request a line for its edges.
type EdgeOpts struct {
	// Falling reports falling edges instead of rising ones.
	Falling bool

	// Pull is the line's bias: gpio.PullUp, gpio.PullDown, gpio.Float (no
	// bias) or gpio.PullNoChange (as it is).
	Pull gpio.Pull

	// Consumer labels the line in the kernel (gpioinfo and scan show it).
	// Default: the program's name and process ID, "sensorcast@1234", as
	// periph.io labels the lines it requests.
	Consumer string
}

// edgeEventSize is the size of the kernel's struct gpio_v2_line_event:
// timestamp_ns (u64), id, offset, seqno and line_seqno (u32 each) and six
// u32 of padding.
const edgeEventSize = 48

// The event ids of struct gpio_v2_line_event.
const (
	edgeRisingID  = 1 // GPIO_V2_LINE_EVENT_RISING_EDGE
	edgeFallingID = 2 // GPIO_V2_LINE_EVENT_FALLING_EDGE
)

// decodeEdges decodes the struct gpio_v2_line_event records in b, as read
// from a line request's file descriptor in the machine's byte order, into
// dst, and returns how many it stored. b must hold whole records, no more
// than dst has room for, each with a known event id.
func decodeEdges(b []byte, dst []Edge) (int, error) {
	if len(b)%edgeEventSize != 0 {
		return 0, fmt.Errorf("gpio edge events: %d bytes is not a whole number of %d-byte events", len(b), edgeEventSize)
	}
	n := len(b) / edgeEventSize
	if n > len(dst) {
		return 0, fmt.Errorf("gpio edge events: %d events for room for %d", n, len(dst))
	}
	for i := range n {
		ev := b[i*edgeEventSize : (i+1)*edgeEventSize]
		ns := binary.NativeEndian.Uint64(ev[0:])
		id := binary.NativeEndian.Uint32(ev[8:])
		if id != edgeRisingID && id != edgeFallingID {
			return 0, fmt.Errorf("gpio edge events: event %d has id %d, neither rising (1) nor falling (2)", i, id)
		}
		if ns > 1<<63-1 {
			return 0, fmt.Errorf("gpio edge events: event %d has time %d ns, beyond any clock", i, ns)
		}
		dst[i] = Edge{
			Time:   time.Duration(ns),
			Rising: id == edgeRisingID,
			Seq:    binary.NativeEndian.Uint32(ev[20:]),
		}
	}
	return n, nil
}
