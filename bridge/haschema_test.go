package bridge

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// haSchema is testdata/ha_schema.json: Home Assistant's rules for MQTT
// discovery configs, transcribed from its source (see _source there).
type haSchema struct {
	CommonKeys              []string            `json:"common_keys"`
	PlatformKeys            map[string][]string `json:"platform_keys"`
	RequiredKeys            []string            `json:"required_keys"`
	AvailabilityItemKeys    []string            `json:"availability_item_keys"`
	AvailabilityModes       []string            `json:"availability_modes"`
	DeviceKeys              []string            `json:"device_keys"`
	OriginKeys              []string            `json:"origin_keys"`
	EntityCategories        map[string][]string `json:"entity_categories"`
	StateClasses            []string            `json:"state_classes"`
	DeviceClassUnits        map[string][]string `json:"device_class_units"`
	DeviceClassStateClasses map[string][]string `json:"device_class_state_classes"`
	BinaryClasses           []string            `json:"binary_sensor_device_classes"`
	DiscoveryTopic          string              `json:"discovery_topic"`
}

func loadHASchema(t *testing.T) *haSchema {
	t.Helper()
	b, err := os.ReadFile("testdata/ha_schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s haSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// validEntityID is Home Assistant's valid_entity_id: domain.object, lower
// case letters, digits and _, no leading, trailing or double _.
func validEntityID(id string) bool {
	dom, obj, ok := strings.Cut(id, ".")
	part := func(s string) bool {
		if s == "" || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") {
			return false
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
		return true
	}
	return ok && part(dom) && part(obj)
}

// check validates one discovery message as Home Assistant would.
func (s *haSchema) check(topic string, payload []byte) error {
	re := regexp.MustCompile(s.DiscoveryTopic)
	mt := re.FindStringSubmatch(topic)
	if mt == nil {
		return fmt.Errorf("topic %q: not <prefix>/<component>/[<node_id>/]<object_id>/config", topic)
	}
	platform := mt[re.SubexpIndex("component")]
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	for k := range c {
		if !slices.Contains(s.CommonKeys, k) && !slices.Contains(s.PlatformKeys[platform], k) {
			return fmt.Errorf("key %q: not in Home Assistant's %s schema (it would be dropped)", k, platform)
		}
	}
	for _, k := range s.RequiredKeys {
		if c[k] == nil {
			return fmt.Errorf("key %q missing", k)
		}
	}
	if _, ok := c["object_id"]; ok {
		return fmt.Errorf("object_id: ignored since Home Assistant 2026.4; use default_entity_id")
	}
	if id, ok := c["default_entity_id"].(string); !ok || !validEntityID(id) || !strings.HasPrefix(id, platform+".") {
		return fmt.Errorf("default_entity_id %v: not a valid %s entity id", c["default_entity_id"], platform)
	}
	if u, _ := c["unique_id"].(string); u == "" {
		return fmt.Errorf("no unique_id")
	}
	_, single := c["availability_topic"]
	list, hasList := c["availability"].([]any)
	if single && hasList {
		return fmt.Errorf("availability and availability_topic are exclusive")
	}
	for _, it := range list {
		m, _ := it.(map[string]any)
		if t, _ := m["topic"].(string); t == "" || strings.ContainsAny(t, "+#") {
			return fmt.Errorf("availability item %v: needs a topic", it)
		}
		for k := range m {
			if !slices.Contains(s.AvailabilityItemKeys, k) {
				return fmt.Errorf("availability item key %q", k)
			}
		}
	}
	if mode, ok := c["availability_mode"].(string); ok && !slices.Contains(s.AvailabilityModes, mode) {
		return fmt.Errorf("availability_mode %q", mode)
	}
	dev, _ := c["device"].(map[string]any)
	for k := range dev {
		if !slices.Contains(s.DeviceKeys, k) {
			return fmt.Errorf("device key %q", k)
		}
	}
	if ids, _ := dev["identifiers"].([]any); dev != nil && len(ids) == 0 {
		return fmt.Errorf("device without identifiers")
	}
	if u, ok := dev["configuration_url"].(string); ok && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("configuration_url %q", u)
	}
	org, _ := c["origin"].(map[string]any)
	for k := range org {
		if !slices.Contains(s.OriginKeys, k) {
			return fmt.Errorf("origin key %q", k)
		}
	}
	if cat, ok := c["entity_category"].(string); ok && !slices.Contains(s.EntityCategories[platform], cat) {
		return fmt.Errorf("entity_category %q not allowed for %s", cat, platform)
	}
	if p, ok := c["suggested_display_precision"].(float64); ok && (p < 0 || p != float64(int(p))) {
		return fmt.Errorf("suggested_display_precision %v", p)
	}
	if e, ok := c["expire_after"].(float64); ok && (e < 0 || e != float64(int(e))) {
		return fmt.Errorf("expire_after %v", e)
	}
	class, _ := c["device_class"].(string)
	if platform == "binary_sensor" {
		if class != "" && !slices.Contains(s.BinaryClasses, class) {
			return fmt.Errorf("binary_sensor device_class %q", class)
		}
		return nil
	}
	unit, _ := c["unit_of_measurement"].(string)
	sc, hasSC := c["state_class"].(string)
	if hasSC && !slices.Contains(s.StateClasses, sc) {
		return fmt.Errorf("state_class %q", sc)
	}
	if class != "" {
		units, ok := s.DeviceClassUnits[class]
		if !ok {
			return fmt.Errorf("device_class %q unknown", class)
		}
		if !slices.Contains(units, unit) {
			return fmt.Errorf("device_class %q does not take unit %q (HA: %v)", class, unit, units)
		}
		if hasSC && !slices.Contains(s.DeviceClassStateClasses[class], sc) {
			return fmt.Errorf("device_class %q does not take state_class %q", class, sc)
		}
	}
	return nil
}

// hostValues are the values of the host driver, whose set is known only
// when it runs: every one it can report.
var hostValues = []reading.Value{
	{Name: "cpu_temp", Unit: reading.Celsius}, {Name: "load1"}, {Name: "load5"}, {Name: "load15"},
	{Name: "mem_used", Unit: reading.Percent}, {Name: "mem_available", Unit: reading.Mebibytes},
	{Name: "uptime", Unit: reading.Second}, {Name: "wifi_signal", Unit: reading.DBm}, {Name: "wifi_link"},
	{Name: "disk_used", Unit: reading.Percent}, {Name: "disk_free", Unit: reading.Mebibytes},
}

// exampleSensors reads deploy/rpi/sensorcast.toml's sensors as
// cmd/sensorcast gives them to the bridge.
func exampleSensors(t *testing.T) []Sensor {
	t.Helper()
	var f struct {
		Sensors []sensors.Config `toml:"sensor"`
	}
	if _, err := toml.DecodeFile("../deploy/rpi/sensorcast.toml", &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Sensors) < 10 {
		t.Fatalf("only %d sensors in the example", len(f.Sensors))
	}
	var out []Sensor
	for i := range f.Sensors {
		c := &f.Sensors[i]
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		s := Sensor{Name: c.Name, Interval: c.Interval, Values: c.Expect(), Binary: c.Driver == "gpio"}
		switch c.Driver {
		case "host":
			s.Values = hostValues
		case "ds18b20":
			s.Values = []reading.Value{{Name: "tank", Unit: reading.Celsius}, {Name: "28-0316a2797b00", Unit: reading.Celsius}}
		}
		out = append(out, s)
	}
	return out
}

// TestDiscoveryMatchesHASchema: every discovery config the bridge publishes
// for the example configuration (every driver and value kind), in JSON and
// in values-only mode, passes Home Assistant's rules.
func TestDiscoveryMatchesHASchema(t *testing.T) {
	schema := loadHASchema(t)
	two := 2
	extra := []Sensor{
		{Name: "sim_2", Interval: time.Second, Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}},
			HA: map[string]HA{"temperature": {Precision: &two, Icon: "mdi:thermometer", EntityCategory: "diagnostic"}}},
		{Name: "soil probe", Interval: time.Second, Values: []reading.Value{{Name: "wet", Unit: reading.Percent}},
			HA: map[string]HA{"wet": {DeviceClass: "moisture"}}},
		{Name: "door", Interval: time.Minute, Binary: true, Values: []reading.Value{{Name: "open"}},
			HA: map[string]HA{"open": {DeviceClass: "door"}}},
	}
	for _, jsonOn := range []bool{true, false} {
		m, err := build(&Options{
			Config:           Config{Broker: "tcp://127.0.0.1:1", JSON: &jsonOn},
			Device:           "Green House.1",
			Version:          "v1",
			Sensors:          append(exampleSensors(t), extra...),
			ConfigurationURL: "http://greenhouse:8080/",
		}, osFS{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		m.mu.Lock()
		for sensor := range m.values {
			for _, e := range m.discoveryLocked(sensor) {
				b, _ := json.Marshal(e.cfg)
				if err := schema.check(e.topic, b); err != nil {
					t.Errorf("json=%v %s: %v\n%s", jsonOn, e.topic, err, b)
				}
				n++
			}
		}
		m.mu.Unlock()
		m.q.close()
		if n < 40 {
			t.Errorf("json=%v: only %d configs checked", jsonOn, n)
		}
	}
}

// TestHASchemaCatches: the schema check is not a formality: a wrong unit
// for a device class, an unknown key, object_id, a config category on a
// sensor and a bad state class all fail it.
func TestHASchemaCatches(t *testing.T) {
	schema := loadHASchema(t)
	good := `{"name":"x","unique_id":"u","default_entity_id":"sensor.pi_x","state_topic":"s/pi/x","device_class":"data_size","unit_of_measurement":"MiB","state_class":"measurement","device":{"identifiers":["i"],"name":"pi"},"origin":{"name":"o"}}`
	if err := schema.check("homeassistant/sensor/pi/x/config", []byte(good)); err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
	for _, bad := range []struct{ topic, from, to string }{
		{"homeassistant/sensor/pi/x/config", `"MiB"`, `"Mo"`},
		{"homeassistant/sensor/pi/x/config", `"unique_id"`, `"uniq_id_x"`},
		{"homeassistant/sensor/pi/x/config", `"default_entity_id":"sensor.pi_x"`, `"default_entity_id":"sensor.pi_x","object_id":"pi_x"`},
		{"homeassistant/sensor/pi/x/config", `"state_class":"measurement"`, `"state_class":"measurement","entity_category":"config"`},
		{"homeassistant/sensor/pi/x/config", `"device_class":"data_size","unit_of_measurement":"MiB","state_class":"measurement"`, `"device_class":"temperature","unit_of_measurement":"°C","state_class":"total"`},
		{"homeassistant/sensor/pi/x/config", `"sensor.pi_x"`, `"sensor.Pi__x"`},
		{"homeassistant/sensor/pi.x/x/config", "", ""},
	} {
		p := strings.Replace(good, bad.from, bad.to, 1)
		if err := schema.check(bad.topic, []byte(p)); err == nil {
			t.Errorf("accepted %s %s", bad.topic, p)
		}
	}
}

// TestHAOverridesChecked: a device class that does not take the value's
// unit, or an unknown binary class, is an error at New naming the value.
func TestHAOverridesChecked(t *testing.T) {
	for _, s := range []Sensor{
		{Name: "soil", Values: []reading.Value{{Name: "wet", Unit: reading.Volt}}, HA: map[string]HA{"wet": {DeviceClass: "moisture"}}},
		{Name: "door", Binary: true, Values: []reading.Value{{Name: "open"}}, HA: map[string]HA{"open": {DeviceClass: "doorway"}}},
		{Name: "sim", Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}}, HA: map[string]HA{"temprature": {}}},
		{Name: "sim", Values: []reading.Value{{Name: "temperature", Unit: reading.Celsius}}, HA: map[string]HA{"temperature": {EntityCategory: "config"}}},
	} {
		_, err := build(&Options{Config: Config{Broker: "tcp://127.0.0.1:1"}, Device: "pi", Sensors: []Sensor{s}}, osFS{})
		if err == nil || !strings.Contains(err.Error(), "ha.") {
			t.Errorf("%+v: err = %v", s, err)
		}
	}
}

// TestObjectIDInjective: sensor a_b + value c and sensor a + value b_c
// no longer share an entity; plain names keep their readable id.
func TestObjectIDInjective(t *testing.T) {
	if a, b := objectID("a_b", "c"), objectID("a", "b_c"); a == b {
		t.Errorf("objectID collides: %s", a)
	}
	if got := objectID("host", "cpu_temp"); got != "host_cpu_temp" {
		t.Errorf("objectID(host, cpu_temp) = %s", got)
	}
	if got := entitySlug("Green_House_1", "Soil Probe", "wet"); got != "green_house_1_soil_probe_wet" {
		t.Errorf("entitySlug = %s", got)
	}
}
