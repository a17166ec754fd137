package main

import (
	"regexp"
	"testing"
	"unicode/utf8"
)

// The config's line matching and the CSV file name are written out by hand
// so that the binary does not link regexp; these tests hold them to the
// regular expressions they replace.

func regexpAssigns(l, key string) bool {
	return regexp.MustCompile(`^\s*("?)` + regexp.QuoteMeta(key) + `("?)\s*=`).MatchString(l)
}

func regexpHeader(l, key string) bool {
	return regexp.MustCompile(`^\s*\[\s*sensor\.` + regexp.QuoteMeta(key) + `\s*\]`).MatchString(l)
}

var regexpSensorHeader = regexp.MustCompile(`^\s*\[\[\s*sensor\s*\]\]`)

var regexpTOMLLine = regexp.MustCompile(`^toml: line (\d+) (.*)$`)

var regexpUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// checkMatchers compares each hand-written matcher with its regexp on line
// l and key key.
func checkMatchers(t *testing.T, l, key string) {
	t.Helper()
	// A regexp cannot hold invalid UTF-8 (the replaced code panicked on
	// such a key; TOML keys are valid UTF-8): the hand-written matchers
	// only have to answer.
	if !utf8.ValidString(key) {
		assigns(l, key)
		isHeader(l, "[", "sensor."+key, "]")
	} else {
		if got, want := assigns(l, key), regexpAssigns(l, key); got != want {
			t.Errorf("assigns(%q, %q) = %v, regexp says %v", l, key, got, want)
		}
		if got, want := isHeader(l, "[", "sensor."+key, "]"), regexpHeader(l, key); got != want {
			t.Errorf("isHeader(%q, [sensor.%q]) = %v, regexp says %v", l, key, got, want)
		}
	}
	if got, want := isHeader(l, "[[", "sensor", "]]"), regexpSensorHeader.MatchString(l); got != want {
		t.Errorf("isHeader(%q, [[sensor]]) = %v, regexp says %v", l, got, want)
	}
	n, rest, ok := tomlLine(l)
	if m := regexpTOMLLine.FindStringSubmatch(l); (m != nil) != ok || ok && (n != m[1] || rest != m[2]) {
		t.Errorf("tomlLine(%q) = %q, %q, %v; regexp says %q", l, n, rest, ok, m)
	}
	if got, want := safeFileName(l), regexpUnsafe.ReplaceAllString(l, "_"); got != want {
		t.Errorf("safeFileName(%q) = %q, regexp says %q", l, got, want)
	}
}

func TestLineMatchers(t *testing.T) {
	for _, tc := range []struct{ line, key string }{
		{`interval = "1s"`, "interval"},
		{`  "interval"="1s"`, "interval"},
		{"\t\"interval\" \t= 1", "interval"},
		{`interval_ms = 1`, "interval"},
		{`"interval = 1`, "interval"},
		{`intervals = 1`, "interval"},
		{`# interval = 1`, "interval"},
		{`[sensor.filter.temperature]`, "filter.temperature"},
		{` [ sensor.filter.temperature ] # x`, "filter.temperature"},
		{`[sensor.filter.temperatures]`, "filter.temperature"},
		{`[[sensor.filter.temperature]]`, "filter.temperature"},
		{`[[sensor]]`, "sensor"},
		{`  [[ sensor ]] # the BME280`, "x"},
		{`[[sensors]]`, "x"},
		{`[ [sensor]]`, "x"},
		{`[sensor]`, "x"},
		{`toml: line 12 (last key "sensor.interval"): incompatible types`, "x"},
		{"toml: line 12 two\nlines", "x"},
		{`toml: line  12 x`, "x"},
		{`toml: line 12`, "x"},
		{`toml: line 7 `, "x"},
		{`living room/temp ü` + "\xff.csv", "x"},
		{`a.b-c_D9`, "a.b"},
		{"", ""},
	} {
		checkMatchers(t, tc.line, tc.key)
	}
}

func FuzzLineMatchers(f *testing.F) {
	f.Add(`interval = "1s"`, "interval")
	f.Add(` [ sensor.filter.temperature ]`, "filter.temperature")
	f.Add(`[[sensor]]`, "sensor")
	f.Add(`toml: line 3 (last key "x"): bad`, "x")
	f.Fuzz(func(t *testing.T, line, key string) {
		checkMatchers(t, line, key)
	})
}
