package bridge

import (
	"encoding/json"
)

// Info is the node's self-description, published retained on
// <prefix>/<device>/info at every connect (the configuration is read at
// start, so a new configuration is published with the next start): what a
// fleet (sensorcast fleet) needs to show the node before its first reading,
// to judge its sensors stale, and to backfill its charts from the dashboard.
type Info struct {
	Type    string       `json:"type"`    // "info"
	Device  string       `json:"device"`  // the device's name as configured (the topic has it topic-safe)
	Version string       `json:"version"` // sensorcast's version
	URL     string       `json:"url,omitempty"`
	Sensors []InfoSensor `json:"sensors"` // in configuration order
}

// InfoSensor is one sensor of Info.
type InfoSensor struct {
	Sensor     string `json:"sensor"`
	IntervalMS int64  `json:"interval_ms"`
	// MaxGapMS is the longest legitimate gap between two readings, as in
	// the hello message; 0 means no bound.
	MaxGapMS int64       `json:"max_gap_ms"`
	Values   []InfoValue `json:"values"` // as far as known: configured, or seen in a reading
}

// InfoValue is one value of an InfoSensor.
type InfoValue struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
}

// infoTopic is the node's info topic.
func (m *MQTT) infoTopic() string { return m.topicBase + "info" }

// appendInfo returns the info message of the configuration.
func (m *MQTT) appendInfo() []byte {
	in := Info{Type: "info", Device: m.name, Version: m.version, URL: m.confURL, Sensors: []InfoSensor{}}
	m.mu.Lock()
	for _, s := range m.info {
		gap := s.gap()
		if gap < 0 {
			gap = 0
		}
		is := InfoSensor{Sensor: s.Name, IntervalMS: s.Interval.Milliseconds(), MaxGapMS: gap.Milliseconds(), Values: []InfoValue{}}
		vals := m.values[s.Name]
		if vals == nil {
			vals = s.Values
		}
		for _, v := range vals {
			is.Values = append(is.Values, InfoValue{Name: v.Name, Unit: string(v.Unit)})
		}
		in.Sensors = append(in.Sensors, is)
	}
	m.mu.Unlock()
	b, _ := json.Marshal(in) // strings and numbers only: cannot fail
	return b
}

// publishInfo publishes the info message, retained, and waits for it. It
// reports false when the connection failed.
func (m *MQTT) publishInfo() bool {
	t := m.infoTopic()
	if !m.publishWait(t, true, m.appendInfo()) {
		return false
	}
	m.mu.Lock()
	m.published[t] = topicRecord{Topic: t, Node: m.node}
	m.mu.Unlock()
	return true
}
