package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
)

// The flags of struct gpio_v2_line_config (linux/gpio.h), which
// golang.org/x/sys/unix does not define.
const (
	lineFlagInput        = 1 << 2
	lineFlagEdgeRising   = 1 << 4
	lineFlagEdgeFalling  = 1 << 5
	lineFlagBiasPullUp   = 1 << 8
	lineFlagBiasPullDown = 1 << 9
	lineFlagBiasDisabled = 1 << 10
)

// maxEdgeQueue is the kernel's cap on a line request's event queue
// (16 × GPIO_V2_LINES_MAX).
const maxEdgeQueue = 1024

// EdgeLine is a GPIO line requested from the kernel's GPIO character device
// (/dev/gpiochipN) for its edge events, with their kernel timestamps and
// sequence numbers. It is an EdgeReader.
type EdgeLine struct {
	name  string
	f     *os.File
	mu    sync.Mutex // guards buf
	buf   []byte
	close sync.Once
}

// OpenEdgeLine requests the GPIO line called name, as gpioinfo lists it
// ("GPIO17" on a Raspberry Pi), from the first GPIO character device under
// /dev that has a line of that name, as an input with edge detection for
// the edge o asks for.
func OpenEdgeLine(name string, o EdgeOpts) (*EdgeLine, error) {
	return openEdgeLine("/dev", name, o)
}

// openEdgeLine is OpenEdgeLine with the character devices under dev.
func openEdgeLine(dev, name string, o EdgeOpts) (*EdgeLine, error) {
	if name == "" || len(name) >= 32 {
		return nil, fmt.Errorf("gpio line %q: not a line name", name)
	}
	chips, _ := filepath.Glob(filepath.Join(dev, "gpiochip*"))
	slices.SortFunc(chips, func(a, b string) int { return chipNumber(a) - chipNumber(b) })
	if len(chips) == 0 {
		return nil, fmt.Errorf("gpio line %q: no GPIO character device (%s) found", name, filepath.Join(dev, "gpiochipN"))
	}
	var errs []error
	for _, chip := range chips {
		l, found, err := requestEdgeLine(chip, name, o)
		if found {
			return l, err
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := fmt.Errorf("gpio line %q: not found on %s (lines go by their kernel names, such as \"GPIO17\"; see gpioinfo)", name, strings.Join(chips, ", "))
	if len(errs) > 0 {
		err = fmt.Errorf("%w; %w", err, errors.Join(errs...))
	}
	return nil, err
}

// chipNumber returns N of a path ending in gpiochipN, or a large number.
func chipNumber(path string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(path), "gpiochip"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// requestEdgeLine looks for the line called name on the character device
// chip and requests it if it is there. found says whether it was there.
func requestEdgeLine(chip, name string, o EdgeOpts) (l *EdgeLine, found bool, err error) {
	fd, err := unix.Open(chip, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EACCES) {
			return nil, false, fmt.Errorf("%s: %w (the user needs the gpio group)", chip, err)
		}
		return nil, false, fmt.Errorf("%s: %w", chip, err)
	}
	defer unix.Close(fd)
	var ci unix.GPIOChipInfo
	if err := ioctl(fd, unix.GPIO_GET_CHIPINFO_IOCTL, unsafe.Pointer(&ci)); err != nil {
		return nil, false, fmt.Errorf("%s: not a GPIO character device: %w", chip, err)
	}
	for off := range ci.Lines {
		li := unix.GPIOV2LineInfo{Offset: off}
		if err := ioctl(fd, unix.GPIO_V2_GET_LINEINFO_IOCTL, unsafe.Pointer(&li)); err != nil {
			return nil, false, fmt.Errorf("%s: line %d: %w", chip, off, err)
		}
		if cstr(li.Name[:]) != name {
			continue
		}
		where := fmt.Sprintf("gpio line %q (%s line %d)", name, chip, off)
		req := unix.GPIOV2LineRequest{Num_lines: 1}
		req.Offsets[0] = off
		consumer := o.Consumer
		if consumer == "" {
			consumer = "sensorcast"
		}
		copy(req.Consumer[:len(req.Consumer)-1], consumer)
		req.Event_buffer_size = maxEdgeQueue
		if o.QueueLen > 0 && o.QueueLen < maxEdgeQueue {
			req.Event_buffer_size = uint32(o.QueueLen)
		}
		req.Config.Flags = lineFlagInput | lineFlagEdgeRising
		if o.Falling {
			req.Config.Flags = lineFlagInput | lineFlagEdgeFalling
		}
		switch o.Pull {
		case gpio.PullUp:
			req.Config.Flags |= lineFlagBiasPullUp
		case gpio.PullDown:
			req.Config.Flags |= lineFlagBiasPullDown
		case gpio.Float:
			req.Config.Flags |= lineFlagBiasDisabled
		}
		if err := ioctl(fd, unix.GPIO_V2_GET_LINE_IOCTL, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.EBUSY) {
				return nil, true, fmt.Errorf("%s: in use by %q: %w", where, cstr(li.Consumer[:]), err)
			}
			return nil, true, fmt.Errorf("%s: request for edge events: %w", where, err)
		}
		// Non-blocking, so that the file is read through Go's poller and
		// Close interrupts a read in progress.
		if err := unix.SetNonblock(int(req.Fd), true); err != nil {
			unix.Close(int(req.Fd))
			return nil, true, fmt.Errorf("%s: %w", where, err)
		}
		return &EdgeLine{name: name, f: os.NewFile(uintptr(req.Fd), where)}, true, nil
	}
	return nil, false, nil
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// cstr returns the NUL-terminated string at the start of b.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Name returns the line's name.
func (l *EdgeLine) Name() string { return l.name }

// ReadEdges waits for at least one edge and stores those queued, up to
// len(buf), in buf.
func (l *EdgeLine) ReadEdges(buf []Edge) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if want := len(buf) * edgeEventSize; cap(l.buf) < want {
		l.buf = make([]byte, want)
	}
	b := l.buf[:len(buf)*edgeEventSize]
	for {
		n, err := l.f.Read(b)
		if err != nil {
			return 0, fmt.Errorf("gpio line %q: read edge events: %w", l.name, err)
		}
		if n == 0 {
			continue
		}
		return decodeEdges(b[:n], buf)
	}
}

// Close releases the line.
func (l *EdgeLine) Close() error {
	err := os.ErrClosed
	l.close.Do(func() { err = l.f.Close() })
	if err != nil {
		return fmt.Errorf("gpio line %q: close: %w", l.name, err)
	}
	return nil
}

var _ EdgeReader = (*EdgeLine)(nil)
