package reading

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"sim", "living room", "Küche", "bme280-1", "a.b_c"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a+", "#", "tab\there", " lead", "trail ", "nul\x00", strings.Repeat("x", MaxNameLen+1), "\xff"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) = nil", bad)
		}
	}
}
