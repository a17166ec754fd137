package hub

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// FrameSink receives each encoded message once, to send it to every client.
// It must not block and must not keep payload after it returns.
// ws.Server satisfies it.
type FrameSink interface {
	Broadcast(payload []byte) int
}

// Sink receives every reading and every status the hub publishes, in the
// order the hub publishes them. Its methods must not block and must not keep
// their argument after they return (copy the value if needed: both are value
// types). bridge.MQTT satisfies it.
type Sink interface {
	PublishReading(r *reading.Reading)
	PublishStatus(s *reading.Status)
}

// SensorInfo describes one configured sensor for the hello message.
type SensorInfo struct {
	Name     string
	Interval time.Duration
}

// Status is a sensor's health as the poller last saw it.
type Status = reading.Status

// Options configures a Hub. Sinks may be nil or empty.
type Options struct {
	Device  string       // the node's name in every message
	Version string       // sensorcast's version, sent in the hello message
	Sensors []SensorInfo // in display order
	Frames  FrameSink
	Sinks   []Sink
	History HistoryOptions // the zero value means the defaults
}

// Hub fans readings out to the sinks and keeps the latest state for new
// clients. It is safe for concurrent use.
type Hub struct {
	device, version string
	sensors         []SensorInfo
	frames          FrameSink
	sinks           []Sink
	history         HistoryOptions

	mu     sync.Mutex
	latest map[string]*entry
	order  []*entry // entries in hello order, then in order of first reading
}

type entry struct {
	name    string
	json    []byte // the latest reading, encoded; nil before the first one
	failing bool
	status  []byte // the latest status message, encoded; nil before any

	interval time.Duration // from Options.Sensors; 0 when not configured
	err      string        // the latest status's error
	failures uint64        // the latest status's failure count
	hist     *series       // nil before the first reading or with History.Off
}

// New returns a Hub for the configuration in o, which must not be nil.
func New(o *Options) *Hub {
	h := &Hub{
		device:  o.Device,
		version: o.Version,
		sensors: append([]SensorInfo(nil), o.Sensors...),
		frames:  o.Frames,
		sinks:   append([]Sink(nil), o.Sinks...),
		latest:  make(map[string]*entry, len(o.Sensors)),
		history: o.History.withDefaults(),
	}
	for _, s := range h.sensors {
		h.entry(s.Name).interval = s.Interval
	}
	return h
}

// entry returns the state of sensor name, creating it. h.mu must be held
// (or h not yet shared).
func (h *Hub) entry(name string) *entry {
	e := h.latest[name]
	if e == nil {
		e = &entry{name: name}
		h.latest[name] = e
		h.order = append(h.order, e)
	}
	return e
}

// Publish encodes r once, keeps it as its sensor's latest reading and hands
// it to every sink. It does not keep r. Once every sensor has been seen and
// its buffer has grown, Publish allocates nothing.
func (h *Hub) Publish(r *reading.Reading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.latest[r.Sensor]
	if e == nil {
		e = h.entry(r.Sensor)
	}
	e.json = r.AppendJSON(e.json[:0])
	if !h.history.Off {
		if e.hist == nil {
			e.hist = newSeries(h.history)
		}
		e.hist.add(r)
	}
	if h.frames != nil {
		h.frames.Broadcast(e.json)
	}
	for _, s := range h.sinks {
		s.PublishReading(r)
	}
}

// SetStatus records a sensor's health and broadcasts a status message. The
// poller calls it when a sensor starts failing and when it recovers.
func (h *Hub) SetStatus(s Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entry(s.Sensor)
	e.failing = !s.OK
	e.err, e.failures = s.Err, s.Failures
	e.status = h.appendStatus(e.status[:0], s)
	if h.frames != nil {
		h.frames.Broadcast(e.status)
	}
	for _, k := range h.sinks {
		k.PublishStatus(&s)
	}
}

func (h *Hub) appendStatus(dst []byte, s Status) []byte {
	dst = append(dst, `{"type":"status","device":`...)
	dst = reading.AppendString(dst, h.device)
	dst = append(dst, `,"sensor":`...)
	dst = reading.AppendString(dst, s.Sensor)
	dst = append(dst, `,"ok":`...)
	dst = strconv.AppendBool(dst, s.OK)
	dst = append(dst, `,"error":`...)
	dst = reading.AppendString(dst, s.Err)
	dst = append(dst, `,"failures":`...)
	dst = strconv.AppendUint(dst, s.Failures, 10)
	dst = append(dst, `,"time":"`...)
	dst = reading.AppendTime(dst, s.Time)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, s.Time.UnixMilli(), 10)
	return append(dst, '}')
}

// AppendHello appends the hello message that opens every WebSocket session.
func (h *Hub) AppendHello(dst []byte) []byte {
	dst = append(dst, `{"type":"hello","device":`...)
	dst = reading.AppendString(dst, h.device)
	dst = append(dst, `,"version":`...)
	dst = reading.AppendString(dst, h.version)
	dst = append(dst, `,"sensors":[`...)
	for i, s := range h.sensors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sensor":`...)
		dst = reading.AppendString(dst, s.Name)
		dst = append(dst, `,"interval_ms":`...)
		dst = strconv.AppendInt(dst, s.Interval.Milliseconds(), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// Snapshot sends a new client, through send, the hello message, one history
// message with the recent points of every sensor (see HistoryOptions), the
// latest reading of every sensor that has one and the status of every failing
// sensor, in that order. The messages are copied under the hub's lock, so
// they form one consistent state, and sent after it is released, so a slow
// send (ws.Conn.Send writes at once during OnOpen) never holds up Publish.
// It allocates its copy once per call: once per new client. The payload is
// valid only during the call. Snapshot stops at, and returns, send's first
// error.
func (h *Hub) Snapshot(send func(payload []byte) error) error {
	type part struct {
		what string
		end  int
	}
	var (
		buf   []byte
		parts []part
	)
	h.mu.Lock()
	buf = h.AppendHello(buf)
	parts = append(parts, part{"hello", len(buf)})
	buf = h.appendHistory(buf, math.MinInt64, func(string) bool { return true })
	parts = append(parts, part{"history", len(buf)})
	for _, e := range h.order {
		if e.json != nil {
			buf = append(buf, e.json...)
			parts = append(parts, part{"latest reading of " + e.name, len(buf)})
		}
	}
	for _, e := range h.order {
		if e.failing {
			buf = append(buf, e.status...)
			parts = append(parts, part{"status of " + e.name, len(buf)})
		}
	}
	h.mu.Unlock()

	start := 0
	for _, p := range parts {
		if err := send(buf[start:p.end]); err != nil {
			return fmt.Errorf("hub: send %s: %w", p.what, err)
		}
		start = p.end
	}
	return nil
}
