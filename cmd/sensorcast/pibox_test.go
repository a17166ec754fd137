package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// TestPiInABox runs the real arm64 binary in an arm64 Linux kernel under
// qemu, with an emulated BME280 and MCP9808 on /dev/i2c-1 (i2c-stub) and a
// Pi-like GPIO bank (gpio-sim), and checks what it reports over its
// WebSocket and HTTP API. `make pi-in-a-box` builds the box (kernel,
// modules, initramfs) and runs this test with PIBOX_DIR set; see
// deploy/rpi/pibox.
func TestPiInABox(t *testing.T) {
	dir := os.Getenv("PIBOX_DIR")
	if dir == "" {
		t.Skip("PIBOX_DIR is not set: run make pi-in-a-box")
	}
	b := startBox(t, dir)
	bme := bmeFixture // a copy: step 4 changes its raw values

	b.mustRun(t, iioSetup)
	b.mustRun(t, loadStub(&bme, 0x0194))
	b.mustRun(t, gpioSimSetup)
	b.mustRun(t, "sensorcast -config /etc/sensorcast/sensorcast.toml >/tmp/sensorcast.log 2>&1 &")
	msgs := b.stream(t)

	// 1. The BME280 gives what the datasheet's formulas give.
	states := []bmeValues{bme.expect()} // what the chip's registers said, in order
	want := states[0]
	got := msgs.waitReading(t, "bme280", 20*time.Second, func(m boxMsg) bool { return true })
	checkNear(t, "bme280 temperature", got, "temperature", want.tempMilliC)
	checkNear(t, "bme280 pressure", got, "pressure", want.pressMilliHPa)
	checkNear(t, "bme280 humidity", got, "humidity", want.humMilliPct)
	t.Logf("bme280: %v (datasheet: %d m°C, %d mhPa, %d m%%)", got.Values, want.tempMilliC, want.pressMilliHPa, want.humMilliPct)

	// 2. A second register chip: 0x0194 is 25.25 °C.
	got = msgs.waitReading(t, "mcp9808", 10*time.Second, func(m boxMsg) bool { return true })
	checkNear(t, "mcp9808 temperature", got, "temperature", 25250)

	// 2b. The same chip at iioAddr, read by the kernel's own driver (bmp280,
	// an IIO device) through sensorcast's iio driver, gives the datasheet's
	// values too (the kernel truncates humidity to whole milli-percent).
	iioWant := bmeFixture.expect()
	got = msgs.waitReading(t, "bme280-iio", 10*time.Second, func(m boxMsg) bool { return true })
	checkNear(t, "bme280-iio temperature", got, "temperature", iioWant.tempMilliC)
	checkNear(t, "bme280-iio pressure", got, "pressure", iioWant.pressMilliHPa)
	checkNear(t, "bme280-iio humidity", got, "humidity", iioWant.humMilliPct)
	t.Logf("bme280-iio: %v", got.Values)

	// 3. A GPIO input toggled inside the box arrives as on/off changes.
	b.mustRun(t, "for i in 1 2 3; do echo pull-up > $(ls -d /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio17)/pull; sleep 0.4; "+
		"echo pull-down > $(ls -d /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio17)/pull; sleep 0.4; done >/dev/null 2>&1 &")
	var doorStates []int64
	deadline := time.Now().Add(15 * time.Second)
	for len(doorStates) < 6 && time.Now().Before(deadline) {
		m := msgs.waitReading(t, "door", time.Until(deadline), func(m boxMsg) bool { return true })
		for _, v := range m.Values {
			s := int64(math.Round(v.V))
			if len(doorStates) == 0 || doorStates[len(doorStates)-1] != s {
				doorStates = append(doorStates, s)
			}
		}
	}
	if strings.Count(fmt.Sprint(doorStates), "1") < 3 || len(doorStates) < 6 {
		t.Errorf("door states %v, want three on/off changes", doorStates)
	}

	// 4. New raw registers change the next reading. They are written on the
	// live bus in one transfer, so a reading shows the old values or the new
	// ones, never a mix.
	bme.raw[3], bme.raw[4], bme.raw[5] = 0x7e, 0x00, 0x00 // temperature
	b.mustRun(t, bme.programRaw(1))
	states = append(states, bme.expect())
	want = states[1]
	msgs.waitReading(t, "bme280", 10*time.Second, func(m boxMsg) bool { return isBME(m, want) })

	// 5. The bus vanishes and returns: failing, then recovered, no restart.
	// It returns fully programmed (loadStub), as a chip that has finished
	// its power-up does: every reading after the recovery is the chip's.
	// The kernel's IIO device on it goes and comes back with it.
	b.mustRun(t, "rmmod i2c-stub && rm /dev/i2c-1")
	msgs.waitStatus(t, false, 15*time.Second, "bme280", "bme280-iio")
	b.mustRun(t, loadStub(&bme, 0x0194))
	msgs.waitStatus(t, true, 60*time.Second, "bme280", "bme280-iio")
	recovered := len(msgs.seen)
	for range 4 { // checked with all the others by checkStream below
		msgs.waitReading(t, "bme280", 10*time.Second, func(m boxMsg) bool { return true })
	}
	if out, _ := b.run(t, "pidof sensorcast"); len(out) != 1 {
		t.Errorf("sensorcast processes after recovery: %q", out)
	}

	// The HTTP API agrees with the stream.
	// Through the forwarded port the box sees the host's connection
	// come from qemu's gateway, not loopback: the token is needed.
	if resp, err := http.Get("http://" + b.addr + "/api/sensors"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/sensors without the token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", "http://"+b.addr+"/api/sensors", nil)
	req.Header.Set("Authorization", "Bearer "+b.token(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"bme280"`) || !strings.Contains(string(body), `"mcp9808"`) {
		t.Errorf("GET /api/sensors = %d %s", resp.StatusCode, body)
	}

	// 6. scan names the emulated chips, the kernel's IIO device (and the
	// chip it holds, with no I²C table of its own), and the GPIO lines.
	out := strings.Join(b.mustRun(t, "sensorcast scan"), "\n")
	for _, want := range []string{"0x76", "BME280", "0x18", "MCP9808", "IIO: 1 device(s)", `driver = "iio"`, `device = "bme280"`,
		"0x77  -        BME280 (chip id 0x60); held by the kernel's bmp280 driver",
		"[pinctrl-bcm2711]: 28 lines, GPIO0…GPIO27 among 28 named; in use: GPIO17 (sensorcast@", "), GPIO22 (sensorcast@"} {
		if !strings.Contains(out, want) {
			t.Errorf("sensorcast scan output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "address = 0x77") {
		t.Errorf("sensorcast scan offers an I²C table for the chip the kernel holds:\n%s", out)
	}

	// Nothing implausible was published at any time, and nothing but the
	// chip's values after the recovery: a few more readings, then all of
	// them checked.
	for range 2 {
		msgs.waitReading(t, "bme280", 10*time.Second, func(m boxMsg) bool { return true })
	}
	for _, e := range checkStream(msgs.seen, states, recovered) {
		t.Error(e)
	}

	// 7. A pulse counter: pulsegen drives GPIO22 through gpio-sim's pull
	// attribute, on a 1 kHz schedule. The meter, with the default 0.5 ms
	// debounce, has counted nothing so far (checkPulses), and ends with
	// exactly the pulses sent, their rising edges at least 0.6 ms apart
	// by the kernel's clock however late the reader is; the rate, in pulses
	// per second, agrees with the totals.
	const pulses = 3000
	sendPulses(t, b, pulses)
	msgs.waitReading(t, "meter", 60*time.Second, func(m boxMsg) bool { return pulseTotal(t, m) >= pulses })
	for _, e := range checkPulses(msgs.seen, 0, pulses) {
		t.Error(e)
	}

	// 8. The total survives a restart: sensorcast stopped as systemd stops
	// it (SIGTERM) keeps it in its state directory, and counts on from it.
	b.mustRun(t, "kill $(pidof sensorcast) && while pidof sensorcast >/dev/null; do usleep 20000; done")
	if out := b.mustRun(t, "cat "+boxPulseState); len(out) != 1 || out[0] != fmt.Sprint(pulses) {
		t.Errorf("%s after the stop = %q, want %d", boxPulseState, out, pulses)
	}
	b.mustRun(t, "sensorcast -config /etc/sensorcast/sensorcast.toml >>/tmp/sensorcast.log 2>&1 &")
	msgs = b.stream(t)
	const more = 500
	msgs.waitReading(t, "meter", 20*time.Second, func(m boxMsg) bool { return true })
	sendPulses(t, b, more)
	msgs.waitReading(t, "meter", 60*time.Second, func(m boxMsg) bool { return pulseTotal(t, m) >= pulses+more })
	msgs.waitReading(t, "bme280", 10*time.Second, func(m boxMsg) bool { return true })
	for _, e := range checkPulses(msgs.seen, pulses, pulses+more) {
		t.Error(e)
	}
	for _, e := range checkStream(msgs.seen, states[len(states)-1:], 0) {
		t.Error(e)
	}

	if t.Failed() {
		log, _ := b.run(t, "cat /tmp/sensorcast.log")
		t.Logf("sensorcast log in the box:\n%s", strings.Join(log, "\n"))
	}
}

// boxPulseState is where sensorcast in the box keeps the meter's total:
// the default state directory under $HOME (/ in the box).
const boxPulseState = "$HOME/.local/state/sensorcast/pulse/meter.count"

// pulsePeriod is pulsegen's period: 1 kHz.
const pulsePeriod = time.Millisecond

// sendPulses sends n pulses on GPIO22 on a 1 kHz schedule with pulsegen in
// the box and returns when the last one has been sent (each write returns
// once its edge is in the reader's event queue: patches/pull-sync.patch).
// pulsegen's report is logged, not checked: under qemu without KVM its
// pulses are often late, when the box's one CPU is busy elsewhere, and it
// catches up with rising edges at least 0.6 ms apart, so that the mean
// rate stays near 1 kHz where the host allows.
func sendPulses(t *testing.T, b *box, n int) {
	t.Helper()
	out := b.mustRun(t, fmt.Sprintf("pulsegen $(ls -d /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio22)/pull %d %d",
		n, pulsePeriod.Microseconds()))
	var count, period, elapsed, minGap, late int64
	if len(out) != 1 {
		t.Fatalf("pulsegen: %q", out)
	}
	if _, err := fmt.Sscanf(out[0], "pulses %d period_ns %d elapsed_ns %d min_gap_ns %d late %d",
		&count, &period, &elapsed, &minGap, &late); err != nil || count != int64(n) {
		t.Fatalf("pulsegen: %q: %v", out[0], err)
	}
	hz := float64(count-1) / (float64(elapsed) / 1e9)
	t.Logf("pulsegen: %d pulses at %.0f Hz on average, rising edges at least %v apart, %d late", count, hz, time.Duration(minGap), late)
}

// pulseTotal returns a meter reading's total, failing the test if it has
// none.
func pulseTotal(t *testing.T, m boxMsg) int64 {
	t.Helper()
	v, ok := m.Values["total"]
	if !ok || v.Unit != "pulses" {
		t.Fatalf("meter reading without a total in pulses: %v", m.Values)
	}
	return int64(math.Round(v.V))
}

// maxPulseRate bounds the meter's rate in pulses per second. pulsegen
// sends at most one pulse per 0.6 ms while it catches up (1667/s); on top
// of that, a reading (at least half its 500 ms interval after the one
// before) may count pulses sent before its interval began that waited for
// the reader: up to the 1024 of the kernel's event queue and the 64 of one
// read. At most (417+2+1024+64)/0.25 s = 6028/s; the rate's agreement with
// the totals is the finer check.
const maxPulseRate = 6028

// checkPulses checks every meter reading in seen, and returns one line per
// fault:
//   - each has a total in pulses and a rate in pulses/s;
//   - the totals start at from, never go down, never pass to, and the last
//     is to;
//   - each rate is between 0 and maxPulseRate, 0 while the total stands
//     still, and agrees with the pulses counted since the reading before:
//     rate × the time between the two readings is within 3 pulses and 10%
//     of the difference of their totals (the rate's interval runs between
//     the two reads, the message times are taken a moment before each; and
//     the times are whole milliseconds, a pulse at 1 kHz). Pairs more than
//     1.5 intervals apart are left out: a late read's or a missed message's.
func checkPulses(seen []boxMsg, from, to int64) []string {
	var faults []string
	var prev *boxMsg
	last := from
	checked := 0
	for i := range seen {
		m := &seen[i]
		if m.Type != "reading" || m.Sensor != "meter" {
			continue
		}
		total, rate := m.Values["total"], m.Values["rate"]
		if total.Unit != "pulses" || rate.Unit != "pulses/s" {
			faults = append(faults, fmt.Sprintf("message %d: meter reading %v, want a total in pulses and a rate in pulses/s", i, m.Values))
			continue
		}
		n := int64(math.Round(total.V))
		switch {
		case prev == nil && n != from:
			faults = append(faults, fmt.Sprintf("message %d: meter's first total %d, want %d", i, n, from))
		case n < last || n > to:
			faults = append(faults, fmt.Sprintf("message %d: meter total %d after %d, want %d…%d", i, n, last, last, to))
		}
		if rate.V < 0 || rate.V > maxPulseRate || (prev != nil && n == last && rate.V != 0) {
			faults = append(faults, fmt.Sprintf("message %d: meter rate %v/s with the total from %d to %d", i, rate.V, last, n))
		}
		if prev != nil && m.TS-prev.TS <= 750 {
			dt := float64(m.TS-prev.TS) / 1000
			if d := float64(n - last); math.Abs(rate.V*dt-d) > 3+0.1*d {
				faults = append(faults, fmt.Sprintf("message %d: meter rate %v/s over %.3f s, but %v pulses counted", i, rate.V, dt, d))
			}
			checked++
		}
		prev, last = m, n
	}
	if last != to {
		faults = append(faults, fmt.Sprintf("meter's last total %d, want %d", last, to))
	}
	if checked == 0 {
		faults = append(faults, "no two meter readings to check the rate with")
	}
	return faults
}

// stagingBus is the adapter number the stub is loaded with: not the Pi's
// bus 1, which sensorcast is configured for, so that sensorcast cannot see
// the emulated chips while their registers are being written.
const stagingBus = 11

// stubParams puts a BME280 at 0x76 (writes in register/value pairs), an
// MCP9808 at 0x18 (16-bit registers) and a second BME280 at iioAddr on
// stagingBus.
var stubParams = fmt.Sprintf("chip_addr=0x76,0x18,0x%02x bus_num=%d write_pairs=1,0,1 reg16=0,1,0", iioAddr, stagingBus)

// iioAddr is the BME280 that the kernel's own driver (bmp280) reads: an
// IIO device, read by sensorcast's iio driver. It keeps bmeFixture's values.
const iioAddr = 0x77

// iioSetup loads the kernel's IIO core and its BMP280/BME280 driver, once.
const iioSetup = "insmod /lib/modules/industrialio.ko && insmod /lib/modules/bmp280.ko && insmod /lib/modules/bmp280-i2c.ko"

// loadStub loads i2c-stub, writes every register of both chips, and only
// then makes the adapter the box's /dev/i2c-1 (publishStub). Until that one
// mknod, sensorcast's open of /dev/i2c-1 fails as "not found"; from it on,
// every register is written. What sensorcast can see therefore does not
// depend on how fast the box runs, on any machine. /dev/i2c-1 must not
// exist when it runs (mknod fails if it does).
func loadStub(c *bme280, mcpTemp uint16) string {
	return strings.Join([]string{
		"insmod /lib/modules/i2c-stub.ko " + stubParams,
		c.program(stagingBus),
		mcpProgram(stagingBus, mcpTemp),
		bmeFixture.programAt(stagingBus, iioAddr),
		fmt.Sprintf("echo bme280 0x%02x > /sys/bus/i2c/devices/i2c-%d/new_device", iioAddr, stagingBus),
		publishStub,
	}, " && ")
}

// publishStub gives the staging adapter the name of the Pi's header bus: a
// /dev/i2c-1 node with the adapter's device number, created by one mknod,
// which is atomic. The staging node is then removed, so that the box has one
// I²C bus, as a Pi does (sensorcast scan lists every /dev/i2c-*).
var publishStub = fmt.Sprintf("dev=$(cat /sys/class/i2c-dev/i2c-%d/dev) && mknod /dev/i2c-1 c ${dev%%%%:*} ${dev#*:} && rm /dev/i2c-%d",
	stagingBus, stagingBus)

// gpioSimSetup creates a gpio-sim bank that looks like a Pi's: labelled
// pinctrl-bcm2711, lines GPIO0…GPIO27.
const gpioSimSetup = `insmod /lib/modules/gpio-sim-pibox.ko && cd /sys/kernel/config/gpio-sim && mkdir pi pi/bank0 && ` +
	`echo pinctrl-bcm2711 > pi/bank0/label && echo 28 > pi/bank0/num_lines && ` +
	`for i in $(seq 0 27); do mkdir pi/bank0/line$i && echo GPIO$i > pi/bank0/line$i/name; done && echo 1 > pi/live`

// bme280 is the emulated chip's register contents: the calibration and raw
// values of periph's own BME280 test (23.72 °C, 1009.43 hPa, 65.31 %).
type bme280 struct {
	calib [26]byte // 0x88…0xA1
	hcal  [7]byte  // 0xE1…0xE7
	raw   [8]byte  // 0xF7…0xFE: pressure, temperature, humidity
}

var bmeFixture = bme280{
	calib: [26]byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b},
	hcal:  [7]byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e},
	raw:   [8]byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0, 0x7a, 0x76},
}

// i2cTransfer returns a busybox i2ctransfer command that sends msgs, each
// one I²C write message to addr, in a single I2C_RDWR ioctl. The kernel runs
// all the messages of one ioctl under the adapter's lock, so no other
// transfer (no read by sensorcast) sees some of them written and not others.
func i2cTransfer(bus int, addr byte, msgs ...[]byte) string {
	args := []string{"i2ctransfer -y " + fmt.Sprint(bus)}
	for _, m := range msgs {
		args = append(args, fmt.Sprintf("w%d@0x%02x", len(m), addr))
		for _, v := range m {
			args = append(args, fmt.Sprintf("0x%02x", v))
		}
	}
	return strings.Join(args, " ")
}

// pairs returns data as (register, value) pairs from reg on, the way a
// BMx280 takes a multi-byte write (the stub's write_pairs=1).
func pairs(reg byte, data []byte) []byte {
	var out []byte
	for i, v := range data {
		out = append(out, reg+byte(i), v)
	}
	return out
}

// program writes every register the driver reads, in one message: chip ID
// (BME280), calibration, status (idle) and raw values.
func (c *bme280) program(bus int) string { return c.programAt(bus, 0x76) }

// programAt is program for the chip at addr.
func (c *bme280) programAt(bus int, addr byte) string {
	var m []byte
	m = append(m, pairs(0xd0, []byte{0x60})...)
	m = append(m, pairs(0x88, c.calib[:])...)
	m = append(m, pairs(0xe1, c.hcal[:])...)
	m = append(m, pairs(0xf3, []byte{0})...)
	m = append(m, pairs(0xf7, c.raw[:])...)
	return i2cTransfer(bus, addr, m)
}

// programRaw writes the raw values (0xF7…0xFE) in one message.
func (c *bme280) programRaw(bus int) string { return i2cTransfer(bus, 0x76, pairs(0xf7, c.raw[:])) }

// mcpProgram sets the MCP9808's ambient temperature register and its
// manufacturer and device IDs (0x0054, 0x0400), 16 bits MSB first, in one
// transfer.
func mcpProgram(bus int, temp uint16) string {
	return i2cTransfer(bus, 0x18, []byte{0x05, byte(temp >> 8), byte(temp)}, []byte{0x06, 0x00, 0x54}, []byte{0x07, 0x04, 0x00})
}

type bmeValues struct{ tempMilliC, pressMilliHPa, humMilliPct int64 }

// expect applies the BME280 datasheet's compensation formulas (section
// 4.2.3, 32-bit temperature and humidity, 64-bit pressure), written here
// from the datasheet, independently of any driver.
func (c *bme280) expect() bmeValues {
	le16 := func(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }
	s16 := func(b []byte) int64 { return int64(int16(binary.LittleEndian.Uint16(b))) }
	k := c.calib[:]
	T1, T2, T3 := le16(k[0:]), s16(k[2:]), s16(k[4:])
	P1 := le16(k[6:])
	P := [10]int64{0, P1, s16(k[8:]), s16(k[10:]), s16(k[12:]), s16(k[14:]), s16(k[16:]), s16(k[18:]), s16(k[20:]), s16(k[22:])}
	H1 := int64(k[25])
	h := c.hcal[:]
	H2 := s16(h[0:])
	H3 := int64(h[2])
	H4 := int64(int8(h[3]))<<4 | int64(h[4]&0x0f)
	H5 := int64(int8(h[5]))<<4 | int64(h[4]>>4)
	H6 := int64(int8(h[6]))
	r := c.raw
	adcP := int64(r[0])<<12 | int64(r[1])<<4 | int64(r[2])>>4
	adcT := int64(r[3])<<12 | int64(r[4])<<4 | int64(r[5])>>4
	adcH := int64(r[6])<<8 | int64(r[7])

	// int32 arithmetic as in the datasheet.
	v1 := int32((int32(adcT)>>3 - int32(T1)<<1) * int32(T2) >> 11)
	d := int32(adcT)>>4 - int32(T1)
	v2 := int32((d * d >> 12) * int32(T3) >> 14)
	tFine := v1 + v2
	t := (tFine*5 + 128) >> 8 // 0.01 °C

	x := int64(tFine) - 128000
	y := x * x * P[6]
	y += (x * P[5]) << 17
	y += P[4] << 35
	x = (x*x*P[3])>>8 + (x*P[2])<<12
	x = ((int64(1)<<47 + x) * P[1]) >> 33
	var p int64 // Pa in Q24.8
	if x != 0 {
		p = (((1048576 - adcP) << 31) - y) * 3125 / x
		x = (P[9] * (p >> 13) * (p >> 13)) >> 25
		y = (P[8] * p) >> 19
		p = ((p + x + y) >> 8) + P[7]<<4
	}

	hv := tFine - 76800
	h1 := (int32(adcH)<<14 - int32(H4)<<20 - int32(H5)*hv + 16384) >> 15
	h2 := ((((hv*int32(H6))>>10)*(((hv*int32(H3))>>11)+32768))>>10 + 2097152) * int32(H2)
	hv = h1 * ((h2 + 8192) >> 14)
	hv -= ((((hv >> 15) * (hv >> 15)) >> 7) * int32(H1)) >> 4
	hv = min(max(hv, 0), 419430400)
	hq := int64(hv >> 12) // %RH in Q22.10

	return bmeValues{
		tempMilliC:    int64(t) * 10,
		pressMilliHPa: int64(math.Round(float64(p) / 256 / 100 * 1000)),
		humMilliPct:   int64(math.Round(float64(hq) / 1024 * 1000)),
	}
}

// near reports whether m's value name is within one milli-unit (the wire
// format's resolution) of want.
func near(m boxMsg, name string, want int64) bool {
	v, ok := m.Values[name]
	return ok && math.Abs(v.V*1000-float64(want)) <= 1.0001
}

// isBME reports whether m carries exactly the values v (to the wire
// format's resolution).
func isBME(m boxMsg, v bmeValues) bool {
	return near(m, "temperature", v.tempMilliC) && near(m, "pressure", v.pressMilliHPa) && near(m, "humidity", v.humMilliPct)
}

// bme280Range is the BME280 datasheet's operating range (section 1):
// −40…85 °C, 300…1100 hPa, 0…100 %RH.
var bme280Range = map[string][2]float64{"temperature": {-40, 85}, "pressure": {300, 1100}, "humidity": {0, 100}}

// checkStream checks every message the test consumed from the box's stream
// and returns one line per fault:
//   - every bme280 reading has its three values, each within the datasheet's
//     range;
//   - the bme280 readings walk through states in order: each equals the
//     state of the one before it or the next state, never an earlier state
//     or anything else (the test changes the registers atomically, so there
//     is no value in between);
//   - from seen[recovered] on (after the bus came back), every bme280 reading
//     equals the last state, and no sensor reports a failure;
//   - every mcp9808 reading is 25.25 °C;
//   - every bme280-iio reading is bmeFixture's values (its chip is never
//     changed).
func checkStream(seen []boxMsg, states []bmeValues, recovered int) []string {
	var faults []string
	state := 0
	for i, m := range seen {
		after := i >= recovered
		if m.Type == "status" && !m.OK && after {
			faults = append(faults, fmt.Sprintf("message %d: %s failing after the recovery", i, m.Sensor))
		}
		if m.Type != "reading" {
			continue
		}
		switch m.Sensor {
		case "mcp9808":
			if !near(m, "temperature", 25250) {
				faults = append(faults, fmt.Sprintf("message %d: mcp9808 reading %v, want 25.250 °C", i, m.Values))
			}
		case "bme280-iio":
			if !isBME(m, bmeFixture.expect()) {
				faults = append(faults, fmt.Sprintf("message %d: bme280-iio reading %v, want %v", i, m.Values, bmeFixture.expect()))
			}
		case "bme280":
			for name, r := range bme280Range {
				v, ok := m.Values[name]
				if !ok || v.V < r[0] || v.V > r[1] {
					faults = append(faults, fmt.Sprintf("message %d: bme280 %s %v outside the datasheet's %g…%g", i, name, m.Values[name], r[0], r[1]))
				}
			}
			switch {
			case after && !isBME(m, states[len(states)-1]):
				faults = append(faults, fmt.Sprintf("message %d: bme280 reading %v after the recovery, want %v", i, m.Values, states[len(states)-1]))
			case after || isBME(m, states[state]):
			case state+1 < len(states) && isBME(m, states[state+1]):
				state++
			default:
				faults = append(faults, fmt.Sprintf("message %d: bme280 reading %v, want %v or what follows it", i, m.Values, states[state]))
			}
		}
	}
	return faults
}

func checkNear(t *testing.T, what string, m boxMsg, name string, want int64) {
	t.Helper()
	if !near(m, name, want) {
		t.Errorf("%s = %v, want %.3f", what, m.Values[name], float64(want)/1000)
	}
}

// box is a running qemu with the test's end of its serial console.
type box struct {
	addr  string // host side of the forwarded dashboard port
	tok   string // sensorcast's access token, once read (see token)
	stdin io.Writer

	mu    sync.Mutex
	lines []string
	more  chan struct{}
	gone  chan struct{} // closed when qemu's console ends: qemu exited
	seq   int
}

func startBox(t *testing.T, dir string) *box {
	t.Helper()
	qemu := needTool(t, "qemu-system-aarch64")
	if err := checkBoxDir(dir); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &box{addr: fmt.Sprintf("127.0.0.1:%d", port), more: make(chan struct{}, 1), gone: make(chan struct{})}
	// One CPU: a host too busy to run qemu then stops the whole box at
	// once. With two, one CPU could stall for tens of milliseconds while
	// the other ran on, and the pulse counter's reader (on the stalled one)
	// lost edges from its full event queue (16 events then) that pulsegen (on the other)
	// went on sending (2998 of 3000 on a loaded host).
	cmd := exec.Command(qemu, "-M", "virt", "-cpu", "cortex-a72", "-m", "512", "-smp", "1",
		"-nographic", "-no-reboot",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", filepath.Join(dir, "initrd.gz"),
		"-append", "console=ttyAMA0 rdinit=/init quiet loglevel=3",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:%s-:8080", b.addr),
		"-device", "virtio-net-pci,netdev=n0,romfile=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("box console:\n%s", strings.Join(b.lines, "\n"))
			b.mu.Unlock()
		}
	})
	go func() {
		defer close(b.gone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.mu.Lock()
			b.lines = append(b.lines, strings.TrimRight(sc.Text(), "\r"))
			b.mu.Unlock()
			select {
			case b.more <- struct{}{}:
			default:
			}
		}
	}()
	if _, ok := b.waitLine(func(l string) bool { return l == "PIBOX READY" }, 0, 90*time.Second); !ok {
		select {
		case <-b.gone:
			t.Fatal("qemu exited before the box booted (its output is below)")
		default:
			t.Fatal("the box did not boot within 90s")
		}
	}
	return b
}

// checkBoxDir reports what is missing from dir for a box: the kernel
// (vmlinuz) and the initramfs (initrd.gz) that build.sh writes.
func checkBoxDir(dir string) error {
	for _, name := range []string{"vmlinuz", "initrd.gz"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err != nil:
			return fmt.Errorf("PIBOX_DIR=%s: %v (make pi-in-a-box builds the box; a relative PIBOX_DIR is taken from cmd/sensorcast)", dir, err)
		case !fi.Mode().IsRegular() || fi.Size() == 0:
			return fmt.Errorf("PIBOX_DIR=%s: %s is empty or not a file (rebuild with make pi-in-a-box)", dir, name)
		}
	}
	return nil
}

// waitLine waits for a console line at index from or later that matches. It
// gives up at once when qemu has exited and no such line came.
func (b *box) waitLine(match func(string) bool, from int, limit time.Duration) (int, bool) {
	deadline := time.Now().Add(limit)
	for {
		gone := false
		select {
		case <-b.gone:
			gone = true // every line qemu wrote is in b.lines
		default:
		}
		b.mu.Lock()
		for i := from; i < len(b.lines); i++ {
			if match(b.lines[i]) {
				b.mu.Unlock()
				return i, true
			}
		}
		b.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 || gone {
			return 0, false
		}
		select {
		case <-b.more:
		case <-b.gone:
		case <-time.After(min(wait, 200*time.Millisecond)):
		}
	}
}

// run runs a shell command in the box and returns its output lines and
// exit status.
func (b *box) run(t *testing.T, command string) ([]string, int) {
	t.Helper()
	b.seq++
	id := b.seq
	b.mu.Lock()
	from := len(b.lines)
	b.mu.Unlock()
	if _, err := fmt.Fprintf(b.stdin, "%d %s\n", id, command); err != nil {
		t.Fatal(err)
	}
	begin, ok := b.waitLine(func(l string) bool { return l == fmt.Sprintf("PIBOX BEGIN %d", id) }, from, 60*time.Second)
	if !ok {
		t.Fatalf("box did not start command %d: %s", id, command)
	}
	end, ok := b.waitLine(func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("PIBOX END %d ", id)) }, begin, 60*time.Second)
	if !ok {
		t.Fatalf("box did not finish command %d: %s", id, command)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var status int
	fmt.Sscanf(b.lines[end], "PIBOX END %d %d", &id, &status)
	return append([]string(nil), b.lines[begin+1:end]...), status
}

func (b *box) mustRun(t *testing.T, command string) []string {
	t.Helper()
	out, status := b.run(t, command)
	if status != 0 {
		t.Fatalf("in the box: %.200s: exit %d\n%s", command, status, strings.Join(out, "\n"))
	}
	return out
}

// boxMsg is a reading or status message from the stream.
type boxMsg struct {
	Type, Sensor string
	OK           bool
	TS           int64 // Unix milliseconds
	Values       map[string]struct {
		V    float64
		Unit string
	}
}

// boxStream delivers the stream's messages, and keeps every message the
// test has consumed in seen, for checkStream.
type boxStream struct {
	c    chan boxMsg
	seen []boxMsg
}

// token returns sensorcast's access token, which it creates in its state
// directory at its first start, as `sensorcast token` in the box prints it.
func (b *box) token(t *testing.T) string {
	t.Helper()
	for i := 0; b.tok == ""; i++ {
		out, code := b.run(t, "sensorcast token")
		if code == 0 && len(out) == 1 {
			b.tok = strings.TrimSpace(out[0])
			break
		}
		if i == 300 {
			t.Fatalf("sensorcast token in the box: %d %q", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return b.tok
}

// stream connects to the box's WebSocket and delivers its messages.
func (b *box) stream(t *testing.T) *boxStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c *wstest.Conn
	for {
		var err error
		if c, _, err = wstest.Dial(ctx, "ws://"+b.addr+"/ws", http.Header{"Authorization": {"Bearer " + b.token(t)}}); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no WebSocket from the box: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { c.NetConn().Close() })
	s := &boxStream{c: make(chan boxMsg, 1024)}
	go func() {
		defer close(s.c)
		for {
			p, err := c.ReadText()
			if err != nil {
				return
			}
			var m boxMsg
			if json.Unmarshal(p, &m) == nil {
				s.c <- m
			}
		}
	}()
	return s
}

func (s *boxStream) next(t *testing.T, what string, deadline time.Time) boxMsg {
	t.Helper()
	select {
	case m, ok := <-s.c:
		if !ok {
			t.Fatalf("stream closed while waiting for %s", what)
		}
		s.seen = append(s.seen, m)
		return m
	case <-time.After(time.Until(deadline)):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

func (s *boxStream) waitReading(t *testing.T, sensor string, limit time.Duration, ok func(boxMsg) bool) boxMsg {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last boxMsg
	for {
		m := s.next(t, fmt.Sprintf("a reading of %s (last: %v)", sensor, last.Values), deadline)
		if m.Type == "reading" && m.Sensor == sensor {
			last = m
			if ok(m) {
				return m
			}
		}
	}
}

// waitStatus waits until each of sensors has sent a status with ok, in any
// order.
func (s *boxStream) waitStatus(t *testing.T, ok bool, limit time.Duration, sensors ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for len(sensors) > 0 {
		m := s.next(t, fmt.Sprintf("status ok=%v of %s", ok, strings.Join(sensors, ", ")), deadline)
		if m.Type == "status" && m.OK == ok {
			sensors = slices.DeleteFunc(sensors, func(n string) bool { return n == m.Sensor })
		}
	}
}
