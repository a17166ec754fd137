package sensors

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// The fuzz tests compare each hand-written parser with a slow reference
// built from strings, regexp and math/big: both must accept the same inputs
// and agree on the values. Seed corpora are in testdata/fuzz/<FuzzName>/.

var (
	decimalRE = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]+)?$`)
	intRE     = regexp.MustCompile(`^-?[0-9]{1,18}$`)
	uintRE    = regexp.MustCompile(`^[0-9]{1,18}$`)
)

func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

// refDecimal converts a decimalRE match to milli-units, rounding half up.
func refDecimal(t *testing.T, s string) int64 {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", s)
	}
	r.Mul(r, big.NewRat(1000, 1))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // truncates; r is positive
	return q.Int64()
}

func FuzzLoadavg(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		l1, l5, l15, err := parseLoadavg(b)
		fs := fields(string(b))
		refOK := len(fs) >= 3 && decimalRE.MatchString(fs[0]) && decimalRE.MatchString(fs[1]) && decimalRE.MatchString(fs[2])
		if (err == nil) != refOK {
			t.Fatalf("parseLoadavg(%q) error %v; the reference accepts it: %v", b, err, refOK)
		}
		if err != nil {
			return
		}
		for i, got := range []int64{l1, l5, l15} {
			if want := refDecimal(t, fs[i]); got != want {
				t.Errorf("parseLoadavg(%q): field %d = %d, want %d", b, i, got, want)
			}
		}
		var r reading.Reading
		if err := addLoadavg(b, &r); err != nil || r.Len() != 3 {
			t.Errorf("addLoadavg(%q) = %v, %d values", b, err, r.Len())
		}
	})
}

func FuzzUptime(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseUptime(b)
		fs := fields(string(b))
		refOK := len(fs) >= 1 && decimalRE.MatchString(fs[0])
		if (err == nil) != refOK {
			t.Fatalf("parseUptime(%q) error %v; the reference accepts it: %v", b, err, refOK)
		}
		if err == nil {
			if want := refDecimal(t, fs[0]); got != want {
				t.Errorf("parseUptime(%q) = %d, want %d", b, got, want)
			}
		}
	})
}

func FuzzThermal(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseThermal(b)
		fs := fields(string(b))
		refOK := len(fs) == 1 && intRE.MatchString(fs[0])
		if (err == nil) != refOK {
			t.Fatalf("parseThermal(%q) error %v; the reference accepts it: %v", b, err, refOK)
		}
		if err == nil {
			want, perr := strconv.ParseInt(fs[0], 10, 64)
			if perr != nil || got != want {
				t.Errorf("parseThermal(%q) = %d, want %d (%v)", b, got, want, perr)
			}
		}
	})
}

// refMeminfo is parseMeminfo written the slow way.
func refMeminfo(s string) (total, avail int64, ok bool) {
	total, avail = -1, -1
	for line := range strings.SplitSeq(s, "\n") {
		if total >= 0 && avail >= 0 {
			break
		}
		key, rest, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		var dst *int64
		switch {
		case total < 0 && key == "MemTotal":
			dst = &total
		case avail < 0 && key == "MemAvailable":
			dst = &avail
		default:
			continue
		}
		fs := fields(rest)
		if len(fs) == 0 || len(fs) > 2 || (len(fs) == 2 && fs[1] != "kB") || !uintRE.MatchString(fs[0]) {
			return 0, 0, false
		}
		v, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil || v > maxKB {
			return 0, 0, false
		}
		*dst = v
	}
	if total <= 0 || avail < 0 || avail > total {
		return 0, 0, false
	}
	return total, avail, true
}

func FuzzMeminfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		total, avail, err := parseMeminfo(b)
		rt, ra, refOK := refMeminfo(string(b))
		if (err == nil) != refOK {
			t.Fatalf("parseMeminfo(%q) error %v; the reference accepts it: %v", b, err, refOK)
		}
		if err != nil {
			return
		}
		if total != rt || avail != ra {
			t.Fatalf("parseMeminfo(%q) = %d, %d; want %d, %d", b, total, avail, rt, ra)
		}
		var r reading.Reading
		r.Reset("pi", "host", time.Time{})
		if err := addMeminfo(b, &r); err != nil {
			t.Fatal(err)
		}
		used, _ := r.Lookup("mem_used")
		free, _ := r.Lookup("mem_available")
		if used.Milli < 0 || used.Milli > 100_000 || free.Milli < 0 || free.Milli > maxKB*1000/1024+1 {
			t.Errorf("parseMeminfo(%q): mem_used %d, mem_available %d out of range", b, used.Milli, free.Milli)
		}
	})
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"0.24", 240, true},
		{"141.85", 141850, true},
		{"3.14159", 3142, true},
		{"0.0004", 0, true},
		{"0.0005", 1, true},
		{"0.9995", 1000, true},
		{"999999999999999.9999", 1_000_000_000_000_000_000, true},
		{"1000000000000000", 0, false}, // 16 integer digits
		{"", 0, false},
		{".5", 0, false},
		{"5.", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"1.2.3", 0, false},
		{"0x10", 0, false},
	} {
		got, ok := parseDecimal([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseDecimal(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
