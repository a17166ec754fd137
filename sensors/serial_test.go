package sensors_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Frames byte for byte as the datasheets lay them out. The SDS011's is the
// example of its datasheet; the others are built by hand to their layout,
// with their checksums worked out by hand.
var (
	// PMS5003/PMS7003: 42 4D, length 28, CF=1 PM1/2.5/10 = 12, 18, 21,
	// atmospheric PM1/2.5/10 = 11, 17, 20, six particle counts, reserved
	// 0x9700, checksum 0x0344.
	pmsFrame = []byte{0x42, 0x4D, 0x00, 0x1C, 0x00, 0x0C, 0x00, 0x12, 0x00, 0x15, 0x00, 0x0B, 0x00, 0x11, 0x00, 0x14,
		0x07, 0xE3, 0x02, 0x40, 0x00, 0x68, 0x00, 0x08, 0x00, 0x02, 0x00, 0x01, 0x97, 0x00, 0x03, 0x44}
	// SDS011: PM2.5 0x04D4 = 123.6 µg/m³, PM10 0x0A3A = 261.8 µg/m³, id
	// A160, checksum 0x1D.
	sdsFrame = []byte{0xAA, 0xC0, 0xD4, 0x04, 0x3A, 0x0A, 0xA1, 0x60, 0x1D, 0xAB}
	// MH-Z19B: the read command, and an answer of 0x0260 = 608 ppm.
	mhzRequest = []byte{0xFF, 0x01, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79}
	mhzAnswer  = []byte{0xFF, 0x86, 0x02, 0x60, 0x47, 0x00, 0x00, 0x00, 0xD1}
)

// pty is a pseudo-terminal pair: the test plays the sensor on the master
// side; the Source opens port, a link to the slave side, as it would
// /dev/serial0.
type pty struct {
	master *os.File
	port   string
	hold   *os.File // the slave, held open: the line stays up between Senses
}

func newPTY(t *testing.T, port string) *pty {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var n int
	rc, _ := m.SyscallConn()
	rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	slave := fmt.Sprintf("/dev/pts/%d", n)
	// Raw mode before any byte goes through, as the Source sets it: no
	// echo back to the master, no CR/LF translation.
	hold, err := sensors.OpenSerial(slave)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	os.Remove(port)
	if err := os.Symlink(slave, port); err != nil {
		t.Fatal(err)
	}
	p := &pty{master: m, port: port, hold: hold}
	t.Cleanup(p.unplug)
	return p
}

// unplug closes both sides: the device is gone.
func (p *pty) unplug() {
	p.master.Close()
	p.hold.Close()
}

// stream plays a sensor that sends chunks in a loop, a few milliseconds
// apart, until the test ends or the pty is unplugged.
func (p *pty) stream(t *testing.T, chunks ...[]byte) {
	if len(chunks) == 0 {
		return // silent
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, c := range chunks {
				select {
				case <-done:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if _, err := p.master.Write(c); err != nil {
					return
				}
			}
		}
	}()
	// Closing the master ends a write that waits for room.
	t.Cleanup(func() { close(done); p.unplug(); wg.Wait() })
}

// answer plays a sensor that answers each request with the next of
// answers (the last repeated; nil: silence).
func (p *pty) answer(t *testing.T, request []byte, answers ...[]byte) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var got []byte
		buf := make([]byte, 64)
		for i := 0; ; {
			n, err := p.master.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
			for {
				j := bytes.Index(got, request)
				if j < 0 {
					break
				}
				got = got[j+len(request):]
				// The answer in pieces, as a UART delivers it.
				a := answers[min(i, len(answers)-1)]
				for len(a) > 0 {
					n := min(4, len(a))
					p.master.Write(a[:n])
					a = a[n:]
					time.Sleep(time.Millisecond)
				}
				i++
			}
		}
	}()
	t.Cleanup(func() { p.unplug(); wg.Wait() })
}

func sense(s sensors.Source) (map[string]int64, map[string]reading.Unit, error) {
	var r reading.Reading
	if err := s.Sense(&r); err != nil {
		return nil, nil, err
	}
	vals, units := map[string]int64{}, map[string]reading.Unit{}
	for _, v := range r.Values() {
		vals[v.Name], units[v.Name] = v.Milli, v.Unit
	}
	return vals, units, nil
}

func port(t *testing.T) string { return filepath.Join(t.TempDir(), "serial0") }

func TestPMS5003(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks [][]byte
	}{
		{"frames", [][]byte{pmsFrame}},
		{"partial frames", [][]byte{pmsFrame[:1], pmsFrame[1:7], pmsFrame[7:31], pmsFrame[31:]}},
		{"garbage between", [][]byte{{0x00, 0x42, 0x4D, 0x42, 0xFF, 0x4D}, pmsFrame[:20], pmsFrame, {0x42}}},
		{"a bad frame before each good one", [][]byte{append(append([]byte{}, pmsFrame[:30]...), 0x03, 0x45), pmsFrame}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPTY(t, port(t))
			p.stream(t, tc.chunks...)
			for _, s := range []*sensors.Serial{sensors.NewPMS5003(sensors.SerialOpts{Port: p.port}), sensors.NewPMS7003(sensors.SerialOpts{Port: p.port})} {
				for range 3 {
					vals, units, err := sense(s)
					if err != nil {
						t.Fatal(err)
					}
					if len(vals) != 3 || vals["pm1"] != 11000 || vals["pm25"] != 17000 || vals["pm10"] != 20000 || units["pm25"] != "µg/m³" {
						t.Fatalf("%s: %v %v", s.Name(), vals, units)
					}
				}
				s.Halt()
			}
		})
	}
}

func TestSDS011(t *testing.T) {
	p := newPTY(t, port(t))
	p.stream(t, []byte{0xAA, 0xC5, 0x07}, sdsFrame[:4], sdsFrame[4:], []byte{0xAB, 0xAA})
	s := sensors.NewSDS011(sensors.SerialOpts{Port: p.port})
	defer s.Halt()
	vals, units, err := sense(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2 || vals["pm25"] != 123600 || vals["pm10"] != 261800 || units["pm10"] != sensors.MicrogramsPerM3 {
		t.Errorf("%v %v", vals, units)
	}
}

func TestMHZ19(t *testing.T) {
	p := newPTY(t, port(t))
	// Garbage with a false header before the first answer.
	p.answer(t, mhzRequest, append([]byte{0x17, 0xFF, 0x86, 0x00}, mhzAnswer...), mhzAnswer)
	s := sensors.NewMHZ19(sensors.SerialOpts{Port: p.port})
	defer s.Halt()
	for range 3 {
		vals, units, err := sense(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 1 || vals["co2"] != 608000 || units["co2"] != reading.PPM {
			t.Fatalf("%v %v", vals, units)
		}
	}
}

// Bad checksums, garbage, silence, values off the datasheet's range and
// an unplugged adapter fail the Sense, clearly; the next Sense after the
// device is back succeeds.
func TestSerialFailures(t *testing.T) {
	const short = 300 * time.Millisecond
	badPMS := append(append([]byte{}, pmsFrame[:31]...), 0x45)
	badSDS := append(append([]byte{}, sdsFrame[:8]...), 0x1E, 0xAB)
	badMHZ := append(append([]byte{}, mhzAnswer[:8]...), 0xD2)
	hugePMS := bytes.Clone(pmsFrame) // PM2.5 atmospheric 0x0411 = 1041 µg/m³
	hugePMS[12], hugePMS[13] = 0x04, 0x11
	hugePMS[30], hugePMS[31] = 0x03, 0x48
	hugeCO2 := []byte{0xFF, 0x86, 0x13, 0x89, 0x47, 0x00, 0x00, 0x00, 0x97} // 0x1389 = 5001 ppm; 0x86+0x13+0x89+0x47 = 0x169, 0xFF-0x69+1 = 0x97
	for _, tc := range []struct {
		name   string
		open   func(o sensors.SerialOpts) *sensors.Serial
		stream [][]byte // a streaming sensor's bytes
		answer [][]byte // or a polled sensor's answers
		want   string
		rng    bool
	}{
		{"pms bad checksum", sensors.NewPMS5003, [][]byte{badPMS}, nil, "3 frames in a row: bad checksum: sum 0x0344, frame says 0x0345", false},
		{"sds bad checksum", sensors.NewSDS011, [][]byte{badSDS}, nil, "bad checksum: sum 0x1d, frame says 0x1e", false},
		{"mhz bad checksum", sensors.NewMHZ19, nil, [][]byte{badMHZ}, "bad checksum: computed 0xd1, frame says 0xd2", false},
		{"pms silent", sensors.NewPMS5003, nil, nil, "PMS5003 on PORT: silent for 300ms", false},
		{"mhz silent", sensors.NewMHZ19, nil, [][]byte{nil}, "MH-Z19B on PORT: silent for 300ms", false},
		{"pms garbage", sensors.NewPMS5003, [][]byte{[]byte("\r\nOK\r\n")}, nil, "bytes without a whole frame (wrong port, baud rate or wiring?)", false},
		{"sds wrong tail", sensors.NewSDS011, [][]byte{append(bytes.Clone(sdsFrame[:9]), 0xAC)}, nil, "frame tail 0xac, want 0xab", false},
		{"pms out of range", sensors.NewPMS5003, [][]byte{hugePMS}, nil, "pm25 1041 µg/m³ outside the chip's range 0…1000 µg/m³", true},
		{"mhz out of range", sensors.NewMHZ19, nil, [][]byte{hugeCO2}, "co2 5001 ppm outside the chip's range 0…5000 ppm", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPTY(t, port(t))
			if tc.answer != nil {
				p.answer(t, mhzRequest, tc.answer...)
			} else {
				p.stream(t, tc.stream...)
			}
			s := tc.open(sensors.SerialOpts{Port: p.port, Timeout: short})
			defer s.Halt()
			_, _, err := sense(s)
			want := strings.ReplaceAll(tc.want, "PORT", p.port)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			var re *sensors.RangeError
			if errors.As(err, &re) != tc.rng {
				t.Errorf("*RangeError: %v, want %v", errors.As(err, &re), tc.rng)
			}
		})
	}
}

// An adapter unplugged fails the Sense; plugged back (a new pty behind
// the same name), the next Sense reopens the port and reads.
func TestSerialReplug(t *testing.T) {
	path := port(t)
	p := newPTY(t, path)
	p.stream(t, sdsFrame)
	s := sensors.NewSDS011(sensors.SerialOpts{Port: path, Timeout: time.Second})
	defer s.Halt()
	if _, _, err := sense(s); err != nil {
		t.Fatal(err)
	}
	p.unplug()
	os.Remove(path)
	if _, _, err := sense(s); err == nil {
		t.Fatal("unplugged: no error")
	}
	if _, _, err := sense(s); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("port gone: %v", err)
	}
	q := newPTY(t, path)
	q.stream(t, sdsFrame)
	if vals, _, err := sense(s); err != nil || vals["pm25"] != 123600 {
		t.Fatalf("plugged back: %v %v", vals, err)
	}
}

func TestSerialConfig(t *testing.T) {
	p := newPTY(t, port(t))
	p.stream(t, pmsFrame)
	c := sensors.Config{Driver: "pms5003", Port: p.port}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := (&sensors.Hardware{}).Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	defer src.(sensors.Halter).Halt()
	if vals, _, err := sense(src); err != nil || vals["pm10"] != 20000 || src.Name() != "pms5003" {
		t.Errorf("%v %v", vals, err)
	}
	d := sensors.Config{Driver: "mhz19"}
	if err := d.Validate(); err != nil || d.Port != "/dev/serial0" || d.Interval <= 0 {
		t.Errorf("defaults: %v %+v", err, d)
	}
	var ke *sensors.KeyError
	for _, bad := range []sensors.Config{{Driver: "sds011", Port: "ttyUSB0"}, {Driver: "bme280", Port: "/dev/ttyUSB0"}} {
		if err := bad.Validate(); !errors.As(err, &ke) || ke.Key != "port" {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// A missing port is a failing sensor, not a skipped one: an adapter may
	// be plugged in later.
	e := sensors.Config{Driver: "sds011", Port: filepath.Join(t.TempDir(), "ttyUSB0")}
	e.Validate()
	src, err = (&sensors.Hardware{}).Open(&e)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sense(src); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing port: %v", err)
	}
}

// scan names the serial sensors that stream by their frames, on the Pi's
// UART and USB adapters; a silent port and one that is not a tty are
// reported as such.
func TestSerialScan(t *testing.T) {
	defer sensors.SetScanListen(sensors.SetScanListen(300 * time.Millisecond))
	root := t.TempDir()
	dev := filepath.Join(root, "dev")
	os.Mkdir(dev, 0o755)
	newPTY(t, filepath.Join(dev, "serial0")).stream(t, []byte{0x42, 0x4D, 0x00}, pmsFrame)
	newPTY(t, filepath.Join(dev, "ttyUSB0")).stream(t, sdsFrame[3:], sdsFrame)
	// A console at 115200 baud, canonical, with echo: scan leaves it so.
	console := newPTY(t, filepath.Join(dev, "ttyUSB1"))
	before := termios(t, console.hold)
	before.Lflag |= unix.ICANON | unix.ECHO
	before.Cflag = before.Cflag&^unix.CBAUD | unix.B115200
	before.Ispeed, before.Ospeed = unix.B115200, unix.B115200
	setTermios(t, console.hold, before)
	before = termios(t, console.hold)
	os.WriteFile(filepath.Join(dev, "ttyACM0"), nil, 0o644)
	var serial *sensors.Detected
	for _, d := range sensors.ScanSystem(root) {
		if strings.HasPrefix(d.Heading, "Serial") {
			serial = &d
		}
	}
	if serial == nil || !serial.Present || serial.Heading != "Serial: 4 port(s), listened to for up to 300ms each" {
		t.Fatalf("%+v", serial)
	}
	want := []string{
		"/dev/serial0: PMS5003 or PMS7003 (a frame with a valid checksum)",
		"/dev/ttyUSB0: SDS011 (a frame with a valid checksum)",
		"/dev/ttyUSB1: silent (an MH-Z19B answers only when asked: add it by hand)",
		"/dev/ttyACM0: cannot open: ",
	}
	for i, w := range want {
		if i >= len(serial.Items) || !strings.HasPrefix(serial.Items[i], w) {
			t.Errorf("items %q, want %q", serial.Items, want)
			break
		}
	}
	if after := termios(t, console.hold); *after != *before {
		t.Errorf("scan changed the console's settings:\n%+v\nwas\n%+v", after, before)
	}
	var tables []string
	for _, tb := range serial.Tables {
		tables = append(tables, tb.Driver+" "+strings.Join(tb.Lines, ";"))
	}
	if got := strings.Join(tables, "\n"); got != "pms5003 port = \"/dev/serial0\"\nsds011 port = \"/dev/ttyUSB0\"" {
		t.Errorf("tables:\n%s", got)
	}
	for _, d := range sensors.ScanSystem(t.TempDir()) {
		if strings.HasPrefix(d.Heading, "Serial") && (d.Present || !strings.HasPrefix(d.Heading, "Serial: no port")) {
			t.Errorf("no port: %+v", d)
		}
	}
}

func termios(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	rc, _ := f.SyscallConn()
	var tio *unix.Termios
	var err error
	rc.Control(func(fd uintptr) { tio, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

func setTermios(t *testing.T, f *os.File, tio *unix.Termios) {
	t.Helper()
	rc, _ := f.SyscallConn()
	var err error
	rc.Control(func(fd uintptr) { err = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio) })
	if err != nil {
		t.Fatal(err)
	}
}
