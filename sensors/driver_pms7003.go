package sensors

import "time"

func init() {
	register(pmsDriver("pms7003", "Plantower PMS7003: particulate matter PM1, PM2.5, PM10 on a serial port", pms7003))
}

// pms7003 is the Plantower PMS7003's protocol: the PMS5003's frame, whose
// 13th data word holds the version and an error code.
var pms7003 = &serialProto{
	chip:    "PMS7003",
	header:  []byte{0x42, 0x4D},
	size:    32,
	timeout: 4 * time.Second,
	parse:   parsePMS,
	ranges:  pmsRanges,
}

// NewPMS7003 returns a Source for a Plantower PMS7003.
func NewPMS7003(o SerialOpts) *Serial { return newSerial(pms7003, named(o, "pms7003")) }
