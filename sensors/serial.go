package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// The serial sensors talk through a UART with the kernel's termios (via
// golang.org/x/sys/unix) rather than a serial library: all they need is
// 9600 baud 8N1 raw mode on Linux, a flush and read deadlines, which
// os.File gives for a tty opened non-blocking. x/sys is the Go team's own
// module and links only the few ioctl wrappers used; a serial library would
// add enumeration, Windows and macOS code paths the Pi never runs.

// DefaultPort is the serial port of a Raspberry Pi's header pins (GPIO14
// TXD, GPIO15 RXD), enabled with enable_uart=1 and the serial console off.
const DefaultPort = "/dev/serial0"

// MicrogramsPerM3 is the unit of particulate matter concentrations.
const MicrogramsPerM3 reading.Unit = "µg/m³"

// serialProto is one serial sensor's protocol.
type serialProto struct {
	chip    string // "PMS5003", for messages
	header  []byte // a frame's first bytes
	size    int    // a frame's length
	request []byte // sent before each read; nil for a sensor that streams
	timeout time.Duration
	// parse checks a whole frame (header and length already match) and
	// adds its values to r.
	parse  func(f []byte, r *reading.Reading) error
	ranges []valueRange
}

// errChecksum is wrapped by a parse that found a frame's checksum wrong.
var errChecksum = errors.New("bad checksum")

// badFrames is how many frames in a row with a bad checksum fail a Sense
// before its timeout.
const badFrames = 3

// SerialOpts configures a serial sensor's Source.
type SerialOpts struct {
	// Name is the Source's name. Default: the driver's name.
	Name string

	// Port is the serial device. Default: DefaultPort.
	Port string

	// Timeout bounds the wait for a frame in each Sense. Default: per
	// sensor, a little over its longest period between frames.
	Timeout time.Duration
}

// Serial is a Source for a sensor on a serial port: a Plantower PMS5003 or
// PMS7003, a Nova SDS011 or a Winsen MH-Z19B. Like the I²C sources, it
// opens its port on the first Sense and again after any failure, so a USB
// adapter plugged in after start, or unplugged and plugged back, is picked
// up; a Sense that fails shows the sensor failing and the Poller backs off.
//
// Each Sense discards what the port received before it (a sensor that
// streams has sent frames since the last read), sends the sensor's
// request if it has one, and reads until a whole frame with a valid
// checksum arrives: bytes before a frame's header are skipped, and a frame
// whose checksum is wrong is dropped and the search resumes one byte after
// its header. The Sense fails after badFrames bad frames in a row, when the
// timeout passes without a good frame (the sensor is silent, or sends only
// garbage), and on a value outside the sensor's datasheet range (a
// *RangeError).
type Serial struct {
	name, port string
	proto      *serialProto
	timeout    time.Duration
	f          *os.File
	buf        []byte
}

// newSerial returns a Serial for proto.
func newSerial(p *serialProto, o SerialOpts) *Serial {
	if o.Port == "" {
		o.Port = DefaultPort
	}
	if o.Timeout <= 0 {
		o.Timeout = p.timeout
	}
	return &Serial{name: o.Name, port: o.Port, proto: p, timeout: o.Timeout, buf: make([]byte, 0, 256)}
}

// Name returns the Serial's name.
func (s *Serial) Name() string { return s.name }

// Sense reads one frame. On any failure it closes the port, to open it
// afresh next time.
func (s *Serial) Sense(r *reading.Reading) error {
	err := s.sense(r)
	if err != nil {
		s.Halt()
		return fmt.Errorf("sensors: %s on %s: %w", s.proto.chip, s.port, err)
	}
	return nil
}

func (s *Serial) sense(r *reading.Reading) error {
	if s.f == nil {
		f, err := openSerial(s.port)
		if err != nil {
			return err
		}
		s.f = f
	} else if err := flushInput(s.f); err != nil {
		return err
	}
	if s.proto.request != nil {
		if err := s.f.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
			return err
		}
		if _, err := s.f.Write(s.proto.request); err != nil {
			return fmt.Errorf("send request: %w", err)
		}
	}
	if err := s.f.SetReadDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	s.buf = s.buf[:0]
	var got int
	bad := 0
	var lastBad error
	var chunk [64]byte
	for {
		for {
			i, whole := findFrame(s.buf, s.proto.header, s.proto.size)
			if !whole {
				s.buf = append(s.buf[:0], s.buf[i:]...)
				break
			}
			if err := s.proto.parse(s.buf[i:i+s.proto.size], r); err != nil {
				bad++
				lastBad = err
				if bad >= badFrames {
					return fmt.Errorf("%d frames in a row: %w", bad, err)
				}
				s.buf = s.buf[i+1:] // resync after this frame's first byte
				continue
			}
			return checkRanges(r, s.proto.ranges)
		}
		n, err := s.f.Read(chunk[:])
		got += n
		s.buf = append(s.buf, chunk[:n]...)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			switch {
			case lastBad != nil:
				return fmt.Errorf("no valid frame in %v: %w", s.timeout, lastBad)
			case got > 0:
				return fmt.Errorf("no frame in %v: %d bytes without a whole frame (wrong port, baud rate or wiring?)", s.timeout, got)
			}
			return fmt.Errorf("silent for %v (check the wiring: sensor TX to the Pi's RX, and its 5 V supply)", s.timeout)
		case err == io.EOF || (err == nil && n == 0):
			return errors.New("port closed")
		case err != nil:
			return err
		}
	}
}

// findFrame looks in buf for a frame: header, then size bytes in all. It
// returns where the frame starts and whether it is whole; where there is
// no header, the start of the bytes that may begin one (a partial header
// at the end), so that buf[start:] is all worth keeping.
func findFrame(buf, header []byte, size int) (start int, whole bool) {
	i := bytes.Index(buf, header)
	if i < 0 {
		keep := min(len(header)-1, len(buf))
		for ; keep > 0; keep-- {
			if bytes.HasPrefix(header, buf[len(buf)-keep:]) {
				break
			}
		}
		return len(buf) - keep, false
	}
	return i, len(buf)-i >= size
}

// Halt closes the port.
func (s *Serial) Halt() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// openSerial opens a serial port non-blocking (so reads take deadlines)
// and sets it to 9600 baud, 8 data bits, no parity, one stop bit, raw.
func openSerial(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w (is the user in the dialout group?)", err)
		}
		if errors.Is(err, os.ErrNotExist) && path == DefaultPort {
			return nil, fmt.Errorf("%w (on a Raspberry Pi, set enable_uart=1 and turn the serial console off with raspi-config)", err)
		}
		return nil, err
	}
	if err := setRaw9600(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: set 9600 8N1: %w", path, err)
	}
	return f, nil
}

// setRaw9600 sets f's line to 9600 baud 8N1 in raw mode and flushes what
// it received.
func setRaw9600(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | unix.B9600
		t.Ispeed, t.Ospeed = unix.B9600, unix.B9600
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t); ioErr != nil {
			return
		}
		ioErr = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH)
	})
	if err != nil {
		return err
	}
	return ioErr
}

// getTermios returns the settings of the tty at path.
func getTermios(path string) (*unix.Termios, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var t *unix.Termios
	var ioErr error
	if err := rc.Control(func(fd uintptr) { t, ioErr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return nil, err
	}
	if ioErr != nil {
		return nil, fmt.Errorf("%s: not a serial port: %w", path, ioErr)
	}
	return t, nil
}

// setTermios sets f's tty settings to t.
func setTermios(f *os.File, t *unix.Termios) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t) }); err != nil {
		return err
	}
	return ioErr
}

// flushInput discards what f received and has not been read.
func flushInput(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH) }); err != nil {
		return err
	}
	if ioErr != nil {
		return fmt.Errorf("flush: %w", ioErr)
	}
	return nil
}

// checkSerialPort checks a port option: a device path.
func checkSerialPort(c *Config) error {
	if c.Port == "" {
		c.Port = DefaultPort
	}
	if c.Port[0] != '/' {
		return keyErr("port", "%q is not a device path such as %q or \"/dev/ttyUSB0\"", c.Port, DefaultPort)
	}
	return nil
}

var (
	_ Source = (*Serial)(nil)
	_ Halter = (*Serial)(nil)
)

func init() { systemScans = append(systemScans, scanSerial) }

// scanListen bounds how long scan listens on each serial port.
var scanListen = 2500 * time.Millisecond

// serialPorts lists the serial ports under root: the Pi's header UART
// (serial0, serial1) and USB adapters, by their /dev paths.
func serialPorts(root string) []string {
	var ports []string
	for _, pat := range []string{"serial[0-9]", "ttyUSB[0-9]*", "ttyACM[0-9]*"} {
		ms, _ := filepath.Glob(filepath.Join(root, "dev", pat))
		for _, m := range ms {
			ports = append(ports, "/dev/"+filepath.Base(m))
		}
	}
	return ports
}

// scanSerial listens on each serial port for the frames of a sensor that
// streams (PMS5003/PMS7003, SDS011), and names it by its frames. It sends
// nothing: a sensor that answers only when asked (the MH-Z19B) is not
// found, and nothing else on the port is disturbed.
func scanSerial(root string) Detected {
	ports := serialPorts(root)
	if len(ports) == 0 {
		return Detected{Heading: "Serial: no port (on a Raspberry Pi, set enable_uart=1 and turn the serial console off)"}
	}
	var streaming []*driver
	for _, n := range Drivers() {
		if d := registry[n]; d.serial != nil && d.serial.request == nil {
			streaming = append(streaming, d)
		}
	}
	d := Detected{Present: true, Heading: fmt.Sprintf("Serial: %d port(s), listened to for up to %v each", len(ports), scanListen)}
	for _, port := range ports {
		drv, note := listenSerial(filepath.Join(root, port), streaming)
		d.Items = append(d.Items, port+": "+note)
		if drv != nil {
			d.Tables = append(d.Tables, Table{Driver: drv.name, Lines: []string{fmt.Sprintf("port = %q", port)}})
		}
	}
	return d
}

// listenSerial reads path until a frame of one of drivers arrives or
// scanListen passes, and says what it heard.
func listenSerial(path string, drivers []*driver) (*driver, string) {
	// The port may be another program's (a serial console at 115200
	// baud): its settings are put back as they were.
	saved, err := getTermios(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot open: %v", err)
	}
	f, err := openSerial(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot open: %v", err)
	}
	defer func() {
		setTermios(f, saved)
		f.Close()
	}()
	if err := f.SetReadDeadline(time.Now().Add(scanListen)); err != nil {
		return nil, err.Error()
	}
	var buf []byte
	var chunk [64]byte
	for {
		n, err := f.Read(chunk[:])
		buf = append(buf, chunk[:n]...)
		for _, d := range drivers {
			p := d.serial
			for b := buf; ; {
				i, whole := findFrame(b, p.header, p.size)
				if !whole {
					break
				}
				var r reading.Reading
				if p.parse(b[i:i+p.size], &r) == nil {
					chip := p.chip
					for _, o := range drivers { // the same frames
						if o != d && bytes.Equal(o.serial.header, p.header) && o.serial.size == p.size {
							chip += " or " + o.serial.chip
						}
					}
					return d, chip + " (a frame with a valid checksum)"
				}
				b = b[i+1:]
			}
		}
		if err != nil || len(buf) > 4096 {
			break
		}
	}
	if len(buf) > 0 {
		return nil, fmt.Sprintf("%d bytes, no frame of a sensor sensorcast knows", len(buf))
	}
	return nil, "silent (an MH-Z19B answers only when asked: add it by hand)"
}
