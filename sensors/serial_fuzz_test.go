package sensors

import (
	"bytes"
	"testing"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// fuzzProto checks one serial protocol against any bytes: findFrame never
// reads out of bounds and keeps what may start a frame; a frame that
// parses has a valid checksum, and flipping any bit of it makes it fail
// or read differently, never panic.
func fuzzProto(f *testing.F, p *serialProto, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i, whole := findFrame(b, p.header, p.size)
		if i < 0 || i > len(b) {
			t.Fatalf("start %d of %d bytes", i, len(b))
		}
		if !whole {
			if j := bytes.Index(b, p.header); j >= 0 && j != i {
				t.Fatalf("header at %d, start %d", j, i)
			}
			return
		}
		frame := b[i : i+p.size]
		if !bytes.HasPrefix(frame, p.header) {
			t.Fatalf("frame % x lacks the header", frame)
		}
		var r reading.Reading
		err := p.parse(frame, &r)
		if err != nil {
			if r.Len() != 0 {
				t.Fatalf("a frame that fails added %d values", r.Len())
			}
			return
		}
		if r.Len() == 0 {
			t.Fatal("a frame that parses added nothing")
		}
		// Any single flipped bit outside the header is caught or changes
		// the values: no two frames one bit apart give one reading.
		for bit := 8 * len(p.header); bit < 8*p.size; bit++ {
			g := bytes.Clone(frame)
			g[bit/8] ^= 1 << (bit % 8)
			var r2 reading.Reading
			if err := p.parse(g, &r2); err == nil {
				same := r2.Len() == r.Len()
				for k := 0; same && k < r.Len(); k++ {
					same = r.Values()[k] == r2.Values()[k]
				}
				if same && bit/8 < p.size-1 && !ignoredBit(p, bit/8) {
					t.Fatalf("bit %d flipped in % x: same reading, not caught", bit, frame)
				}
			}
		}
	})
}

// ignoredBit reports whether byte i of a frame holds data the driver does
// not report (a flip there only has to pass the checksum).
func ignoredBit(p *serialProto, i int) bool {
	switch p.chip {
	case "PMS5003", "PMS7003":
		return i < 10 || i >= 16
	case "SDS011":
		return i == 6 || i == 7
	case "MH-Z19B":
		return i >= 4
	}
	return false
}

func FuzzPMS(f *testing.F) {
	fuzzProto(f, pms5003,
		[]byte{0x42, 0x4D, 0x00, 0x1C, 0x00, 0x0C, 0x00, 0x12, 0x00, 0x15, 0x00, 0x0B, 0x00, 0x11, 0x00, 0x14,
			0x07, 0xE3, 0x02, 0x40, 0x00, 0x68, 0x00, 0x08, 0x00, 0x02, 0x00, 0x01, 0x97, 0x00, 0x03, 0x44},
		[]byte{0x42, 0x42, 0x4D})
}

func FuzzSDS011(f *testing.F) {
	fuzzProto(f, sds011, []byte{0x00, 0xAA, 0xC0, 0xD4, 0x04, 0x3A, 0x0A, 0xA1, 0x60, 0x1D, 0xAB}, []byte{0xAA})
}

func FuzzMHZ19(f *testing.F) {
	fuzzProto(f, mhz19, []byte{0xFF, 0x86, 0x02, 0x60, 0x47, 0x00, 0x00, 0x00, 0xD1}, []byte{0xFF, 0xFF, 0x86, 0x00})
}
