package bridge

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Home Assistant MQTT discovery: one entity per value, announced at
//
//	<discovery prefix>/sensor/<node>/<object>/config
//
// (binary_sensor for on/off values), with <node> the device's name made
// id-safe and <object> the sensor and value (see objectID). The rules the
// configs follow are Home Assistant's own; bridge/testdata/ha_schema.json
// transcribes them and the tests check every config against it.

// HA is what Home Assistant gets for one value, overriding the bridge's
// choice; every field is optional.
type HA struct {
	// DeviceClass: one of Home Assistant's sensor device classes (or
	// binary_sensor classes for a Binary sensor) that accepts the value's
	// unit; "none" for no class.
	DeviceClass string
	// EntityCategory: "diagnostic", or "none" for a primary entity.
	EntityCategory string
	// Icon, such as "mdi:sprout".
	Icon string
	// Precision is the number of decimals shown (suggested_display_precision).
	Precision *int
}

// discoveryConfig is the JSON of one entity's discovery message, with the
// field names Home Assistant expects.
type discoveryConfig struct {
	Name                string               `json:"name"`
	UniqueID            string               `json:"unique_id"`
	DefaultEntityID     string               `json:"default_entity_id"`
	StateTopic          string               `json:"state_topic"`
	ValueTemplate       string               `json:"value_template"`
	JSONAttrsTopic      string               `json:"json_attributes_topic,omitempty"`
	JSONAttrsTemplate   string               `json:"json_attributes_template,omitempty"`
	Availability        []availabilityConfig `json:"availability"`
	AvailabilityMode    string               `json:"availability_mode"`
	DeviceClass         string               `json:"device_class,omitempty"`
	Unit                string               `json:"unit_of_measurement,omitempty"`
	StateClass          string               `json:"state_class,omitempty"`
	Precision           *int                 `json:"suggested_display_precision,omitempty"`
	EntityCategory      string               `json:"entity_category,omitempty"`
	Icon                string               `json:"icon,omitempty"`
	PayloadOn           string               `json:"payload_on,omitempty"`
	PayloadOff          string               `json:"payload_off,omitempty"`
	ExpireAfter         int                  `json:"expire_after,omitempty"` // 0: never expires
	Device              discoveryDevice      `json:"device"`
	Origin              discoveryOrigin      `json:"origin"`
	platform            string               // "sensor" or "binary_sensor"
	sensor, value, node string
}

type availabilityConfig struct {
	Topic string `json:"topic"`
}

type discoveryDevice struct {
	Identifiers      []string `json:"identifiers"`
	Name             string   `json:"name"`
	Manufacturer     string   `json:"manufacturer"`
	Model            string   `json:"model"`
	SWVersion        string   `json:"sw_version,omitempty"`
	ConfigurationURL string   `json:"configuration_url,omitempty"`
}

type discoveryOrigin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version,omitempty"`
}

// Home Assistant's device classes this bridge may announce or accept from
// the configuration, with the units each accepts (sensor/const.py,
// DEVICE_CLASS_UNITS, of Home Assistant 2025.x; only the classes whose
// units are a closed list are given; bridge/testdata/ha_schema.json has
// them all for the tests).
var sensorClassUnits = map[string][]string{
	"temperature":                      {"°C", "°F", "K"},
	"humidity":                         {"%"},
	"moisture":                         {"%"},
	"battery":                          {"%"},
	"pressure":                         {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi", "inH₂O"},
	"atmospheric_pressure":             {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi", "inH₂O"},
	"illuminance":                      {"lx"},
	"voltage":                          {"µV", "mV", "V", "kV", "MV"},
	"current":                          {"mA", "A"},
	"power":                            {"mW", "W", "kW", "MW", "GW", "TW"},
	"signal_strength":                  {"dB", "dBm"},
	"data_size":                        {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"},
	"duration":                         {"d", "h", "min", "s", "ms", "µs"},
	"carbon_dioxide":                   {"ppm"},
	"carbon_monoxide":                  {"ppm"},
	"volatile_organic_compounds_parts": {"ppb", "ppm"},
	"power_factor":                     {"%", ""},
	"aqi":                              {""},
	"ph":                               {""},
	"frequency":                        {"Hz", "kHz", "MHz", "GHz"},
	"distance":                         {"km", "m", "cm", "mm", "mi", "nmi", "yd", "in", "ft"},
	"pm1":                              {"µg/m³"},
	"pm25":                             {"µg/m³"},
	"pm10":                             {"µg/m³"},
}

// binaryClasses are Home Assistant's binary_sensor device classes.
var binaryClasses = []string{"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
	"garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
	"power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}

// checkHA reports an override Home Assistant would reject, or whose device
// class does not take the value's unit (unit "" when it is not known yet).
func checkHA(h HA, binary bool, unit reading.Unit) error {
	switch h.EntityCategory {
	case "", "none", "diagnostic":
	default:
		return fmt.Errorf("entity_category %q: must be diagnostic or none", h.EntityCategory)
	}
	if h.DeviceClass == "" || h.DeviceClass == "none" {
		return nil
	}
	if binary {
		if !slices.Contains(binaryClasses, h.DeviceClass) {
			return fmt.Errorf("device_class %q is not a binary_sensor class (one of: %s)", h.DeviceClass, strings.Join(binaryClasses, ", "))
		}
		return nil
	}
	units, ok := sensorClassUnits[h.DeviceClass]
	if !ok {
		return fmt.Errorf("device_class %q is not a sensor class this bridge knows", h.DeviceClass)
	}
	if unit != "" && !slices.Contains(units, haUnit(unit)) {
		return fmt.Errorf("device_class %q does not take unit %q (it takes: %s)", h.DeviceClass, unit, strings.Join(units, ", "))
	}
	return nil
}

// haUnit is the unit Home Assistant gets for one of ours.
func haUnit(u reading.Unit) string { return string(u) }

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
	case reading.Mebibytes:
		return "data_size", "MiB"
	case reading.Second:
		return "duration", "s"
	case reading.Percent:
		switch {
		case strings.Contains(name, "humidity"):
			return "humidity", "%"
		case strings.Contains(name, "battery"):
			return "battery", "%"
		case strings.Contains(name, "moisture"), strings.Contains(name, "soil"):
			return "moisture", "%"
		}
	case reading.PPM:
		if strings.Contains(name, "co2") || strings.Contains(name, "carbon_dioxide") {
			return "carbon_dioxide", "ppm"
		}
	}
	return "", string(unit)
}

// binaryClass guesses a binary_sensor class from an on/off value's name.
func binaryClass(name string) string {
	for _, c := range binaryClasses {
		if name == c {
			return c
		}
	}
	switch name {
	case "pir", "presence":
		return "motion"
	case "open", "contact", "reed":
		return "opening"
	}
	return ""
}

// diagnostic reports whether a value is about the node itself (the host
// driver's load, memory, disk, uptime and Wi-Fi) rather than what it
// measures: Home Assistant shows those apart, as diagnostic.
func diagnostic(name string) bool {
	for _, p := range []string{"load1", "load5", "load15", "mem_", "disk_", "uptime", "wifi_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// precision is the default suggested_display_precision for a unit.
func precision(name string, unit reading.Unit) *int {
	p := -1
	switch unit {
	case reading.Celsius, reading.Percent, reading.HPa:
		p = 1
	case reading.Lux, reading.PPM, reading.DBm, reading.Second, reading.Mebibytes, reading.Megabytes, reading.Byte:
		p = 0
	case reading.Volt, reading.Watt:
		p = 2
	case reading.Ampere:
		p = 3
	case reading.None:
		if strings.HasPrefix(name, "load") {
			p = 2
		}
	}
	if p < 0 {
		return nil
	}
	return &p
}

// objectID names one value's entity in its discovery topic and unique_id.
// It is injective: sensor "a_b" with value "c" and sensor "a" with value
// "b_c" get different ids. A sensor name of letters, digits and - only,
// with a value of letters, digits, _ and -, gives "<sensor>_<value>" (the
// first _ separates them); any other pair gets a hash of both appended.
func objectID(sensor, value string) string {
	id := idSafe(sensor) + "_" + idSafe(value)
	if idSafe(sensor) == sensor && !strings.Contains(sensor, "_") && idSafe(value) == value && sensor != "" && value != "" {
		return id
	}
	h := fnv.New64a()
	h.Write([]byte(sensor))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return id + "_" + hex.EncodeToString(binary.BigEndian.AppendUint64(nil, h.Sum64()))
}

// entitySlug is Home Assistant's form of an entity id's object part:
// lower-case letters, digits and single _ inside.
func entitySlug(parts ...string) string {
	var b strings.Builder
	under := true
	for _, r := range strings.ToLower(strings.Join(parts, "_")) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	if s == "" {
		return "sensorcast"
	}
	return s
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
