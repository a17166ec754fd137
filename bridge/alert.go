package bridge

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Alerts: each alert rule of sensorcast has a retained state topic,
// <prefix>/<device>/alert/<name>, holding "firing" or "resolved", and with
// discovery a Home Assistant binary_sensor of device class "problem"
// reading it. Both are in the list of retained topics (hastate.go), so a
// rule removed from the config has its entity cleared at the next start.

// Payloads of an alert's state topic.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// alertSet is the bridge's alert state; m.mu guards it.
type alertSet struct {
	names    []string        // the rules, as configured
	firing   map[string]bool // the state of each rule published at least once
	due      map[string]bool // states to publish
	announce bool            // the discovery configs are due
}

// initAlerts records the rules of o and marks their configs due. Their
// topics count as this run's from the start: the previous run's retained
// states are never cleared only to be published again.
func (m *MQTT) initAlerts(names []string) error {
	m.alerts = alertSet{firing: make(map[string]bool), due: make(map[string]bool)}
	if _, clash := m.sensors["alert"]; clash && len(names) > 0 {
		return fmt.Errorf("mqtt: a sensor named \"alert\" would share topics with the alert rules: rename it")
	}
	seen := make(map[string]string)
	for _, n := range names {
		if err := reading.CheckName(n); err != nil {
			return fmt.Errorf("mqtt: alert %q: %w", n, err)
		}
		if topicSafe(n) == "availability" {
			// <prefix>/<device>/alert/availability would read as the
			// availability of a sensor named "alert".
			return fmt.Errorf("mqtt: alert %q: the name is taken by the availability topics: rename it", n)
		}
		if other, dup := seen[topicSafe(n)]; dup {
			return fmt.Errorf("mqtt: alerts %q and %q would share a topic (a space is published as _): rename one", other, n)
		}
		seen[topicSafe(n)] = n
		m.alerts.names = append(m.alerts.names, n)
		t := m.alertTopic(n)
		m.published[t] = topicRecord{Topic: t, Node: m.node}
		if m.s.discovery {
			c := m.alertConfigLocked(n)
			m.published[c.topic] = topicRecord{Topic: c.topic, Node: m.node}
		}
	}
	m.alerts.announce = m.s.discovery && len(names) > 0
	return nil
}

// alertTopic is rule name's state topic.
func (m *MQTT) alertTopic(name string) string {
	return m.s.prefix + "/" + m.device + "/alert/" + topicSafe(name)
}

// PublishAlert publishes rule name's state on its retained topic: firing
// or resolved. It returns at once; the message goes out with the next
// delivery (again after every reconnect). A rule not given in
// Options.Alerts is published without a Home Assistant entity.
func (m *MQTT) PublishAlert(name string, firing bool) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.alerts.firing[name] = firing
	m.alerts.due[name] = true
	t := m.alertTopic(name)
	m.published[t] = topicRecord{Topic: t, Node: m.node}
	m.mu.Unlock()
	m.poke()
}

// alertReconnectLocked marks every state and config due again, after a
// connect. m.mu must be held.
func (m *MQTT) alertReconnectLocked() {
	for n := range m.alerts.firing {
		m.alerts.due[n] = true
	}
	m.alerts.announce = m.s.discovery && len(m.alerts.names) > 0
}

// alertPubsLocked returns the alert messages due and marks them sent. m.mu
// must be held.
func (m *MQTT) alertPubsLocked() (topics []string, payloads [][]byte) {
	if m.alerts.announce {
		for _, n := range m.alerts.names {
			c := m.alertConfigLocked(n)
			b, _ := json.Marshal(c.cfg)
			topics, payloads = append(topics, c.topic), append(payloads, b)
		}
		m.alerts.announce = false
	}
	for _, n := range m.alerts.names { // in config order, then the others
		if m.alerts.due[n] {
			topics, payloads = append(topics, m.alertTopic(n)), append(payloads, alertPayload(m.alerts.firing[n]))
			delete(m.alerts.due, n)
		}
	}
	for n := range m.alerts.due {
		topics, payloads = append(topics, m.alertTopic(n)), append(payloads, alertPayload(m.alerts.firing[n]))
	}
	clear(m.alerts.due)
	return topics, payloads
}

func alertPayload(firing bool) []byte {
	if firing {
		return []byte(AlertFiring)
	}
	return []byte(AlertResolved)
}

// alertConfigLocked returns rule name's discovery config: a binary_sensor
// of device class problem, on while the rule fires. m.mu must be held.
func (m *MQTT) alertConfigLocked(name string) entity {
	object := objectID("alert", name)
	c := discoveryConfig{
		Name:             "alert " + strings.ReplaceAll(name, "_", " "),
		UniqueID:         "sensorcast_" + m.node + "_" + object,
		DefaultEntityID:  "binary_sensor." + entitySlug(m.node, "alert", name),
		StateTopic:       m.alertTopic(name),
		ValueTemplate:    "{{ value }}",
		Availability:     []availabilityConfig{{Topic: m.statusTopic}},
		AvailabilityMode: "all",
		DeviceClass:      "problem",
		PayloadOn:        AlertFiring,
		PayloadOff:       AlertResolved,
		Device: discoveryDevice{
			Identifiers:      []string{"sensorcast_" + m.node},
			Name:             m.name,
			Manufacturer:     "sensorcast",
			Model:            "sensorcast",
			SWVersion:        m.version,
			ConfigurationURL: m.confURL,
		},
		Origin: discoveryOrigin{Name: "sensorcast", SWVersion: m.version},
	}
	return entity{m.s.discoveryPrefix + "/binary_sensor/" + m.node + "/" + object + "/config", c}
}

// isAlertConfigLocked reports whether a retained discovery config with
// this state topic is one of this run's alerts. m.mu must be held.
func (m *MQTT) isAlertConfigLocked(stateTopic string) bool {
	for _, n := range m.alerts.names {
		if stateTopic == m.alertTopic(n) {
			return true
		}
	}
	return false
}
