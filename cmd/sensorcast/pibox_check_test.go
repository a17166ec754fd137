package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bmeMsg is a bme280 reading message with the given milli-unit values.
func bmeMsg(v bmeValues) boxMsg {
	m := boxMsg{Type: "reading", Sensor: "bme280", Values: map[string]struct {
		V    float64
		Unit string
	}{}}
	m.Values["temperature"] = struct {
		V    float64
		Unit string
	}{float64(v.tempMilliC) / 1000, "°C"}
	m.Values["pressure"] = struct {
		V    float64
		Unit string
	}{float64(v.pressMilliHPa) / 1000, "hPa"}
	m.Values["humidity"] = struct {
		V    float64
		Unit string
	}{float64(v.humMilliPct) / 1000, "%"}
	return m
}

func statusMsg(sensor string, ok bool) boxMsg { return boxMsg{Type: "status", Sensor: sensor, OK: ok} }

// TestPiBoxCheckStream feeds checkStream the streams the box can produce:
// the clean one, and the faults TestPiInABox must catch, among them the
// reading of issue 14 (raw registers still zero when the chip was first
// read after the recovery: −140.79 °C).
func TestPiBoxCheckStream(t *testing.T) {
	c := bmeFixture
	v1 := c.expect()
	c.raw[3], c.raw[4], c.raw[5] = 0x7e, 0x00, 0x00
	v2 := c.expect()
	if v1 == v2 {
		t.Fatal("the two fixture states are equal")
	}
	states := []bmeValues{v1, v2}
	// Raw temperature zero, calibration complete: the published −140.79 °C.
	zeroRaw := v2
	zeroRaw.tempMilliC = -140790
	// Calibration not written yet: T1..T3 = 0 gives 0 °C, P1 = 0 gives 0 Pa.
	zeroCal := bmeValues{0, 0, 0}
	// A plausible value that is neither state: a torn write.
	torn := v1
	torn.tempMilliC = 21000
	mcp := bmeMsg(bmeValues{})
	mcp.Sensor = "mcp9808"
	mcp.Values = map[string]struct {
		V    float64
		Unit string
	}{"temperature": {25.25, "°C"}}
	mcpWrong := mcp
	mcpWrong.Values = map[string]struct {
		V    float64
		Unit string
	}{"temperature": {0, "°C"}}

	// The kernel's driver on the second chip: always the fixture's values,
	// also while the first chip changes.
	iio := bmeMsg(v1)
	iio.Sensor = "bme280-iio"
	iioWrong := bmeMsg(v2)
	iioWrong.Sensor = "bme280-iio"

	clean := []boxMsg{bmeMsg(v1), mcp, bmeMsg(v1), bmeMsg(v1), bmeMsg(v2), bmeMsg(v2), statusMsg("bme280", false), statusMsg("mcp9808", false)}
	recovered := len(clean)
	clean = append(clean, statusMsg("bme280", true), statusMsg("mcp9808", true), bmeMsg(v2), mcp, bmeMsg(v2), iio)

	if f := checkStream(clean, states, recovered); len(f) != 0 {
		t.Errorf("clean stream: faults %q", f)
	}
	// The first state alone, without the second ever seen, is fine too.
	if f := checkStream(clean[:4], states, 4); len(f) != 0 {
		t.Errorf("clean stream before the change: faults %q", f)
	}

	with := func(i int, m boxMsg) []boxMsg {
		s := append([]boxMsg(nil), clean...)
		s[i] = m
		return s
	}
	missing := bmeMsg(v1)
	delete(missing.Values, "humidity")
	for _, tc := range []struct {
		name   string
		stream []boxMsg
		want   string
	}{
		{"issue 14: raw registers zero after the recovery", with(recovered+2, bmeMsg(zeroRaw)), "outside the datasheet"},
		{"issue 14: a wrong value after the recovery", with(recovered+2, bmeMsg(zeroRaw)), "after the recovery"},
		{"calibration zero after the recovery", with(recovered+4, bmeMsg(zeroCal)), "pressure"},
		{"the old state after the recovery", with(recovered+4, bmeMsg(v1)), "after the recovery"},
		{"the old state after the new one", with(5, bmeMsg(v1)), "or what follows it"},
		{"a torn write before the change", with(2, bmeMsg(torn)), "or what follows it"},
		{"calibration zero at start", with(0, bmeMsg(zeroCal)), "outside the datasheet"},
		{"a value missing", with(2, missing), "humidity"},
		{"a failure after the recovery", with(recovered+3, statusMsg("bme280", false)), "failing after the recovery"},
		{"a wrong mcp9808 reading", with(1, mcpWrong), "mcp9808 reading"},
		{"a bme280-iio reading other than the fixture", with(len(clean)-1, iioWrong), "bme280-iio reading"},
	} {
		f := checkStream(tc.stream, states, recovered)
		if !strings.Contains(strings.Join(f, "\n"), tc.want) {
			t.Errorf("%s: faults %q, want one about %q", tc.name, f, tc.want)
		}
	}
}

// TestPiBoxLoadStub checks the order loadStub's command keeps: the stub is
// loaded on the staging bus, every register is written there, each chip in
// one i2ctransfer, the kernel's driver is bound to the chip at iioAddr once
// it is programmed, and /dev/i2c-1 is created last, only if all of it
// worked.
func TestPiBoxLoadStub(t *testing.T) {
	c := bmeFixture
	steps := strings.Split(loadStub(&c, 0x0194), " && ")
	if len(steps) < 6 || strings.Contains(strings.Join(steps, ""), ";") {
		t.Fatalf("loadStub: steps %q, want at least 6, all joined by &&", steps)
	}
	if !strings.HasPrefix(steps[0], "insmod ") || !strings.Contains(steps[0], "bus_num=11 ") {
		t.Errorf("step 1 = %q, want insmod on bus 11", steps[0])
	}
	for i, addr := range []string{"@0x76", "@0x18", "@0x77"} {
		s := steps[1+i]
		if strings.Count(s, "i2ctransfer") != 1 || !strings.HasPrefix(s, "i2ctransfer -y 11 ") || !strings.Contains(s, addr) || strings.Contains(s, ";") {
			t.Errorf("step %d = %q, want one i2ctransfer on bus 11 to %s", 2+i, s, addr)
		}
	}
	// The BME280's message: one write of 43 (register, value) pairs, the
	// chip ID among them.
	if !strings.Contains(steps[1], "w86@0x76 0xd0 0x60 0x88 0x10 ") {
		t.Errorf("BME280 program = %q", steps[1])
	}
	if !strings.Contains(steps[3], "w86@0x77 0xd0 0x60 0x88 0x10 ") {
		t.Errorf("IIO BME280 program = %q", steps[3])
	}
	if want := "echo bme280 0x77 > /sys/bus/i2c/devices/i2c-11/new_device"; steps[4] != want {
		t.Errorf("step 5 = %q, want %q", steps[4], want)
	}
	publish := strings.Join(steps[5:], " && ")
	if want := "dev=$(cat /sys/class/i2c-dev/i2c-11/dev) && mknod /dev/i2c-1 c ${dev%%:*} ${dev#*:} && rm /dev/i2c-11"; publish != want {
		t.Errorf("last steps = %q, want %q", publish, want)
	}
}

// TestPiBoxCheckBoxDir: a PIBOX_DIR without the kernel or the initramfs is
// reported with its path, at once, rather than as a box that never boots.
func TestPiBoxCheckBoxDir(t *testing.T) {
	dir := t.TempDir()
	err := checkBoxDir(filepath.Join(dir, "nowhere"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nowhere")) || !strings.Contains(err.Error(), "vmlinuz") {
		t.Errorf("missing dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkBoxDir(dir); err == nil || !strings.Contains(err.Error(), "initrd.gz") {
		t.Errorf("no initrd.gz: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "initrd.gz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkBoxDir(dir); err == nil || !strings.Contains(err.Error(), "initrd.gz is empty") {
		t.Errorf("empty initrd.gz: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "initrd.gz"), []byte("cpio"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkBoxDir(dir); err != nil {
		t.Errorf("complete dir: %v", err)
	}
}
