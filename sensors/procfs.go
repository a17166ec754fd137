package sensors

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Parsers for the Linux files Host reads. They work on bytes in place and
// allocate only to report an error.

// maxKB bounds the kB values read from /proc/meminfo (64 PiB), so that the
// percentage arithmetic cannot overflow an int64.
const maxKB = 1 << 46

var errEmpty = errors.New("empty")

// addThermal adds a thermal zone's temp file, in millidegrees Celsius.
func addThermal(b []byte, r *reading.Reading) error {
	v, err := parseThermal(b)
	if err != nil {
		return err
	}
	return r.Add("cpu_temp", reading.Celsius, v)
}

// addLoadavg adds the three load averages of /proc/loadavg.
func addLoadavg(b []byte, r *reading.Reading) error {
	l1, l5, l15, err := parseLoadavg(b)
	if err != nil {
		return err
	}
	if err := r.Add("load1", reading.None, l1); err != nil {
		return err
	}
	if err := r.Add("load5", reading.None, l5); err != nil {
		return err
	}
	return r.Add("load15", reading.None, l15)
}

// addMeminfo adds the memory in use, as a percentage of MemTotal, and
// MemAvailable in MiB, from /proc/meminfo.
func addMeminfo(b []byte, r *reading.Reading) error {
	total, avail, err := parseMeminfo(b)
	if err != nil {
		return err
	}
	used := ((total-avail)*100_000 + total/2) / total // milli-percent
	if err := r.Add("mem_used", reading.Percent, used); err != nil {
		return err
	}
	return r.Add("mem_available", reading.Mebibytes, (avail*1000+512)/1024)
}

// addUptime adds the first field of /proc/uptime, in seconds.
func addUptime(b []byte, r *reading.Reading) error {
	v, err := parseUptime(b)
	if err != nil {
		return err
	}
	return r.Add("uptime", reading.Second, v)
}

// parseThermal parses a sysfs temp file: one signed integer, such as
// "48312\n", in millidegrees.
func parseThermal(b []byte) (int64, error) {
	f, rest := nextField(b)
	if len(f) == 0 {
		return 0, errEmpty
	}
	if f2, _ := nextField(rest); len(f2) > 0 {
		return 0, fmt.Errorf("unexpected %q after the temperature", clip(f2))
	}
	neg := f[0] == '-'
	if neg {
		f = f[1:]
	}
	v, ok := parseUint(f, 18)
	if !ok {
		return 0, fmt.Errorf("bad temperature %q", clip(b))
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseLoadavg parses /proc/loadavg, such as "0.24 0.12 0.04 1/86 3889\n",
// returning its first three fields in milli-units.
func parseLoadavg(b []byte) (l1, l5, l15 int64, err error) {
	var v [3]int64
	rest := b
	for i := range v {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			return 0, 0, 0, fmt.Errorf("want 3 load averages, got %d", i)
		}
		var ok bool
		if v[i], ok = parseDecimal(f); !ok {
			return 0, 0, 0, fmt.Errorf("bad load average %q", clip(f))
		}
	}
	return v[0], v[1], v[2], nil
}

// parseUptime parses /proc/uptime, such as "141.85 245.70\n", returning its
// first field in milliseconds.
func parseUptime(b []byte) (int64, error) {
	f, _ := nextField(b)
	if len(f) == 0 {
		return 0, errEmpty
	}
	v, ok := parseDecimal(f)
	if !ok {
		return 0, fmt.Errorf("bad uptime %q", clip(f))
	}
	return v, nil
}

// parseMeminfo returns MemTotal and MemAvailable from /proc/meminfo, whose
// lines look like "MemTotal:       24684084 kB". The first line with each key
// counts. It fails if either is missing or malformed, if MemTotal is 0, or if
// MemAvailable exceeds MemTotal.
func parseMeminfo(b []byte) (total, avail int64, err error) {
	total, avail = -1, -1
	for len(b) > 0 && (total < 0 || avail < 0) {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, rest := line[:colon], line[colon+1:]
		var dst *int64
		switch {
		case total < 0 && string(key) == "MemTotal":
			dst = &total
		case avail < 0 && string(key) == "MemAvailable":
			dst = &avail
		default:
			continue
		}
		num, rest := nextField(rest)
		unit, rest := nextField(rest)
		extra, _ := nextField(rest)
		v, ok := parseUint(num, 18)
		if !ok || v > maxKB || (len(unit) > 0 && string(unit) != "kB") || len(extra) > 0 {
			return 0, 0, fmt.Errorf("bad %s line %q", key, clip(line))
		}
		*dst = v
	}
	switch {
	case total < 0:
		return 0, 0, errors.New("no MemTotal line")
	case avail < 0:
		return 0, 0, errors.New("no MemAvailable line")
	case total == 0:
		return 0, 0, errors.New("MemTotal is 0")
	case avail > total:
		return 0, 0, fmt.Errorf("MemAvailable %d kB exceeds MemTotal %d kB", avail, total)
	}
	return total, avail, nil
}

// isSpace reports whether c separates fields in the files we parse.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// nextField skips leading separators and returns the field that follows and
// what comes after it. field is empty when b holds no more fields.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// parseUint parses 1 to maxDigits decimal digits. maxDigits must be at
// most 18, so the result fits in an int64.
func parseUint(b []byte, maxDigits int) (int64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseDecimal parses a non-negative decimal such as "0.24", "141" or
// "3.14159" into milli-units, rounding half up at the third decimal. The
// integer part has 1 to 15 digits; a '.' must be followed by at least one
// digit. Signs, exponents and other forms are rejected.
func parseDecimal(b []byte) (int64, bool) {
	ip, fp, dot := b, []byte(nil), false
	if i := bytes.IndexByte(b, '.'); i >= 0 {
		ip, fp, dot = b[:i], b[i+1:], true
	}
	v, ok := parseUint(ip, 15)
	if !ok || (dot && len(fp) == 0) {
		return 0, false
	}
	v *= 1000
	scale := int64(100)
	for i, c := range fp {
		if c < '0' || c > '9' {
			return 0, false
		}
		switch {
		case i < 3:
			v += int64(c-'0') * scale
			scale /= 10
		case i == 3 && c >= '5':
			v++
		}
	}
	return v, true
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// errNoWireless reports a /proc/net/wireless that lists no interface, as on
// a machine with Wi-Fi hardware but no interface up.
var errNoWireless = errors.New("no wireless interface listed")

// addWireless adds the signal level and link quality of the first
// interface listed in /proc/net/wireless. It adds nothing, and succeeds,
// when none is listed: an interface that goes away (or is not up yet)
// takes the Wi-Fi values with it, and only those.
func addWireless(b []byte, r *reading.Reading) error {
	link, level, err := parseWireless(b)
	if errors.Is(err, errNoWireless) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.Add("wifi_signal", reading.DBm, level); err != nil {
		return err
	}
	return r.Add("wifi_link", reading.None, link)
}

// parseWireless parses /proc/net/wireless: two header lines, then one line
// per interface such as
//
//	wlan0: 0000   70.  -40.  -256        0      0      0      0      0        0
//
// and returns the first interface's link quality and signal level, in
// milli-units.
func parseWireless(b []byte) (link, level int64, err error) {
	for i := 0; i < 2; i++ {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return 0, 0, errors.New("no header")
		}
		b = b[nl+1:]
	}
	iface, rest := nextField(b)
	if len(iface) == 0 {
		return 0, 0, errNoWireless
	}
	if iface[len(iface)-1] != ':' {
		return 0, 0, fmt.Errorf("interface %q does not end in ':'", clip(iface))
	}
	_, rest = nextField(rest) // status
	var f []byte
	f, rest = nextField(rest)
	link, ok := parseWirelessValue(f)
	if !ok {
		return 0, 0, fmt.Errorf("bad link quality %q", clip(f))
	}
	f, _ = nextField(rest)
	level, ok = parseWirelessValue(f)
	if !ok {
		return 0, 0, fmt.Errorf("bad signal level %q", clip(f))
	}
	return link, level, nil
}

// parseWirelessValue parses a field such as "70.", "-40." or "-40.5" (the
// kernel marks updated values with a trailing '.'), in milli-units.
func parseWirelessValue(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if n := len(b); n > 1 && b[n-1] == '.' {
		b = b[:n-1]
	}
	v, ok := parseDecimal(b)
	if !ok || v > 1_000_000 {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}
