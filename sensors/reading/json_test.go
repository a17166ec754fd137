package reading_test

import (
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// sample returns a Reading with a few values and a fixed time.
func sample() *reading.Reading {
	var r reading.Reading
	r.Reset("pi", "bme280", time.Date(2026, 11, 26, 19, 33, 27, 120_000_000, time.UTC))
	r.Add("temperature", reading.Celsius, 21375)
	r.Add("humidity", reading.Percent, 48200)
	r.Add("pressure", reading.HPa, 1013250)
	return &r
}

func TestNoAllocs(t *testing.T) {
	r := sample()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(1000, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		buf = reading.AppendString(buf[:0], "a\x00<b>\xff\u2028 °C")
		buf = reading.AppendMilli(buf, math.MinInt64)
		buf = reading.AppendTime(buf, r.Time)
	}); n != 0 {
		t.Errorf("AppendString, AppendMilli, AppendTime: %v allocs, want 0", n)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := sample()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// wire is the shape AppendJSON writes, for decoding with encoding/json.
type wire struct {
	Type   string `json:"type"`
	Device string `json:"device"`
	Sensor string `json:"sensor"`
	Time   string `json:"time"`
	TS     int64  `json:"ts"`
	Values map[string]struct {
		V    json.Number `json:"v"`
		Unit string      `json:"unit"`
	} `json:"values"`
}

func TestAppendJSONRoundTrip(t *testing.T) {
	var r reading.Reading
	tm := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("CET", 3600))
	r.Reset("node \"1\"\n", "<sensor>&\xff", tm)
	vals := []reading.Value{
		{Name: "a", Unit: reading.Celsius, Milli: -5},
		{Name: "b\\", Unit: reading.None, Milli: 0},
		{Name: "c\u2028", Unit: "µ\x01", Milli: math.MinInt64},
		{Name: "d", Unit: reading.Megabytes, Milli: math.MaxInt64},
	}
	for _, v := range vals {
		if err := r.Add(v.Name, v.Unit, v.Milli); err != nil {
			t.Fatal(err)
		}
	}
	js, ok := strings.CutPrefix(string(r.AppendJSON([]byte("prefix:"))), "prefix:")
	if !ok {
		t.Fatal("AppendJSON did not append to dst")
	}
	if !json.Valid([]byte(js)) {
		t.Fatalf("invalid JSON: %s", js)
	}
	var w wire
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	if err := d.Decode(&w); err != nil {
		t.Fatal(err)
	}
	if w.Type != "reading" || w.Device != r.Device || w.Sensor != "<sensor>&\ufffd" ||
		w.Time != "2026-01-02T02:04:05.678Z" || w.TS != tm.UnixMilli() {
		t.Errorf("decoded %+v from %s", w, js)
	}
	if len(w.Values) != len(vals) {
		t.Errorf("%d values decoded, want %d", len(w.Values), len(vals))
	}
	for _, v := range vals {
		got, ok := w.Values[v.Name]
		if !ok || got.Unit != string(v.Unit) || exactMilli(t, string(got.V)) != big.NewInt(v.Milli).String() {
			t.Errorf("value %q: decoded %+v, want %d milli %q", v.Name, got, v.Milli, v.Unit)
		}
	}
}

// exactMilli returns the JSON number s times 1000, exactly, as an integer
// string, or "" if that is not an integer.
func exactMilli(t *testing.T, s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	r.Mul(r, big.NewRat(1000, 1))
	if !r.IsInt() {
		return ""
	}
	return r.Num().String()
}

func TestAppendMilli(t *testing.T) {
	for _, tc := range []struct {
		milli int64
		want  string
	}{
		{0, "0"},
		{1, "0.001"},
		{-1, "-0.001"},
		{-5, "-0.005"},
		{10, "0.01"},
		{100, "0.1"},
		{999, "0.999"},
		{1000, "1"},
		{-1000, "-1"},
		{21375, "21.375"},
		{21500, "21.5"},
		{-21000, "-21"},
		{1013250, "1013.25"},
		{math.MaxInt64, "9223372036854775.807"},
		{math.MinInt64, "-9223372036854775.808"},
		{math.MinInt64 + 1, "-9223372036854775.807"},
	} {
		got := string(reading.AppendMilli(nil, tc.milli))
		if got != tc.want {
			t.Errorf("AppendMilli(%d) = %s, want %s", tc.milli, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("AppendMilli(%d) = %s: not a valid JSON number", tc.milli, got)
		}
		if m := exactMilli(t, got); m != big.NewInt(tc.milli).String() {
			t.Errorf("AppendMilli(%d) = %s, which is %s milli", tc.milli, got, m)
		}
	}
}

// validUTF8 is s with each byte that is not part of valid UTF-8 replaced by
// U+FFFD, as ranging over a string does.
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// checkAppendString checks the output of AppendString(nil, s).
func checkAppendString(t *testing.T, s string) string {
	t.Helper()
	out := reading.AppendString(nil, s)
	if !json.Valid(out) {
		t.Fatalf("AppendString(%q) = %s: invalid JSON", s, out)
	}
	if !utf8.Valid(out) {
		t.Fatalf("AppendString(%q) = %q: invalid UTF-8", s, out)
	}
	if i := strings.IndexFunc(string(out), func(r rune) bool {
		return r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029'
	}); i >= 0 {
		t.Fatalf("AppendString(%q) = %q: unescaped %q", s, out, out[i])
	}
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", s, out, err)
	}
	if want := validUTF8(s); got != want {
		t.Fatalf("AppendString(%q) decodes to %q, want %q", s, got, want)
	}
	return string(out)
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"sim", `"sim"`},
		{"°C", `"°C"`},
		{`a"b\c/d`, `"a\"b\\c/d"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00\x01\x08\x0c\x1f", `"\u0000\u0001\u0008\u000c\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<b>&amp;", `"\u003cb\u003e\u0026amp;"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"\xff", `"\ufffd"`},
		{"a\xe2\x82", `"a\ufffd\ufffd"`},         // truncated €
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // a surrogate
		{"\xc0\xaf", `"\ufffd\ufffd"`},           // overlong '/'
		{"\ufffd", "\"\ufffd\""},                 // a real U+FFFD is kept as is
		{"😀", `"😀"`},
	} {
		if got := checkAppendString(t, tc.in); got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
	})
}

func TestAppendTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 19, 33, 27, 120_000_000, time.UTC), "2026-11-26T19:33:27.120Z"},
		{time.Date(2026, 11, 26, 19, 33, 27, 999_999_999, time.UTC), "2026-11-26T19:33:27.999Z"}, // truncated
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), "2025-12-31T23:30:00.000Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
	} {
		if got := string(reading.AppendTime(nil, tc.t)); got != tc.want {
			t.Errorf("AppendTime(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}
