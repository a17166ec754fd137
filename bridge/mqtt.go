package bridge

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Sensor is one configured sensor, for discovery and availability.
type Sensor struct {
	Name     string        // the sensor's configured name
	Interval time.Duration // how often it is read
	// MaxGap is the longest legitimate gap between two of its readings:
	// with a delta filter a healthy sensor is silent until its heartbeat.
	// Home Assistant's expire_after is about twice MaxGap. 0 means
	// Interval; a negative value means no bound, and no expire_after is
	// announced (the entity never expires).
	MaxGap time.Duration
	// Values are the values it reports, with their units (Milli unused),
	// as far as known before its first reading: they are announced to
	// Home Assistant at once, so a sensor failing from the start appears,
	// unavailable. nil: announced at its first reading.
	Values []reading.Value
	// Binary makes its values on/off states (1 or 0, a GPIO input):
	// binary_sensor entities in Home Assistant.
	Binary bool
	// HA overrides what Home Assistant gets, by value name.
	HA map[string]HA
}

// gap returns the longest legitimate gap of a sensor: MaxGap, or Interval
// when MaxGap is 0; negative for no bound.
func (s Sensor) gap() time.Duration {
	if s.MaxGap != 0 {
		return s.MaxGap
	}
	return s.Interval
}

// Options configures New.
type Options struct {
	Config  Config
	Device  string   // the node's name; required
	Version string   // sensorcast's version, announced to Home Assistant
	Sensors []Sensor // the configured sensors; discovery configs of others are cleared
	// ConfigurationURL is where Home Assistant's device page links to
	// (the dashboard); "" for none.
	ConfigurationURL string
	StateDir         string // where the queue is kept on disk; "" keeps it in memory only
	// Alerts names sensorcast's alert rules: each gets a retained state
	// topic and a Home Assistant binary_sensor (see PublishAlert).
	Alerts []string
	Logger *slog.Logger
}

// Stats counts what the bridge did.
type Stats struct {
	Queued    int    // readings waiting for the broker
	Dropped   uint64 // readings dropped because the queue was full
	Lost      uint64 // readings found damaged or missing in the queue file at start
	Delivered uint64 // readings the broker acknowledged
	Published uint64 // readings sent to the broker, acknowledged or not (a reading sent again after a lost connection counts again)
	Connects  uint64 // connections made to the broker; all but the first are reconnects
	Oversized uint64 // inbound packets over max_packet_size (each closed the connection)
	Connected bool
}

// MQTT is a running bridge. Its methods are safe for concurrent use.
type MQTT struct {
	s       *settings
	device  string // topic-safe
	name    string // the device's name as given
	node    string // id-safe
	confURL string
	state   string // StateDir
	version string
	log     *slog.Logger
	client  paho.Client
	q       *queue

	statusTopic string
	topicBase   string // <prefix>/<device>/

	pmu      sync.Mutex // PublishReading's scratch buffers
	enc, tmp []byte

	wake, lost, stop chan struct{}
	wg               sync.WaitGroup

	// An inbound packet over max_packet_size closes the connection (see
	// limitConn). If the subscriptions brought it (a huge retained
	// message), subscribing again would bring it again at every connect:
	// instead the next connections do without them for subsPause, which
	// doubles (1 min to 1 h) while it keeps happening.
	oversized  atomic.Uint64
	tooBig     atomic.Bool   // on the current connection
	subsAt     time.Time     // no subscriptions before; the loop's goroutine only
	subsPause  time.Duration // the loop's goroutine only
	subscribed bool          // on the current connection; the loop's goroutine only

	mu        sync.Mutex
	sensors   map[string]time.Duration   // name → longest legitimate gap (< 0: none)
	binary    map[string]bool            // sensors whose values are on/off
	ha        map[string]map[string]HA   // sensor → value → overrides
	published map[string]topicRecord     // retained topics published in this run
	info      []Sensor                   // the configured sensors, for the info message (info.go)
	cleaned   bool                       // the previous run's leftovers are cleared
	kept      map[string]topicRecord     // leftovers kept: their sensor may still publish them
	values    map[string][]reading.Value // per sensor, as last announced (Milli unused)
	announce  map[string]bool            // sensors whose discovery is due
	avail     map[string]bool            // sensor → ok
	availDue  map[string]bool
	connected bool
	delivered uint64
	sent      uint64 // Stats.Published
	connects  uint64
	haTimer   *time.Timer
	closed    bool
	alerts    alertSet // see alert.go
}

// Status payloads of the availability topics.
const (
	Online  = "online"
	Offline = "offline"
)

// New checks o.Config, opens the queue and starts connecting in the
// background; it returns at once. A broker that cannot be reached is
// retried forever and logged, never an error here.
func New(o *Options) (*MQTT, error) {
	m, err := build(o, osFS{})
	if err != nil {
		return nil, err
	}
	m.start()
	return m, nil
}

// build is New without starting anything, with the queue's file system
// given (tests make it slow or full).
func build(o *Options, fs fsys) (*MQTT, error) {
	if o.Device == "" {
		return nil, errors.New("mqtt: no device name")
	}
	s, err := o.Config.check(o.Device)
	if err != nil {
		return nil, err
	}
	if err := checkNames(o.Device, o.Sensors); err != nil {
		return nil, err
	}
	if s.clientID == "" {
		if s.clientID, err = defaultClientID(machineIDFiles, o.StateDir); err != nil {
			return nil, err
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, w := range s.warnings {
		log.Warn(w)
	}
	q, err := openQueue(o.StateDir, s.queue, fs, log)
	if err != nil {
		return nil, err
	}
	m := &MQTT{
		s:         s,
		device:    topicSafe(o.Device),
		name:      o.Device,
		confURL:   o.ConfigurationURL,
		state:     o.StateDir,
		binary:    make(map[string]bool),
		ha:        make(map[string]map[string]HA),
		published: make(map[string]topicRecord),
		node:      idSafe(o.Device),
		version:   o.Version,
		log:       log,
		q:         q,
		wake:      make(chan struct{}, 1),
		lost:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		sensors:   make(map[string]time.Duration),
		values:    make(map[string][]reading.Value),
		announce:  make(map[string]bool),
		avail:     make(map[string]bool),
		availDue:  make(map[string]bool),
	}
	m.info = slices.Clone(o.Sensors)
	for _, sn := range o.Sensors {
		m.sensors[sn.Name] = sn.gap()
		m.binary[sn.Name] = sn.Binary
		for v, h := range sn.HA {
			unit := reading.Unit("")
			known := sn.Values == nil
			for _, x := range sn.Values {
				if x.Name == v {
					unit, known = x.Unit, true
				}
			}
			if !known {
				return nil, fmt.Errorf("mqtt: sensor %q: ha.%s: no such value", sn.Name, v)
			}
			if err := checkHA(h, sn.Binary, unit); err != nil {
				return nil, fmt.Errorf("mqtt: sensor %q: ha.%s: %w", sn.Name, v, err)
			}
		}
		m.ha[sn.Name] = sn.HA
		if sn.Values != nil && m.s.discovery {
			vals := make([]reading.Value, len(sn.Values))
			for i, v := range sn.Values {
				vals[i] = reading.Value{Name: v.Name, Unit: v.Unit}
			}
			m.values[sn.Name] = vals
			m.announce[sn.Name] = true
		}
	}
	m.statusTopic = s.prefix + "/" + m.device + "/status"
	m.topicBase = s.prefix + "/" + m.device + "/"
	if err := m.initAlerts(o.Alerts); err != nil {
		q.close()
		return nil, err
	}
	q.eager.Store(true) // not connected yet
	if n, _, _ := q.stats(); n > 0 {
		log.Info("mqtt: readings kept from before the restart", "queued", n)
	}

	po := paho.NewClientOptions().
		AddBroker(s.broker.String()).
		SetClientID(s.clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(3*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetWill(m.statusTopic, Offline, s.qos, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			m.log.Warn("mqtt: connection lost", "broker", s.broker.Redacted(), "err", err)
			select {
			case m.lost <- struct{}{}:
			default:
			}
		})
	if s.username != "" {
		po.SetUsername(s.username)
		po.SetPassword(s.password)
	}
	if s.tls != nil {
		po.SetTLSConfig(s.tls)
	}
	po.SetCustomOpenConnectionFn(openConn(s.maxPacket, m.onOversize))
	m.client = paho.NewClient(po)
	return m, nil
}

// start runs the connection loop and the goroutine that writes the queue
// to disk.
func (m *MQTT) start() {
	m.wg.Go(m.loop)
	m.wg.Go(func() { m.q.run(m.s.syncInterval, m.stop) })
}

// PublishReading queues r's messages for the broker and returns at once;
// it does not keep r. It satisfies sensorcast's hub.Sink, whose lock is
// held while it runs, so it never waits for the disk or the network: the
// reading is encoded into the in-memory queue (one allocation, the queued
// copy) and the bridge's own goroutines write it to disk and send it. When
// the queue is full the oldest reading is dropped and counted
// (Stats.Dropped), and logged at most once a minute: the newest are kept.
func (m *MQTT) PublishReading(r *reading.Reading) {
	// The discovery config is due before the reading is queued, so the
	// delivery loop sends it first.
	m.mu.Lock()
	if m.s.discovery && !coversValues(m.values[r.Sensor], r.Values()) {
		vals := slices.Clone(m.values[r.Sensor])
		for _, v := range r.Values() {
			if i := slices.IndexFunc(vals, func(x reading.Value) bool { return x.Name == v.Name }); i >= 0 {
				vals[i].Unit = v.Unit
			} else {
				vals = append(vals, reading.Value{Name: v.Name, Unit: v.Unit})
			}
		}
		m.values[r.Sensor] = vals
		m.announce[r.Sensor] = true
	}
	if !m.avail[r.Sensor] { // a reading shows the sensor works
		m.avail[r.Sensor] = true
		m.availDue[r.Sensor] = true
	}
	m.mu.Unlock()

	m.pmu.Lock()
	m.enc = m.appendReading(m.enc[:0], r)
	m.q.push(m.enc)
	m.pmu.Unlock()
	m.poke()
}

// appendReading appends the queue record of r's messages (see
// appendRecord) to dst, using m.tmp as scratch; m.pmu must be held.
func (m *MQTT) appendReading(dst []byte, r *reading.Reading) []byte {
	n := 0
	if m.s.json {
		n++
	}
	if m.s.values {
		n += r.Len()
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	field := func(dst, b []byte) []byte {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		return append(dst, b...)
	}
	topic := func(value string) []byte {
		m.tmp = append(m.tmp[:0], m.topicBase...)
		m.tmp = appendTopicSafe(m.tmp, r.Sensor)
		if value != "" {
			m.tmp = append(m.tmp, '/')
			m.tmp = appendTopicSafe(m.tmp, value)
		}
		return m.tmp
	}
	if m.s.json {
		dst = field(dst, topic(""))
		m.tmp = r.AppendJSON(m.tmp[:0])
		dst = field(dst, m.tmp)
	}
	if m.s.values {
		for _, v := range r.Values() {
			dst = field(dst, topic(v.Name))
			m.tmp = reading.AppendMilli(m.tmp[:0], v.Milli)
			dst = field(dst, m.tmp)
		}
	}
	return dst
}

// coversValues reports whether the announced values a include every value
// of b with its unit. Values that stop coming (a Wi-Fi interface gone)
// stay announced: their entities become unavailable by expire_after.
func coversValues(a, b []reading.Value) bool {
	for _, v := range b {
		if !slices.ContainsFunc(a, func(x reading.Value) bool { return x.Name == v.Name && x.Unit == v.Unit }) {
			return false
		}
	}
	return true
}

// PublishStatus records whether a sensor is working. A failing sensor's
// availability topic, <prefix>/<device>/<sensor>/availability, says
// "offline" until it recovers. It does not keep s. It satisfies sensorcast's
// hub.Sink, with PublishReading.
func (m *MQTT) PublishStatus(s *reading.Status) {
	sensor, ok := s.Sensor, s.OK
	m.mu.Lock()
	if old, seen := m.avail[sensor]; !seen || old != ok {
		m.avail[sensor] = ok
		m.availDue[sensor] = true
	}
	m.mu.Unlock()
	m.poke()
}

// Stats returns the bridge's counters.
func (m *MQTT) Stats() Stats {
	n, dropped, lost := m.q.stats()
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Queued: n, Dropped: dropped, Lost: lost, Delivered: m.delivered, Published: m.sent, Connects: m.connects, Oversized: m.oversized.Load(), Connected: m.connected}
}

func (m *MQTT) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Close publishes "offline" on the status topic, disconnects and closes
// the queue; readings not yet delivered stay on disk for the next start.
func (m *MQTT) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.haTimer != nil {
		m.haTimer.Stop()
	}
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	if m.client.IsConnectionOpen() {
		t := m.client.Publish(m.statusTopic, m.s.qos, true, Offline)
		if !t.WaitTimeout(time.Second) || t.Error() != nil {
			m.log.Warn("mqtt: publish offline", "err", t.Error())
		}
		m.client.Disconnect(250)
	}
	return m.q.close()
}

// loop connects, delivers until the connection is lost, and reconnects
// with a doubling wait capped at reconnectMax, until Close.
func (m *MQTT) loop() {
	wait := time.Second
	var lastErr string
	var lastLog time.Time
	for {
		select {
		case <-m.lost:
		default:
		}
		t := m.client.Connect()
		select {
		case <-t.Done():
		case <-m.stop:
			t.WaitTimeout(4 * time.Second)
			return
		}
		if err := t.Error(); err != nil {
			// One line per error and attempt window, not one per attempt.
			if msg := err.Error(); msg != lastErr || time.Since(lastLog) >= m.s.reconnectMax {
				// An unreachable broker (restarting, the network down) is
				// expected now and then; a refused login or certificate
				// needs someone to act.
				level := slog.LevelError
				if unreachable(err) {
					level = slog.LevelWarn
				}
				m.log.Log(context.Background(), level, "mqtt: cannot connect; retrying", "broker", m.s.broker.Redacted(), "err", err, "retry_max", m.s.reconnectMax)
				lastErr, lastLog = msg, time.Now()
			}
			select {
			case <-time.After(wait + rand.N(wait/4)):
			case <-m.stop:
				return
			}
			wait = min(2*wait, m.s.reconnectMax)
			continue
		}
		wait, lastErr = time.Second, ""
		n, dropped, _ := m.q.stats()
		m.log.Info("mqtt: connected", "broker", m.s.broker.Redacted(), "queued", n, "dropped_total", dropped)
		m.setConnected(true)
		m.deliver()
		m.setConnected(false)
		m.afterConnection()
		select {
		case <-m.stop:
			return
		default:
		}
	}
}

func (m *MQTT) setConnected(c bool) {
	m.q.eager.Store(!c)
	m.mu.Lock()
	m.connected = c
	if c {
		m.connects++
	}
	m.mu.Unlock()
}

// deliver runs while connected: it subscribes, announces, and sends the
// queue in order. It returns when the connection is lost or on Close.
func (m *MQTT) deliver() {
	m.subscribed = false
	m.subscribe()
	if !m.publishWait(m.statusTopic, true, []byte(Online)) {
		return
	}
	m.mu.Lock()
	m.published[m.statusTopic] = topicRecord{Topic: m.statusTopic, Node: m.node}
	m.mu.Unlock()
	if !m.publishInfo() { // see info.go
		return
	}
	m.mu.Lock()
	for s := range m.avail {
		m.availDue[s] = true
	}
	for s := range m.values {
		m.announce[s] = true
	}
	m.alertReconnectLocked()
	m.mu.Unlock()

	const window = 32
	for {
		m.subscribe()
		m.sendDue()
		batch := m.q.peek(window)
		if len(batch) == 0 {
			select {
			case <-m.wake:
				continue
			case <-m.lost:
				if !m.isLost() {
					continue
				}
				return
			case <-m.stop:
				return
			}
		}
		var toks [][]paho.Token
		for _, rec := range batch {
			msgs, err := parseRecord(rec)
			if err != nil { // cannot happen: records are checked on load
				m.log.Error("mqtt: dropping a damaged queued reading", "err", err)
				toks = append(toks, nil)
				continue
			}
			ts := make([]paho.Token, len(msgs))
			for i, msg := range msgs {
				ts[i] = m.client.Publish(msg.topic, m.s.qos, m.s.retain, msg.payload)
			}
			toks = append(toks, ts)
			m.mu.Lock()
			m.sent++
			m.mu.Unlock()
		}
		done := 0
		var failed error
	wait:
		for _, ts := range toks {
			for _, t := range ts {
				select {
				case <-t.Done():
				case <-m.stop:
					break wait
				case <-time.After(20 * time.Second):
					failed = errors.New("no acknowledgement in 20s")
					break wait
				}
				if err := t.Error(); err != nil {
					failed = err
					break wait
				}
			}
			done++
		}
		m.q.ack(batch[:done])
		m.mu.Lock()
		m.delivered += uint64(done)
		m.mu.Unlock()
		if failed != nil {
			if m.client.IsConnectionOpen() {
				m.log.Warn("mqtt: publish failed; will retry", "err", failed)
				m.client.Disconnect(100)
			}
			return
		}
		select {
		case <-m.stop:
			return
		case <-m.lost:
			if m.isLost() {
				return
			}
		default:
		}
	}
}

// isLost reports whether a signal on m.lost is about the current
// connection. paho calls the connection-lost handler on a goroutine of its
// own once its status already says disconnected, so the loop may have
// connected again when a lost connection's signal arrives; that one is
// stale and ignored.
func (m *MQTT) isLost() bool { return !m.client.IsConnectionOpen() }

// subscribe subscribes to Home Assistant's status and, without a
// StateDir, to this node's discovery configs, unless done on this
// connection already or paused after an oversized packet.
func (m *MQTT) subscribe() {
	if !m.s.discovery || m.subscribed || time.Now().Before(m.subsAt) {
		return
	}
	m.subscribed = true
	// A clean session forgets subscriptions: subscribe on every connect.
	dp := m.s.discoveryPrefix
	topics := map[string]paho.MessageHandler{dp + "/status": m.onHAStatus}
	if m.state == "" {
		// With a StateDir, the list of what this install published is
		// what is cleared (clearLeftovers): never the configs of another
		// install that has the same device name.
		topics[dp+"/sensor/"+m.node+"/+/config"] = m.onOldConfig
		topics[dp+"/binary_sensor/"+m.node+"/+/config"] = m.onOldConfig
	}
	for topic, h := range topics {
		t := m.client.Subscribe(topic, 1, h)
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			m.log.Warn("mqtt: subscribe failed; Home Assistant restarts will not be noticed until the next connect", "topic", topic, "err", t.Error())
		}
	}
}

// onOversize counts and logs an inbound packet refused by limitConn.
func (m *MQTT) onOversize(o oversize) {
	m.oversized.Add(1)
	m.tooBig.Store(true)
	args := []any{"type", packetNames[o.kind], "size_at_least", o.size, "max_packet_size", m.s.maxPacket}
	if o.topic != "" {
		args = append(args, "topic", o.topic)
	}
	m.log.Warn("mqtt: the broker sent a packet over max_packet_size; closing the connection", args...)
}

// afterConnection pauses the subscriptions when an oversized packet ended
// the connection that had them, and ends the pause once a connection with
// them ended otherwise.
func (m *MQTT) afterConnection() {
	switch {
	case m.tooBig.Swap(false) && m.subscribed:
		m.subsPause = min(max(2*m.subsPause, time.Minute), time.Hour)
		m.subsAt = time.Now().Add(m.subsPause)
		m.log.Warn("mqtt: a subscription brought a packet over max_packet_size (a huge retained message?); reconnecting without subscriptions: Home Assistant restarts go unnoticed until they are back", "retry_in", m.subsPause)
	case m.subscribed:
		m.subsPause = 0
	}
}

// publishWait publishes a retained message and waits for it.
func (m *MQTT) publishWait(topic string, retain bool, payload []byte) bool {
	t := m.client.Publish(topic, m.s.qos, retain, payload)
	select {
	case <-t.Done():
	case <-m.stop:
		return false
	case <-m.lost:
		if m.isLost() {
			return false
		}
		t.Wait() // a stale signal: the connection is up
	}
	if err := t.Error(); err != nil {
		m.log.Warn("mqtt: publish", "topic", topic, "err", err)
		return false
	}
	return true
}

// sendDue publishes the availability and discovery messages that changed,
// and waits for them: a sensor's config reaches the broker before its
// readings. They are retained, so a lost one is sent again on the next
// connect. The first time, it also clears what the previous run left
// (see clearLeftovers).
func (m *MQTT) sendDue() {
	m.mu.Lock()
	type pub struct {
		topic   string
		payload []byte
	}
	var pubs []pub
	for s := range m.availDue {
		p := Offline
		if m.avail[s] {
			p = Online
		}
		t := m.availTopic(s)
		pubs = append(pubs, pub{t, []byte(p)})
		m.published[t] = topicRecord{Topic: t, Node: m.node, Sensor: s}
	}
	clear(m.availDue)
	for s := range m.announce {
		for _, c := range m.discoveryLocked(s) {
			b, _ := json.Marshal(c.cfg)
			pubs = append(pubs, pub{c.topic, b})
			m.published[c.topic] = topicRecord{Topic: c.topic, Node: m.node, Sensor: s}
		}
	}
	clear(m.announce)
	at, ap := m.alertPubsLocked() // see alert.go
	for i := range at {
		pubs = append(pubs, pub{at[i], ap[i]})
	}
	m.mu.Unlock()
	toks := make([]paho.Token, len(pubs))
	for i, p := range pubs {
		toks[i] = m.client.Publish(p.topic, m.s.qos, true, p.payload)
	}
	for _, t := range toks {
		select {
		case <-t.Done():
		case <-m.stop:
			return
		case <-m.lost:
			if !m.isLost() { // stale: the connection is up
				if !t.WaitTimeout(20 * time.Second) {
					return
				}
				continue
			}
			select { // for deliver to see
			case m.lost <- struct{}{}:
			default:
			}
			return
		case <-time.After(20 * time.Second):
			return
		}
	}
	if len(pubs) > 0 || !m.cleaned {
		m.clearLeftovers()
	}
}

// availTopic is a sensor's availability topic.
func (m *MQTT) availTopic(sensor string) string {
	return m.s.prefix + "/" + m.device + "/" + topicSafe(sensor) + "/availability"
}

type entity struct {
	topic string
	cfg   discoveryConfig
}

// discoveryLocked returns the discovery configs of a sensor's values.
// m.mu must be held.
func (m *MQTT) discoveryLocked(sensor string) []entity {
	gap, ok := m.sensors[sensor]
	if !ok {
		gap = 10 * time.Second
	}
	base := m.s.prefix + "/" + m.device + "/" + topicSafe(sensor)
	var out []entity
	for _, v := range m.values[sensor] {
		object := objectID(sensor, v.Name)
		platform := "sensor"
		if m.binary[sensor] {
			platform = "binary_sensor"
		}
		c := discoveryConfig{
			Name:            sensor + " " + strings.ReplaceAll(v.Name, "_", " "),
			UniqueID:        "sensorcast_" + m.node + "_" + object,
			DefaultEntityID: platform + "." + entitySlug(m.node, sensor, v.Name),
			Availability: []availabilityConfig{
				{Topic: m.statusTopic},
				{Topic: m.availTopic(sensor)},
			},
			AvailabilityMode: "all",
			ExpireAfter:      expireAfter(gap),
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
		h := m.ha[sensor][v.Name]
		if platform == "binary_sensor" {
			c.PayloadOn, c.PayloadOff = "1", "0"
			c.DeviceClass = binaryClass(v.Name)
		} else {
			c.DeviceClass, c.Unit = deviceClass(v.Name, v.Unit)
			c.StateClass = "measurement"
			if v.Name == "uptime" {
				c.StateClass = "total_increasing" // falls back to 0 at a reboot: a reset
			}
			c.Precision = precision(v.Name, v.Unit)
			if diagnostic(v.Name) {
				c.EntityCategory = "diagnostic"
			}
		}
		if h.DeviceClass != "" {
			c.DeviceClass = h.DeviceClass
			if h.DeviceClass == "none" {
				c.DeviceClass = ""
			}
		}
		if h.EntityCategory != "" {
			c.EntityCategory = h.EntityCategory
			if h.EntityCategory == "none" {
				c.EntityCategory = ""
			}
		}
		if h.Icon != "" {
			c.Icon = h.Icon
		}
		if h.Precision != nil && platform == "sensor" {
			c.Precision = h.Precision
		}
		if m.s.json {
			b, _ := json.Marshal(v.Name)
			c.StateTopic = base
			c.ValueTemplate = "{{ value_json['values'][" + string(b) + "].v }}"
			// Home Assistant takes a state's time as its arrival: readings
			// sent late (after an outage) carry their own as an attribute.
			c.JSONAttrsTopic = base
			c.JSONAttrsTemplate = "{{ {'time': value_json.time} | tojson }}"
		} else {
			c.StateTopic = base + "/" + topicSafe(v.Name)
			c.ValueTemplate = "{{ value }}"
		}
		out = append(out, entity{m.s.discoveryPrefix + "/" + platform + "/" + m.node + "/" + object + "/config", c})
	}
	return out
}

// onHAStatus re-announces every entity, after a random delay of up to a
// second so that many nodes do not answer at once, when Home Assistant
// says it is online (it has restarted and forgotten them).
func (m *MQTT) onHAStatus(_ paho.Client, msg paho.Message) {
	if string(msg.Payload()) != Online {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.haTimer != nil {
		m.haTimer.Stop()
	}
	m.haTimer = time.AfterFunc(100*time.Millisecond+rand.N(900*time.Millisecond), func() {
		m.mu.Lock()
		for s := range m.values {
			m.announce[s] = true
		}
		m.alerts.announce = m.s.discovery && len(m.alerts.names) > 0
		m.mu.Unlock()
		m.poke()
	})
}

// onOldConfig clears a retained discovery config of this node whose sensor
// is no longer configured, so Home Assistant removes the entity.
func (m *MQTT) onOldConfig(_ paho.Client, msg paho.Message) {
	if len(msg.Payload()) == 0 {
		return
	}
	var c struct {
		StateTopic string `json:"state_topic"`
	}
	base := m.s.prefix + "/" + m.device + "/"
	stale := true
	if err := json.Unmarshal(msg.Payload(), &c); err == nil {
		if rest, ok := strings.CutPrefix(c.StateTopic, base); ok {
			sensor, _, _ := strings.Cut(rest, "/")
			m.mu.Lock()
			if m.isAlertConfigLocked(c.StateTopic) {
				stale = false
			}
			for name := range m.sensors {
				if topicSafe(name) == sensor {
					stale = !m.currentLocked(name, msg.Topic())
				}
			}
			for name := range m.values {
				if _, configured := m.sensors[name]; !configured && topicSafe(name) == sensor {
					stale = !m.currentLocked(name, msg.Topic())
				}
			}
			m.mu.Unlock()
		}
	}
	if stale {
		m.log.Info("mqtt: clearing the discovery config of a removed sensor", "topic", msg.Topic())
		m.client.Publish(msg.Topic(), 1, true, []byte{})
	}
}

// String describes the bridge for logs, without secrets.
func (m *MQTT) String() string {
	return fmt.Sprintf("mqtt bridge to %s as %s", m.s.broker.Redacted(), m.s.clientID)
}

// unreachable reports whether a connect error means that the broker could
// not be reached at all (refused, timed out, reset) or that the attempt
// came too early, as opposed to a refused login or TLS handshake.
func unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF) {
		return true
	}
	// paho wraps dial errors in a string: "network Error : dial tcp …";
	// a connect that races paho's own teardown of the lost connection
	// fails on its state machine, and the next attempt goes through.
	msg := err.Error()
	return strings.Contains(msg, "network Error : dial") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "status can only transition to connecting from disconnected")
}
