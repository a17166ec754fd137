package sensors

import (
	"fmt"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(serialDriver("mhz19", "Winsen MH-Z19B: CO₂ on a serial port", mhz19, []string{"co2"}, "co2 (ppm)"))
}

// mhz19 is the Winsen MH-Z19B's protocol: command 0x86, "read CO₂
// concentration", answered by a 9-byte frame, 9600 baud.
var mhz19 = &serialProto{
	chip:    "MH-Z19B",
	header:  []byte{0xFF, 0x86},
	size:    9,
	request: []byte{0xFF, 0x01, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x79},
	timeout: 2 * time.Second,
	parse:   parseMHZ19,
	// Its default detection range; 0…2000 and 0…10000 ppm are set by a
	// command sensorcast does not send.
	ranges: []valueRange{span("co2", reading.PPM, 0, 5000)},
}

// mhz19Checksum is the MH-Z19B's checksum of a frame: 0xFF minus the sum
// of bytes 1 to 7, plus one.
func mhz19Checksum(f []byte) byte {
	var sum byte
	for _, b := range f[1:8] {
		sum += b
	}
	return ^sum + 1
}

// parseMHZ19 checks the answer to command 0x86 and adds the CO₂
// concentration:
//
//	0xFF 0x86, concentration high, low (ppm), four bytes, checksum.
func parseMHZ19(f []byte, r *reading.Reading) error {
	if len(f) != 9 || f[0] != 0xFF || f[1] != 0x86 {
		return fmt.Errorf("not an MH-Z19B answer to 0x86: % x", f[:min(len(f), 2)])
	}
	if c := mhz19Checksum(f); c != f[8] {
		return fmt.Errorf("%w: computed %#02x, frame says %#02x", errChecksum, c, f[8])
	}
	return r.Add("co2", reading.PPM, (int64(f[2])<<8|int64(f[3]))*1000)
}

// NewMHZ19 returns a Source for a Winsen MH-Z19B.
func NewMHZ19(o SerialOpts) *Serial { return newSerial(mhz19, named(o, "mhz19")) }
