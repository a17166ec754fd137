package sensors

import (
	"errors"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

const wirelessHeader = "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n" +
	" face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"

func TestParseWireless(t *testing.T) {
	for _, tc := range []struct {
		in          string
		link, level int64
		err         string
	}{
		{wirelessHeader + " wlan0: 0000   70.  -40.  -256        0      0      0      0      0        0\n", 70000, -40000, ""},
		{wirelessHeader + "wlp2s0: 0000   41  -69.5  -256\n", 41000, -69500, ""},
		{wirelessHeader, 0, 0, "no wireless interface listed"},
		{"", 0, 0, "no header"},
		{wirelessHeader + " wlan0 0000 70. -40.\n", 0, 0, `interface "wlan0" does not end in ':'`},
		{wirelessHeader + " wlan0: 0000 x -40.\n", 0, 0, `bad link quality "x"`},
		{wirelessHeader + " wlan0: 0000 70.\n", 0, 0, `bad signal level ""`},
		{wirelessHeader + " wlan0: 0000 70. --40\n", 0, 0, `bad signal level "--40"`},
		{wirelessHeader + " wlan0: 0000 70. 1e9\n", 0, 0, `bad signal level "1e9"`},
	} {
		link, level, err := parseWireless([]byte(tc.in))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseWireless(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || link != tc.link || level != tc.level {
			t.Errorf("parseWireless(%q) = %d, %d, %v; want %d, %d", tc.in, link, level, err, tc.link, tc.level)
		}
	}
}

var wirelessValueRE = regexp.MustCompile(`^-?[0-9]{1,15}(\.[0-9]+)?\.?$`)

// FuzzWireless checks parseWireless against a reference built on
// strings.Fields and the reference decimal parser.
func FuzzWireless(f *testing.F) {
	f.Add(wirelessHeader + " wlan0: 0000   70.  -40.  -256        0      0      0      0      0        0\n")
	f.Add(wirelessHeader)
	f.Fuzz(func(t *testing.T, s string) {
		link, level, err := parseWireless([]byte(s))
		lines := strings.SplitN(s, "\n", 3)
		if len(lines) < 3 {
			if err == nil {
				t.Fatalf("accepted %q without two header lines", s)
			}
			return
		}
		f := fields(lines[2])
		ok := len(f) >= 4 && strings.HasSuffix(f[0], ":") && wirelessValueRE.MatchString(f[2]) && wirelessValueRE.MatchString(f[3])
		if ok {
			wantLink, wantLevel := refWireless(t, f[2]), refWireless(t, f[3])
			if wantLink > 1_000_000 || wantLink < -1_000_000 || wantLevel > 1_000_000 || wantLevel < -1_000_000 {
				ok = false
			} else if err != nil || link != wantLink || level != wantLevel {
				t.Fatalf("parseWireless(%q) = %d, %d, %v; want %d, %d", s, link, level, err, wantLink, wantLevel)
			}
		}
		if !ok && err == nil {
			t.Fatalf("parseWireless(%q) accepted %d, %d", s, link, level)
		}
	})
}

func refWireless(t *testing.T, s string) int64 {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) > 1 {
		s = strings.TrimSuffix(s, ".")
	}
	if !decimalRE.MatchString(s) {
		return 1 << 40 // rejected by parseDecimal too
	}
	v := refDecimal(t, s)
	if neg {
		v = -v
	}
	return v
}

func TestAddDisk(t *testing.T) {
	defer func(f func(string, *syscall.Statfs_t) error) { statfs = f }(statfs)
	statfs = func(path string, st *syscall.Statfs_t) error {
		if path != "/data" {
			return syscall.ENOENT
		}
		// df: 1000 blocks of 4 KiB, 400 free of which 300 for users:
		// used 600, available 300, used 600/900 = 66.667 %.
		st.Bsize, st.Blocks, st.Bfree, st.Bavail = 4096, 1000, 400, 300
		return nil
	}
	var r reading.Reading
	if err := addDisk("/data", &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Values(); len(got) != 2 ||
		got[0] != (reading.Value{Name: "disk_used", Unit: reading.Percent, Milli: 66667}) ||
		got[1] != (reading.Value{Name: "disk_free", Unit: reading.Mebibytes, Milli: 1172}) { // 1200 KiB = 1.172 MiB
		t.Errorf("values %+v", got)
	}
	if err := addDisk("/nope", &r); !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "statfs /nope") {
		t.Errorf("missing path: %v", err)
	}
	statfs = func(string, *syscall.Statfs_t) error { return nil }
	if err := addDisk("/data", &r); err == nil || !strings.Contains(err.Error(), "empty file system") {
		t.Errorf("empty file system: %v", err)
	}
}

func TestHostDisk(t *testing.T) {
	h, err := NewHost(&HostOpts{Root: "testdata/host/partial", Disk: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Halt()
	var r reading.Reading
	if err := h.Sense(&r); err != nil {
		t.Fatal(err)
	}
	v, ok := r.Lookup("disk_used")
	if !ok || v.Milli < 0 || v.Milli > 100_000 {
		t.Errorf("disk_used = %+v, %v", v, ok)
	}
	if _, ok := r.Lookup("disk_free"); !ok {
		t.Error("no disk_free")
	}
}

func TestParseW1Slave(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"d0 07 4b 46 7f ff 0c 10 1c : crc=1c YES\nd0 07 4b 46 7f ff 0c 10 1c t=125000\n", 125000, ""},
		{"6f fe 4b 46 7f ff 01 10 c5 : crc=c5 YES\r\n6f fe 4b 46 7f ff 01 10 c5 t=-25062\n", -25062, ""},
		{"00 00 00 00 00 00 00 00 00 : crc=00 NO\n00 00 00 00 00 00 00 00 00 t=0\n", 0, "CRC check failed"},
		{"ff ff ff ff ff ff ff ff ff : crc=c9 YES", 0, "want two lines"},
		{"x : crc=1 YES\nx\n", 0, `no "t=" on the second line`},
		{"x : crc=1 YES\nx t=abc\n", 0, `bad temperature "abc"`},
	} {
		got, err := parseW1Slave([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseW1Slave(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseW1Slave(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// FuzzW1Slave: a file is accepted only if its first line ends in YES and
// its second has t= followed by an integer, whose value is returned.
func FuzzW1Slave(f *testing.F) {
	f.Add("91 01 4b 46 7f ff 0f 10 25 : crc=25 YES\n91 01 4b 46 7f ff 0f 10 25 t=25062\n")
	f.Add("x : crc=00 NO\nx t=1\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseW1Slave([]byte(s))
		l1, rest, ok := strings.Cut(s, "\n")
		l2, _, _ := strings.Cut(rest, "\n")
		i := strings.LastIndex(l2, "t=")
		valid := ok && strings.HasSuffix(strings.TrimRight(l1, " \r"), "YES") && i >= 0
		var want int64
		if valid {
			fs := fields(l2[i+2:])
			valid = len(fs) == 1 && intRE.MatchString(fs[0]) && fs[0] != "-"
			if valid {
				want = refInt(fs[0])
			}
		}
		if valid != (err == nil) || (valid && got != want) {
			t.Fatalf("parseW1Slave(%q) = %d, %v; want valid=%v %d", s, got, err, valid, want)
		}
	})
}

func refInt(s string) int64 {
	var v int64
	neg := strings.HasPrefix(s, "-")
	for _, c := range strings.TrimPrefix(s, "-") {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v
}
