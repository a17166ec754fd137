package sensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// event lays out one struct gpio_v2_line_event as the kernel writes it.
func event(ns uint64, id, offset, seqno, lineSeqno uint32) []byte {
	b := make([]byte, edgeEventSize)
	binary.NativeEndian.PutUint64(b[0:], ns)
	binary.NativeEndian.PutUint32(b[8:], id)
	binary.NativeEndian.PutUint32(b[12:], offset)
	binary.NativeEndian.PutUint32(b[16:], seqno)
	binary.NativeEndian.PutUint32(b[20:], lineSeqno)
	return b
}

func TestDecodeEdges(t *testing.T) {
	var b []byte
	b = append(b, event(5_000_000_123, edgeRisingID, 22, 7, 3)...)
	b = append(b, event(5_001_000_456, edgeFallingID, 22, 8, 4)...)
	dst := make([]Edge, 2)
	n, err := decodeEdges(b, dst)
	if err != nil || n != 2 {
		t.Fatalf("%d, %v", n, err)
	}
	want := []Edge{
		{Time: 5*time.Second + 123, Rising: true, Seq: 3},
		{Time: 5*time.Second + time.Millisecond + 456, Seq: 4},
	}
	for i := range want {
		if dst[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v (the line's sequence number, not the request's)", i, dst[i], want[i])
		}
	}
	for _, tc := range []struct {
		b    []byte
		room int
		want string
	}{
		{b[:47], 2, "not a whole number"},
		{b, 1, "room for 1"},
		{event(1, 0, 22, 1, 1), 1, "neither rising (1) nor falling (2)"},
		{event(1<<63, 1, 22, 1, 1), 1, "beyond any clock"},
	} {
		if _, err := decodeEdges(tc.b, make([]Edge, tc.room)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d bytes, room %d: %v, want %q", len(tc.b), tc.room, err, tc.want)
		}
	}
}

// FuzzDecodeEdges: any bytes decode into valid edges or are an error, and
// edges decoded encode back to the same times, kinds and sequence numbers.
func FuzzDecodeEdges(f *testing.F) {
	f.Add(event(5_000_000_123, edgeRisingID, 22, 7, 3))
	f.Add(append(event(1, edgeFallingID, 0, 1, 1), event(2, edgeRisingID, 0, 2, 2)...))
	f.Add(event(1, 3, 0, 1, 1))
	f.Add([]byte("not an event"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := make([]Edge, 4)
		n, err := decodeEdges(b, dst)
		if err != nil {
			return
		}
		if n*edgeEventSize != len(b) {
			t.Fatalf("%d bytes decoded as %d events", len(b), n)
		}
		for i, e := range dst[:n] {
			id := uint32(edgeFallingID)
			if e.Rising {
				id = edgeRisingID
			}
			ev := b[i*edgeEventSize:]
			if e.Time < 0 || uint64(e.Time) != binary.NativeEndian.Uint64(ev) || id != binary.NativeEndian.Uint32(ev[8:]) ||
				e.Seq != binary.NativeEndian.Uint32(ev[20:]) {
				t.Fatalf("event %d decoded as %+v", i, e)
			}
		}
	})
}

// An EdgeLine reads whole events from its file, several per read, and a
// Close ends a read in progress with os.ErrClosed. (The kernel's line
// request is a file of such events; a pipe stands in for it here. The
// request itself is tested on a real kernel in the Pi in a box.)
func TestEdgeLineReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := &EdgeLine{name: "GPIO22", f: r}
	w.Write(append(event(10, edgeRisingID, 22, 1, 1), event(20, edgeRisingID, 22, 2, 2)...))
	buf := make([]Edge, 8)
	n, err := l.ReadEdges(buf)
	if err != nil || n != 2 || buf[0].Time != 10 || buf[1].Seq != 2 {
		t.Fatalf("%d %v %+v", n, err, buf[:n])
	}
	done := make(chan error)
	go func() {
		_, err := l.ReadEdges(buf)
		done <- err
	}()
	// The read is waiting (or about to); Close ends it either way.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), `"GPIO22"`) {
		t.Errorf("read after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// Lines that cannot be had give errors that say why.
func TestOpenEdgeLineErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := openEdgeLine(empty, "GPIO22", EdgeOpts{}); err == nil || !strings.Contains(err.Error(), "no GPIO character device") {
		t.Errorf("no chips: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gpiochip0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openEdgeLine(dir, "GPIO22", EdgeOpts{})
	if err == nil || !strings.Contains(err.Error(), `gpio line "GPIO22": not found on `+filepath.Join(dir, "gpiochip0")) ||
		!strings.Contains(err.Error(), "not a GPIO character device") {
		t.Errorf("a chip that is not one: %v", err)
	}
	if _, err := openEdgeLine(dir, "", EdgeOpts{}); err == nil || !strings.Contains(err.Error(), "not a line name") {
		t.Errorf("no name: %v", err)
	}
	if _, err := openEdgeLine(dir, strings.Repeat("G", 40), EdgeOpts{}); err == nil || !strings.Contains(err.Error(), "not a line name") {
		t.Errorf("a name longer than the kernel's: %v", err)
	}
}

// scan describes a chip by the names its lines go by and the lines in use.
func TestDescribeChip(t *testing.T) {
	pi := GPIOChip{Path: "/dev/gpiochip0", Label: "pinctrl-bcm2711"}
	for i := range 30 {
		l := GPIOLine{Offset: i, Name: "GPIO" + strconv.Itoa(i)}
		if i >= 28 {
			l.Name = []string{"ID_SDA", ""}[i-28]
		}
		pi.Lines = append(pi.Lines, l)
	}
	pi.Lines[4].Used, pi.Lines[4].Consumer = true, "onewire@4"
	pi.Lines[22].Used, pi.Lines[22].Consumer = true, "sensorcast"
	pi.Lines[29].Used = true
	for _, tc := range []struct {
		c    GPIOChip
		want string
	}{
		{pi, "gpiochip0 [pinctrl-bcm2711]: 30 lines, GPIO0…GPIO27 among 29 named; in use: GPIO4 (onewire@4), GPIO22 (sensorcast), line 29"},
		{GPIOChip{Path: "/dev/gpiochip1", Label: "x", Lines: []GPIOLine{{Name: "LED"}, {Offset: 1}}}, "gpiochip1 [x]: 2 lines, 1 named"},
		{GPIOChip{Path: "/dev/gpiochip2", Label: "y", Lines: []GPIOLine{{Name: "GPIO07"}, {Offset: 1}}}, "gpiochip2 [y]: 2 lines, 1 named"},
		{GPIOChip{Path: "/dev/gpiochip3", Label: "z", Lines: make([]GPIOLine, 3)}, "gpiochip3 [z]: 3 lines, none named (no line to choose by name)"},
	} {
		if got := describeChip(tc.c); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// scan says when there is no chip, and what failed on one it cannot read.
func TestScanGPIO(t *testing.T) {
	root := t.TempDir()
	if d := scanGPIO(root); d.Present || !strings.Contains(d.Heading, "no chip") {
		t.Errorf("no chip: %+v", d)
	}
	os.Mkdir(filepath.Join(root, "dev"), 0o755)
	os.WriteFile(filepath.Join(root, "dev", "gpiochip0"), nil, 0o600)
	d := scanGPIO(root)
	if !d.Present || !strings.Contains(d.Heading, "GPIO: 0 chip(s)") || len(d.Items) != 1 || !strings.Contains(d.Items[0], "not a GPIO character device") {
		t.Errorf("a chip that is not one: %+v", d)
	}
}
