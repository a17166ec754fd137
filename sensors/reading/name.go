package reading

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest device or sensor name, in bytes.
const MaxNameLen = 64

// CheckName reports whether name may name a device or a sensor: 1 to 64
// bytes of UTF-8 text, no control characters, none of / + # (MQTT's level
// separator and wildcards), no space at either end. A space inside is
// published as _ in MQTT topics, so "living room" and "living_room" cannot
// both be sensors of one device (TopicName tells).
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("name %q: longer than %d bytes", name, MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q: not UTF-8", name)
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return fmt.Errorf("name %q: begins or ends with a space", name)
	}
	for _, r := range name {
		if r == '/' || r == '+' || r == '#' || unicode.IsControl(r) {
			return fmt.Errorf("name %q: %q is not allowed in names (no /, +, # or control characters)", name, r)
		}
	}
	return nil
}
