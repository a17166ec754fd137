package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// HostOpts configures a Host. A nil *HostOpts gives the defaults.
type HostOpts struct {
	// Name is the Source's name. Default: "host".
	Name string

	// Root is the directory under which /proc and /sys are found. Default:
	// "/". Tests point it at a fake tree.
	Root string

	// Logger receives one line for each metric the machine does not have.
	// Default: discard.
	Logger *slog.Logger

	// Disk is a path whose file system's usage is reported, such as "/".
	// It is not under Root. Default: none.
	Disk string
}

// Host is a Source that reports the health of the machine it runs on, from
// Linux's /proc and /sys. Each Sense adds, in this order, those of the
// following that NewHost found:
//
//   - "cpu_temp" in reading.Celsius, from /sys/class/thermal/thermal_zone*/temp
//   - "load1", "load5", "load15" (reading.None), from /proc/loadavg
//   - "mem_used" in reading.Percent and "mem_available" in reading.Mebibytes
//     (MiB, as free -m counts them), from /proc/meminfo
//   - "uptime" in reading.Second, from /proc/uptime
//   - "wifi_signal" in reading.DBm and "wifi_link" (the driver's link
//     quality, reading.None) of the first interface in /proc/net/wireless,
//     in the readings taken while one is listed: an interface that is not
//     up yet, or goes away, leaves these two out and nothing else
//   - "disk_used" in reading.Percent and "disk_free" in reading.Mebibytes
//     (MiB available to unprivileged users) of HostOpts.Disk, if set
//
// A Host keeps its files open and rereads them from offset 0 into a buffer
// of its own, so Sense does not allocate. Halt closes the files. Sense must
// not be called concurrently; a Poller never does.
type Host struct {
	name    string
	metrics []*hostMetric
	buf     [4096]byte // large enough for /proc/meminfo's lines we need
}

// hostMetric is one open file and how to turn it into values.
type hostMetric struct {
	path  string // for errors and logs
	f     *os.File
	parse func(b []byte, r *reading.Reading) error
	sense func(r *reading.Reading) error // instead of f and parse
}

// NewHost returns a Host that reports every metric this machine has. It
// logs one line for each one it does not have and fails only if it has none.
func NewHost(o *HostOpts) (*Host, error) {
	var opts HostOpts
	if o != nil {
		opts = *o
	}
	if opts.Name == "" {
		opts.Name = "host"
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{name: opts.Name}

	probe := func(names, path string, parse func([]byte, *reading.Reading) error) {
		m, err := h.open(path, parse)
		if err != nil {
			opts.Logger.Info("host metric unavailable", "source", h.name, "metrics", names, "err", err)
			return
		}
		h.metrics = append(h.metrics, m)
	}
	thermal, err := findThermalZone(h, opts.Root)
	if err != nil {
		opts.Logger.Info("host metric unavailable", "source", h.name, "metrics", "cpu_temp", "err", err)
	} else {
		h.metrics = append(h.metrics, thermal)
	}
	probe("load1,load5,load15", filepath.Join(opts.Root, "proc/loadavg"), addLoadavg)
	probe("mem_used,mem_available", filepath.Join(opts.Root, "proc/meminfo"), addMeminfo)
	probe("uptime", filepath.Join(opts.Root, "proc/uptime"), addUptime)
	// Most machines have no Wi-Fi: its absence is not worth a log line.
	// The file is kept even if it lists no interface yet.
	if m, err := h.open(filepath.Join(opts.Root, "proc/net/wireless"), addWireless); err == nil {
		h.metrics = append(h.metrics, m)
	} else if !errors.Is(err, fs.ErrNotExist) {
		opts.Logger.Info("host metric unavailable", "source", h.name, "metrics", "wifi_signal,wifi_link", "err", err)
	}
	if opts.Disk != "" {
		path := opts.Disk
		m := &hostMetric{path: path, sense: func(r *reading.Reading) error { return addDisk(path, r) }}
		var r reading.Reading
		if err := h.read(m, &r); err != nil {
			opts.Logger.Info("host metric unavailable", "source", h.name, "metrics", "disk_used,disk_free", "err", err)
		} else {
			h.metrics = append(h.metrics, m)
		}
	}

	if len(h.metrics) == 0 {
		return nil, fmt.Errorf("sensors: new host: no metrics available under %s", opts.Root)
	}
	return h, nil
}

// open opens path and checks that it parses now.
func (h *Host) open(path string, parse func([]byte, *reading.Reading) error) (*hostMetric, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	m := &hostMetric{path: path, f: f, parse: parse}
	var r reading.Reading
	if err := h.read(m, &r); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// preferredZones are the thermal zone types that measure the CPU or SoC,
// best first.
var preferredZones = []string{
	"cpu-thermal", // Raspberry Pi
	"cpu_thermal",
	"x86_pkg_temp", // Intel
	"soc_thermal",
	"soc-thermal",
}

// findThermalZone opens the temp file of the best thermal zone that can be
// read: the first of preferredZones present, else a zone whose type
// mentions "cpu", else the lowest-numbered zone.
func findThermalZone(h *Host, root string) (*hostMetric, error) {
	dir := filepath.Join(root, "sys/class/thermal")
	zones, _ := filepath.Glob(filepath.Join(dir, "thermal_zone*"))
	if len(zones) == 0 {
		return nil, fmt.Errorf("no thermal zones in %s", dir)
	}
	zoneNum := func(z string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(z), "thermal_zone"))
		if err != nil {
			return int(^uint(0) >> 1)
		}
		return n
	}
	rank := func(z string) int {
		typ, err := os.ReadFile(filepath.Join(z, "type"))
		if err != nil {
			return len(preferredZones) + 1
		}
		t := string(bytes.TrimSpace(typ))
		if i := slices.Index(preferredZones, t); i >= 0 {
			return i
		}
		if strings.Contains(strings.ToLower(t), "cpu") {
			return len(preferredZones)
		}
		return len(preferredZones) + 1
	}
	type zone struct {
		path      string
		rank, num int
	}
	zs := make([]zone, len(zones))
	for i, z := range zones {
		zs[i] = zone{z, rank(z), zoneNum(z)}
	}
	slices.SortFunc(zs, func(a, b zone) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return a.num - b.num
	})
	var errs []error
	for _, z := range zs {
		m, err := h.open(filepath.Join(z.path, "temp"), addThermal)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Name returns the Host's name.
func (h *Host) Name() string { return h.name }

// Sense rereads every metric found by NewHost and adds its values to r. It
// fails, naming the file, if any of them cannot be read or parsed.
func (h *Host) Sense(r *reading.Reading) error {
	for _, m := range h.metrics {
		if err := h.read(m, r); err != nil {
			return err
		}
	}
	return nil
}

// read rereads m from the start into h.buf and parses it into r.
func (h *Host) read(m *hostMetric, r *reading.Reading) error {
	if m.sense != nil {
		return m.sense(r)
	}
	n, err := m.f.ReadAt(h.buf[:], 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("sensors: host: read %s: %w", m.path, err)
	}
	if n == len(h.buf) {
		// The file is longer than the buffer: drop the cut-off last line
		// rather than parse half a number.
		n = bytes.LastIndexByte(h.buf[:n], '\n') + 1
	}
	if err := m.parse(h.buf[:n], r); err != nil {
		return fmt.Errorf("sensors: host: parse %s: %w", m.path, err)
	}
	return nil
}

// Halt closes the Host's files. The Host must not be used afterwards.
func (h *Host) Halt() error {
	var errs []error
	for _, m := range h.metrics {
		if m.f != nil {
			errs = append(errs, m.f.Close())
		}
	}
	return errors.Join(errs...)
}

var _ Halter = (*Host)(nil)
var _ Source = (*Host)(nil)
