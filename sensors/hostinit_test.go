package sensors_test

import (
	"slices"
	"testing"

	"github.com/sensorcast/sensorcast/sensors"
)

// TestInitHostLoadsOnlyLinuxDrivers checks that InitHost tries exactly the
// Linux drivers the sensors use (sysfs I²C and friends, the GPIO character
// device), never a board or SoC driver, and that a second call returns the
// same state.
func TestInitHostLoadsOnlyLinuxDrivers(t *testing.T) {
	st, err := sensors.InitHost()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range st.Loaded {
		names = append(names, d.String())
	}
	for _, f := range append(st.Skipped, st.Failed...) {
		names = append(names, f.D.String())
	}
	slices.Sort(names)
	t.Logf("drivers: %v", names)
	for _, want := range []string{"ioctl-gpio", "sysfs-i2c"} {
		if !slices.Contains(names, want) {
			t.Errorf("driver %s was not tried; tried %v", want, names)
		}
	}
	allowed := []string{"ioctl-gpio", "sysfs-gpio", "sysfs-i2c", "sysfs-led", "sysfs-spi", "sysfs-thermal"}
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			t.Errorf("driver %s was tried: a board or SoC driver is linked in", n)
		}
	}
	again, err := sensors.InitHost()
	if err != nil || again != st {
		t.Errorf("second InitHost = %p, %v; want the first state %p", again, err, st)
	}
}
