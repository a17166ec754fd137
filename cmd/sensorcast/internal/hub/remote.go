package hub

import (
	"slices"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// A hub can also mirror a remote node, as the fleet does: its sensors and
// version are learnt after New, from the node's info message, and its
// history can be filled from the node's own before the first live reading.

// SetInfo replaces the version and the sensors of the hello message, as
// SetInfo's caller learnt them after New (a node's info message). Sensors
// already known keep their state; new ones are added. Clients that connect
// later get the new hello; those connected get it when they reconnect.
func (h *Hub) SetInfo(version string, sensors []SensorInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version = version
	h.sensors = slices.Clone(sensors)
	for _, s := range h.sensors {
		e := h.entry(s.Name)
		e.interval, e.maxGap = s.Interval, s.MaxGap
	}
}

// Backfill adds points to sensor's history that are older than every point
// it holds (older ones only: a live reading is never overwritten), as if
// they had been published first, without broadcasting them and without
// changing the sensor's latest reading. points must be in time order; each
// is one history point (a reading at the point's time). It returns how many
// points were taken. With History.Off it takes none.
func (h *Hub) Backfill(sensor string, points []reading.Reading) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.history.Off || len(points) == 0 {
		return 0
	}
	e := h.entry(sensor)
	old := e.hist
	limit := int64(1<<63 - 1)
	if old != nil && old.n > 0 {
		limit = old.t[old.head]
	}
	fresh := newSeries(h.history)
	taken := 0
	for i := range points {
		if points[i].Time.UnixMilli() >= limit {
			break
		}
		fresh.add(&points[i])
		taken++
	}
	if taken == 0 {
		return 0
	}
	if old != nil {
		var r reading.Reading
		for k := range old.n {
			i := (old.head + k) % len(old.t)
			r.Reset(h.device, sensor, time.UnixMilli(old.t[i]))
			for _, vr := range old.vals {
				if vr.v[i] != missing {
					r.Add(vr.name, vr.unit, vr.v[i])
				}
			}
			fresh.add(&r)
		}
	}
	e.hist = fresh
	return taken
}
