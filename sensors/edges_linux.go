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
	lineFlagUsed         = 1 << 0
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
	chips := gpioChipPaths(dev)
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
	for _, e := range errs {
		err = fmt.Errorf("%w; %w", err, e)
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

// GPIOChip is a GPIO character device, as GPIOChips finds it.
type GPIOChip struct {
	Path  string // "/dev/gpiochip0"
	Label string // the driver's label, such as "pinctrl-bcm2711"
	Lines []GPIOLine
}

// GPIOLine is one line of a GPIOChip.
type GPIOLine struct {
	Offset   int
	Name     string // "GPIO17"; "" for an unnamed line
	Consumer string // the label of whoever requested it ("" if no one did, or gave none)
	Used     bool   // requested by a driver or a program
}

// GPIOChips lists the GPIO character devices under dev ("/dev"), in
// number order, with their lines.
func GPIOChips(dev string) ([]GPIOChip, error) {
	paths := gpioChipPaths(dev)
	var chips []GPIOChip
	var errs []error
	for _, path := range paths {
		c := GPIOChip{Path: path}
		err := chipLines(path, func(fd int, ci *unix.GPIOChipInfo, li *unix.GPIOV2LineInfo) bool {
			c.Label = cstr(ci.Label[:])
			c.Lines = append(c.Lines, GPIOLine{Offset: int(li.Offset), Name: cstr(li.Name[:]), Consumer: cstr(li.Consumer[:]),
				Used: li.Flags&lineFlagUsed != 0})
			return false
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		chips = append(chips, c)
	}
	return chips, errors.Join(errs...)
}

// gpioChipPaths returns the GPIO character devices under dev, in number
// order.
func gpioChipPaths(dev string) []string {
	chips, _ := filepath.Glob(filepath.Join(dev, "gpiochip*"))
	slices.SortFunc(chips, func(a, b string) int { return chipNumber(a) - chipNumber(b) })
	return chips
}

// chipLines opens the character device chip and calls f with each line's
// information, until f returns true.
func chipLines(chip string, f func(fd int, ci *unix.GPIOChipInfo, li *unix.GPIOV2LineInfo) bool) error {
	fd, err := unix.Open(chip, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EACCES) {
			return fmt.Errorf("%s: %w (the user needs the gpio group)", chip, err)
		}
		return fmt.Errorf("%s: %w", chip, err)
	}
	defer unix.Close(fd)
	var ci unix.GPIOChipInfo
	if err := ioctl(fd, unix.GPIO_GET_CHIPINFO_IOCTL, unsafe.Pointer(&ci)); err != nil {
		return fmt.Errorf("%s: not a GPIO character device: %w", chip, err)
	}
	for off := range ci.Lines {
		li := unix.GPIOV2LineInfo{Offset: off}
		if err := ioctl(fd, unix.GPIO_V2_GET_LINEINFO_IOCTL, unsafe.Pointer(&li)); err != nil {
			return fmt.Errorf("%s: line %d: %w", chip, off, err)
		}
		if f(fd, &ci, &li) {
			return nil
		}
	}
	return nil
}

// requestEdgeLine looks for the line called name on the character device
// chip and requests it if it is there. found says whether it was there.
func requestEdgeLine(chip, name string, o EdgeOpts) (l *EdgeLine, found bool, err error) {
	var reqErr error
	err = chipLines(chip, func(fd int, _ *unix.GPIOChipInfo, li *unix.GPIOV2LineInfo) bool {
		if cstr(li.Name[:]) != name {
			return false
		}
		found = true
		l, reqErr = requestEdges(fd, fmt.Sprintf("gpio line %q (%s line %d)", name, chip, li.Offset), li, o)
		if l != nil {
			l.name = name
		}
		return true
	})
	if err != nil {
		return nil, false, err
	}
	return l, found, reqErr
}

// requestEdges requests the line li of the chip open as fd for the edges o
// asks for. where names the line in errors.
func requestEdges(fd int, where string, li *unix.GPIOV2LineInfo, o EdgeOpts) (*EdgeLine, error) {
	req := unix.GPIOV2LineRequest{Num_lines: 1}
	req.Offsets[0] = li.Offset
	consumer := o.Consumer
	if consumer == "" {
		consumer = fmt.Sprintf("%s@%d", filepath.Base(os.Args[0]), os.Getpid())
	}
	copy(req.Consumer[:len(req.Consumer)-1], consumer)
	req.Event_buffer_size = maxEdgeQueue // a second of edges at 1 kHz
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
			return nil, fmt.Errorf("%s: in use by %q: %w", where, cstr(li.Consumer[:]), err)
		}
		return nil, fmt.Errorf("%s: request for edge events: %w", where, err)
	}
	// Non-blocking, so that the file is read through Go's poller and
	// Close interrupts a read in progress.
	if err := unix.SetNonblock(int(req.Fd), true); err != nil {
		unix.Close(int(req.Fd))
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &EdgeLine{f: os.NewFile(uintptr(req.Fd), where)}, nil
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

func init() { systemScans = append(systemScans, scanGPIO) }

// scanGPIO lists the GPIO character devices under root, for `sensorcast
// scan`: each chip's label, the names its lines go by (which the gpio and
// pulse drivers' line option takes) and the lines in use. A contact or a
// meter on a line cannot be recognised, so it prints no table.
func scanGPIO(root string) Detected {
	chips, err := GPIOChips(filepath.Join(root, "dev"))
	if len(chips) == 0 && err == nil {
		return Detected{Heading: "GPIO: no chip (no /dev/gpiochipN)"}
	}
	d := Detected{Present: true, Heading: fmt.Sprintf(`GPIO: %d chip(s); the gpio and pulse drivers take a line by name (line = "GPIO17")`, len(chips))}
	for _, c := range chips {
		d.Items = append(d.Items, describeChip(c))
	}
	if err != nil {
		d.Items = append(d.Items, strings.Split(err.Error(), "\n")...) // one per chip
	}
	return d
}

// describeChip says what scan prints of a chip.
func describeChip(c GPIOChip) string {
	lo, hi, named := -1, -1, 0
	var used []string
	for _, l := range c.Lines {
		if l.Name != "" {
			named++
		}
		if n, ok := strings.CutPrefix(l.Name, "GPIO"); ok {
			if v, err := strconv.Atoi(n); err == nil && v >= 0 && strconv.Itoa(v) == n {
				if lo < 0 || v < lo {
					lo = v
				}
				hi = max(hi, v)
			}
		}
		if l.Used {
			u := l.Name
			if u == "" {
				u = fmt.Sprintf("line %d", l.Offset)
			}
			if l.Consumer != "" {
				u += " (" + l.Consumer + ")"
			}
			used = append(used, u)
		}
	}
	s := fmt.Sprintf("%s [%s]: %d lines", filepath.Base(c.Path), c.Label, len(c.Lines))
	switch {
	case lo >= 0:
		s += fmt.Sprintf(", GPIO%d…GPIO%d among %d named", lo, hi, named)
	case named > 0:
		s += fmt.Sprintf(", %d named", named)
	default:
		s += ", none named (no line to choose by name)"
	}
	if len(used) > 12 {
		used = append(used[:12], fmt.Sprintf("%d more", len(used)-12))
	}
	if len(used) > 0 {
		s += "; in use: " + strings.Join(used, ", ")
	}
	return s
}
