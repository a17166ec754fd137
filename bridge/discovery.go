package bridge

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Home Assistant MQTT discovery: one sensor entity per value, announced at
//
//	<discovery prefix>/sensor/<node>/<sensor>_<value>/config
//
// with <node> the device's name made topic-safe.

// discoveryConfig is the JSON of one entity's discovery message, with the
// field names Home Assistant expects.
type discoveryConfig struct {
	Name              string          `json:"name"`
	UniqueID          string          `json:"unique_id"`
	ObjectID          string          `json:"object_id"`
	StateTopic        string          `json:"state_topic"`
	ValueTemplate     string          `json:"value_template"`
	AvailabilityTopic string          `json:"availability_topic"`
	DeviceClass       string          `json:"device_class,omitempty"`
	Unit              string          `json:"unit_of_measurement,omitempty"`
	StateClass        string          `json:"state_class"`
	ExpireAfter       int             `json:"expire_after,omitempty"` // 0: never expires
	Device            discoveryDevice `json:"device"`
	Origin            discoveryOrigin `json:"origin"`
}

type discoveryDevice struct {
	Identifiers []string `json:"identifiers"`
	Name        string   `json:"name"`
	Model       string   `json:"model"`
	SWVersion   string   `json:"sw_version"`
}

type discoveryOrigin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version"`
}

// deviceClass returns Home Assistant's device class for a value, and the
// unit to announce (one the class accepts), from the value's name and unit.
// An unknown pair gets no class and its own unit.
func deviceClass(name string, unit reading.Unit) (class, haUnit string) {
	switch unit {
	case reading.Celsius:
		return "temperature", "°C"
	case reading.HPa:
		return "pressure", "hPa"
	case reading.Lux:
		return "illuminance", "lx"
	case reading.Volt:
		return "voltage", "V"
	case reading.Ampere:
		return "current", "A"
	case reading.Watt:
		return "power", "W"
	case reading.DBm:
		return "signal_strength", "dBm"
	case reading.Byte:
		return "data_size", "B"
	case reading.Megabytes:
		return "data_size", "MB"
	case reading.Second:
		return "duration", "s"
	case reading.Percent:
		if strings.Contains(name, "humidity") {
			return "humidity", "%"
		}
		if strings.Contains(name, "battery") {
			return "battery", "%"
		}
	case reading.PPM:
		if strings.Contains(name, "co2") || strings.Contains(name, "carbon_dioxide") {
			return "carbon_dioxide", "ppm"
		}
	}
	return "", string(unit)
}

// expireAfter is Home Assistant's expire_after for a sensor whose longest
// legitimate gap between readings is gap: about twice the gap, in whole
// seconds, at least 1. A negative gap (no bound) gives 0: no expire_after.
func expireAfter(gap time.Duration) int {
	if gap < 0 {
		return 0
	}
	return max(1, int(math.Ceil((2 * gap).Seconds())))
}

// topicSafe replaces the characters MQTT topics reserve (and spaces) with _.
func topicSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', ' ', 0:
			return '_'
		}
		return r
	}, s)
}

// appendTopicSafe appends topicSafe(s) to dst.
func appendTopicSafe(dst []byte, s string) []byte {
	for _, r := range s {
		switch r {
		case '/', '+', '#', ' ', 0:
			r = '_'
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// idSafe keeps only what Home Assistant allows in node and object ids.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
