package reading

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is the layout of the "time" field on the wire: RFC 3339 in UTC
// with exactly three fractional digits, such as "2026-11-26T19:33:27.120Z".
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// AppendJSON appends r as one JSON object to dst and returns the extended
// buffer. It uses no reflection and allocates nothing when dst has room.
//
// The shape, which is sensorcast's wire format and stays stable:
//
//	{"type":"reading","device":"pi","sensor":"sim","time":"2026-11-26T19:33:27.120Z",
//	 "ts":1795721607120,"values":{"temperature":{"v":21.375,"unit":"°C"}}}
//
// "ts" is the same instant as "time" in Unix milliseconds. Values appear in
// the order they were added; each "v" is a JSON number with at most three
// decimals, exact from the fixed-point value.
func (r *Reading) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"reading","device":`...)
	dst = AppendString(dst, r.Device)
	dst = append(dst, `,"sensor":`...)
	dst = AppendString(dst, r.Sensor)
	dst = append(dst, `,"time":"`...)
	dst = AppendTime(dst, r.Time)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
	dst = append(dst, `,"values":{`...)
	for i, v := range r.vals[:r.n] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, v.Name)
		dst = append(dst, `:{"v":`...)
		dst = AppendMilli(dst, v.Milli)
		dst = append(dst, `,"unit":`...)
		dst = AppendString(dst, string(v.Unit))
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

// AppendTime appends t in UTC in TimeLayout.
func AppendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, TimeLayout)
}

// AppendMilli appends a milli-unit value as a JSON number in whole units:
// 21375 as 21.375, 21500 as 21.5, 21000 as 21, -5 as -0.005.
func AppendMilli(dst []byte, milli int64) []byte {
	u := uint64(milli)
	if milli < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/1000, 10)
	frac := u % 1000
	if frac == 0 {
		return dst
	}
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for digits[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, digits[:n]...)
}

const hex = "0123456789abcdef"

// AppendString appends s as a quoted JSON string, escaping what RFC 8259
// requires plus <, > and & (so the output is safe inside HTML), and replacing
// invalid UTF-8 with U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in older JavaScript.
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
