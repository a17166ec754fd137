package hub

import (
	"strconv"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Alert is an alert rule's state as clients see it: the alert message,
// broadcast when the rule fires or resolves and sent in the snapshot to a
// client that joins later.
type Alert struct {
	Rule   string
	Sensor string
	Firing bool
	When   string // the rule's condition
	// Value, Milli and Unit are the value that crossed (or cleared) for a
	// threshold rule; HasValue is false for health rules.
	Value    string
	Milli    int64
	Unit     reading.Unit
	HasValue bool
	Since    time.Time // when the episode began
	Time     time.Time // when the rule last changed
}

// SetAlert keeps a's message as its rule's latest and broadcasts it with
// key 0 (never dropped). A client that joins later gets the latest alert
// message of every rule that has one, after the statuses.
func (h *Hub) SetAlert(a Alert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var m *[]byte
	for i := range h.alerts {
		if h.alerts[i].rule == a.Rule {
			m = &h.alerts[i].json
		}
	}
	if m == nil {
		h.alerts = append(h.alerts, alertEntry{rule: a.Rule})
		m = &h.alerts[len(h.alerts)-1].json
	}
	*m = h.appendAlert((*m)[:0], &a)
	if h.frames != nil {
		h.frames.BroadcastKey(0, *m)
	}
}

type alertEntry struct {
	rule string
	json []byte
}

func (h *Hub) appendAlert(dst []byte, a *Alert) []byte {
	dst = append(dst, `{"type":"alert","device":`...)
	dst = reading.AppendString(dst, h.device)
	dst = append(dst, `,"rule":`...)
	dst = reading.AppendString(dst, a.Rule)
	dst = append(dst, `,"sensor":`...)
	dst = reading.AppendString(dst, a.Sensor)
	dst = append(dst, `,"state":`...)
	if a.Firing {
		dst = append(dst, `"firing"`...)
	} else {
		dst = append(dst, `"resolved"`...)
	}
	dst = append(dst, `,"when":`...)
	dst = reading.AppendString(dst, a.When)
	if a.HasValue {
		dst = append(dst, `,"value":`...)
		dst = reading.AppendString(dst, a.Value)
		dst = append(dst, `,"v":`...)
		dst = reading.AppendMilli(dst, a.Milli)
		dst = append(dst, `,"unit":`...)
		dst = reading.AppendString(dst, string(a.Unit))
	}
	dst = append(dst, `,"since":"`...)
	dst = reading.AppendTime(dst, a.Since)
	dst = append(dst, `","time":"`...)
	dst = reading.AppendTime(dst, a.Time)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, a.Time.UnixMilli(), 10)
	return append(dst, '}')
}
