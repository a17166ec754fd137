package ws

import (
	"testing"
	"unicode/utf8"
)

// TestUTF8StreamSplits checks the streaming validator against utf8.Valid
// for every way of cutting each input into two and three pieces, and that
// it fails no later than the piece holding the first invalid byte.
func TestUTF8StreamSplits(t *testing.T) {
	inputs := []string{
		"", "a", "κόσμε", "\u00e9\u4e16\U0001F600", "\xed\x9f\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf",
		"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5", "\xff", "\x80",
		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", "ab\xe2\x82", "\xf0\x9f\x98",
		"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
	}
	for _, in := range inputs {
		want := utf8.ValidString(in)
		// The shortest prefix that is not the prefix of any valid string.
		failAt := len(in) + 1
		for i := 1; i <= len(in); i++ {
			var s utf8Stream
			if !s.feed([]byte(in[:i])) {
				failAt = i
				break
			}
		}
		for i := 0; i <= len(in); i++ {
			for j := i; j <= len(in); j++ {
				var s utf8Stream
				pieces := []string{in[:i], in[i:j], in[j:]}
				ok, end := true, 0
				for _, p := range pieces {
					end += len(p)
					if !s.feed([]byte(p)) {
						ok = false
						if end < failAt {
							t.Errorf("%q split %d/%d: failed at byte %d, before the first invalid prefix %d", in, i, j, end, failAt)
						}
						break
					}
					if end >= failAt {
						t.Errorf("%q split %d/%d: accepted %d bytes, first invalid prefix is %d", in, i, j, end, failAt)
					}
				}
				if ok {
					ok = s.done()
				}
				if ok != want {
					t.Errorf("%q split %d/%d: valid %v, want %v", in, i, j, ok, want)
				}
			}
		}
	}
}

func FuzzUTF8Stream(f *testing.F) {
	f.Add([]byte("κόσμε\xed\xa0\x80"), uint8(3))
	f.Add([]byte("\xf0\x9f\x98\x80"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		n := int(step%7) + 1
		var s utf8Stream
		ok := true
		for i := 0; i < len(in) && ok; i += n {
			ok = s.feed(in[i:min(i+n, len(in))])
		}
		if ok {
			ok = s.done()
		}
		if ok != utf8.Valid(in) {
			t.Fatalf("stream says %v, utf8.Valid says %v", ok, !ok)
		}
	})
}
