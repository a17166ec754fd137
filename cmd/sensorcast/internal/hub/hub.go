package hub

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// FrameSink receives each encoded message once, to send it to every client.
// It must not block and must not keep payload after it returns. A reading
// goes with its sensor's key, so that a client that falls behind skips a
// reading only for a newer one of the same sensor; a status goes with key 0,
// never to be dropped (see ws.Server.BroadcastKey, which satisfies it).
type FrameSink interface {
	BroadcastKey(key uint64, payload []byte) int
}

// Client is a WebSocket client being opened, as Snapshot needs it.
// cmd/sensorcast adapts a *ws.Conn to it.
type Client interface {
	// Join adds the client to the broadcast set at once.
	Join()
	// Send sends one text message to this client only.
	Send(payload []byte) error
	// SendPrepared sends a message that Options.Prepare made.
	SendPrepared(p Prepared) error
	// Subprotocol is the subprotocol agreed in the handshake.
	Subprotocol() string
}

// Prepared is a message encoded and framed once, to be sent to many
// clients (*ws.Prepared satisfies it). Payload returns the message, which
// must not be modified.
type Prepared interface {
	Payload() []byte
}

// PrepareFunc frames payload once as a text message, or a binary one if
// binary is true.
type PrepareFunc func(binary bool, payload []byte) (Prepared, error)

// GzipSubprotocol is the WebSocket subprotocol with which a client asks for
// the history message gzipped, as a binary message; every other message
// stays text.
const GzipSubprotocol = "sensorcast.gzip"

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
	// MaxGap is the longest legitimate gap between two readings of the
	// sensor while it is healthy (with a delta filter, its heartbeat); 0
	// means no bound. Clients judge a sensor stale by it.
	MaxGap time.Duration
}

// Status is a sensor's health as the poller last saw it.
type Status = reading.Status

// Options configures a Hub. Sinks may be nil or empty.
type Options struct {
	Device  string       // the node's name in every message
	Version string       // sensorcast's version, sent in the hello message
	Sensors []SensorInfo // in display order
	Frames  FrameSink
	// Prepare frames the history message that Snapshot shares among the
	// clients of one history step (ws.NewPrepared). Default: a copy that
	// the client sends as it is.
	Prepare PrepareFunc
	Sinks   []Sink
	History HistoryOptions // the zero value means the defaults
}

// Hub fans readings out to the sinks and keeps the latest state for new
// clients. It is safe for concurrent use.
type Hub struct {
	device, version string
	sensors         []SensorInfo
	frames          FrameSink
	prep            PrepareFunc
	sinks           []Sink
	history         HistoryOptions

	mu     sync.Mutex
	latest map[string]*entry
	order  []*entry     // entries in hello order, then in order of first reading
	alerts []alertEntry // the latest alert message of each rule, in order of first (see SetAlert)

	// The history message shared by the clients that connect within one
	// history step, encoded outside mu.
	hmu    sync.Mutex
	shared sharedHistory
}

type entry struct {
	name    string
	json    []byte // the latest reading, encoded; nil before the first one
	failing bool
	status  []byte // the latest status message, encoded; nil before any

	key      uint64          // the sensor's broadcast key: its place in order, from 1
	interval time.Duration   // from Options.Sensors; 0 when not configured
	maxGap   time.Duration   // from Options.Sensors; 0 when not configured or no bound
	err      string          // the latest status's error
	failures uint64          // the latest status's failure count
	hist     *series         // nil before the first reading or with History.Off
	last     reading.Reading // the latest reading, a copy; valid when json is not nil
}

// New returns a Hub for the configuration in o, which must not be nil.
func New(o *Options) *Hub {
	h := &Hub{
		device:  o.Device,
		version: o.Version,
		sensors: append([]SensorInfo(nil), o.Sensors...),
		frames:  o.Frames,
		prep:    o.Prepare,
		sinks:   append([]Sink(nil), o.Sinks...),
		latest:  make(map[string]*entry, len(o.Sensors)),
		history: o.History.withDefaults(),
	}
	for _, s := range h.sensors {
		e := h.entry(s.Name)
		e.interval, e.maxGap = s.Interval, s.MaxGap
	}
	return h
}

// entry returns the state of sensor name, creating it. h.mu must be held
// (or h not yet shared).
func (h *Hub) entry(name string) *entry {
	e := h.latest[name]
	if e == nil {
		e = &entry{name: name, key: uint64(len(h.order) + 1)}
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
	e.last = *r
	if !h.history.Off {
		if e.hist == nil {
			e.hist = newSeries(h.history)
		}
		e.hist.add(r)
	}
	if h.frames != nil {
		h.frames.BroadcastKey(e.key, e.json)
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
		h.frames.BroadcastKey(0, e.status)
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
		dst = append(dst, `,"max_gap_ms":`...)
		dst = strconv.AppendInt(dst, s.MaxGap.Milliseconds(), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// Snapshot opens a new client c, from ws.Options.OnOpen: it sends the hello
// message, one history message with the recent points of every sensor (see
// HistoryOptions), the latest reading of every sensor that has one and the
// latest status of every sensor that has had one (failing or recovered,
// with its failure count) and the latest alert message of every rule that
// has fired (see SetAlert), in that order, and joins c to the
// broadcast set at the point that state shows, so that c then receives
// every later message, none twice. The readings and statuses are copied
// and c joins under the hub's lock; everything is sent after it is
// released, so a slow send never holds up Publish. The history is encoded
// outside the lock once per history step and shared by every client that
// connects within that step (gzipped for a client that agreed
// GzipSubprotocol). Snapshot stops at, and returns, the first send error.
func (h *Hub) Snapshot(c Client) error {
	hist, err := h.sharedHistory(time.Now(), c.Subprotocol() == GzipSubprotocol)
	if err != nil {
		return err
	}
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
	for _, e := range h.order {
		if e.json != nil {
			buf = append(buf, e.json...)
			parts = append(parts, part{"latest reading of " + e.name, len(buf)})
		}
	}
	for _, e := range h.order {
		if e.status != nil {
			buf = append(buf, e.status...)
			parts = append(parts, part{"status of " + e.name, len(buf)})
		}
	}
	for _, a := range h.alerts {
		buf = append(buf, a.json...)
		parts = append(parts, part{"alert " + a.rule, len(buf)})
	}
	c.Join()
	h.mu.Unlock()

	start := 0
	for i, p := range parts {
		if err := c.Send(buf[start:p.end]); err != nil {
			return fmt.Errorf("hub: send %s: %w", p.what, err)
		}
		start = p.end
		if i == 0 {
			if err := c.SendPrepared(hist); err != nil {
				return fmt.Errorf("hub: send history: %w", err)
			}
		}
	}
	return nil
}

// SensorState is what the hub knows of one sensor, as State returns it.
type SensorState struct {
	Name     string
	OK       bool   // no failure reported since the last recovery
	Failures uint64 // the latest status's failure count
	Err      string // the latest status's error
	// Latest is the sensor's latest reading; valid only when HasLatest.
	Latest    reading.Reading
	HasLatest bool
}

// Stats is a snapshot of the hub's bookkeeping.
type Stats struct {
	Sensors       int // sensors known
	HistoryPoints int // history points held, summed over the sensors
	HistoryValues int // values in them (a point of a sensor with three values holds three)
}

// AppendStates appends the state of every sensor to dst, in hello order,
// and returns it. With room in dst it allocates nothing.
func (h *Hub) AppendStates(dst []SensorState) []SensorState {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.order {
		dst = append(dst, SensorState{
			Name: e.name, OK: !e.failing, Failures: e.failures, Err: e.err,
			Latest: e.last, HasLatest: e.json != nil,
		})
	}
	return dst
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Sensors: len(h.order)}
	for _, e := range h.order {
		if e.hist != nil {
			st.HistoryPoints += e.hist.n
			st.HistoryValues += e.hist.n * len(e.hist.vals)
		}
	}
	return st
}
