package sensors

import (
	"strconv"
	"testing"
)

// FuzzParsePulseState: any file content is a count or an error; a count
// accepted is written back byte for byte as it was read.
func FuzzParsePulseState(f *testing.F) {
	for _, s := range []string{"0\n", "507\n", "12", "-3\n", "1e3\n", "9007199254740993\n", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parsePulseState(b)
		if err != nil {
			return
		}
		// Leading zeros ("007\n") parse; anything else round-trips.
		if got := strconv.FormatUint(n, 10) + "\n"; got != trimZeros(string(b)) {
			t.Fatalf("%q read as %d", b, n)
		}
	})
}

func trimZeros(s string) string {
	for len(s) > 2 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
