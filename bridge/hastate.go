package bridge

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The retained topics the bridge publishes (discovery configs, the node's
// status, each sensor's availability) are listed in StateDir's
// ha-topics.json. At the next start, once the current ones are published,
// those of the list that this run does not publish are cleared: the
// entities of a removed sensor or value, and every entity and status of
// the node's previous name after a rename, go away in Home Assistant
// instead of staying behind, dead. Without a StateDir only the current
// node's discovery topics are checked (onOldConfig).

// haTopicsFile is the list's file name in StateDir.
const haTopicsFile = "ha-topics.json"

// topicRecord is one retained topic: which node and sensor published it.
type topicRecord struct {
	Topic  string `json:"topic"`
	Node   string `json:"node"`
	Sensor string `json:"sensor,omitempty"`
}

// currentLocked reports whether a discovery topic of sensor is one this
// run publishes, or may publish (its values are not known yet). m.mu must
// be held.
func (m *MQTT) currentLocked(sensor, topic string) bool {
	if m.values[sensor] == nil {
		_, configured := m.sensors[sensor]
		return configured
	}
	for _, e := range m.discoveryLocked(sensor) {
		if e.topic == topic {
			return true
		}
	}
	return false
}

// clearLeftovers clears, once per run, the retained topics of the previous
// run's list that this run does not publish, then writes the list of this
// run's. It runs on the delivery goroutine, after sendDue's publications.
func (m *MQTT) clearLeftovers() {
	if m.state == "" {
		m.cleaned = true
		return
	}
	path := filepath.Join(m.state, haTopicsFile)
	m.mu.Lock()
	var clearTopics []string
	keep := map[string]topicRecord{}
	if !m.cleaned {
		var old []topicRecord
		b, err := readNoFollow(path, 16<<20)
		if err == nil {
			err = json.Unmarshal(b, &old)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("mqtt: the list of retained topics is unreadable; old Home Assistant entities may stay behind", "file", path, "err", err)
		}
		for _, r := range old {
			if _, ok := m.published[r.Topic]; ok {
				continue
			}
			_, configured := m.sensors[r.Sensor]
			if r.Node == m.node && configured && (m.values[r.Sensor] == nil || r.Topic == m.availTopic(r.Sensor)) {
				keep[r.Topic] = r // not announced yet, or its availability not sent yet
				continue
			}
			clearTopics = append(clearTopics, r.Topic)
		}
	} else {
		keep = m.kept
	}
	m.mu.Unlock()

	toks := make([]paho.Token, 0, len(clearTopics))
	for _, t := range clearTopics {
		m.log.Info("mqtt: clearing a retained topic of a removed sensor or an old device name", "topic", t)
		toks = append(toks, m.client.Publish(t, 1, true, []byte{}))
	}
	for _, t := range toks {
		if !t.WaitTimeout(20*time.Second) || t.Error() != nil {
			return // not cleared: tried again after the next connect
		}
	}

	m.mu.Lock()
	m.cleaned = true
	m.kept = keep
	list := make([]topicRecord, 0, len(m.published)+len(keep))
	for _, r := range m.published {
		list = append(list, r)
	}
	for t, r := range keep {
		if _, ok := m.published[t]; !ok {
			list = append(list, r)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b topicRecord) int {
		switch {
		case a.Topic < b.Topic:
			return -1
		case a.Topic > b.Topic:
			return 1
		}
		return 0
	})
	b, _ := json.MarshalIndent(list, "", " ")
	tmp := path + ".tmp"
	if err := writeNoFollow(tmp, b); err == nil {
		err = os.Rename(tmp, path)
		if err != nil {
			m.log.Warn("mqtt: cannot save the list of retained topics", "file", path, "err", err)
		}
	} else {
		m.log.Warn("mqtt: cannot save the list of retained topics", "file", path, "err", err)
	}
}

// writeNoFollow writes b to a new or truncated file, mode 0600, refusing a
// symbolic link in its last element.
func writeNoFollow(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
