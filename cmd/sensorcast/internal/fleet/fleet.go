// Package fleet mirrors many sensorcast nodes from the MQTT broker they
// publish to, for `sensorcast fleet`: one page for every node, scaled out
// through the broker rather than through a clustering of our own.
//
// Every device gets a hub.Hub of its own, created at its first message: the
// hub already puts the device's name on every message it encodes, keeps the
// history rings with a node's limits, answers the API and opens WebSocket
// clients at a consistent snapshot. One hub per device (rather than one hub
// carrying a device per message) keeps the hub and the wire format as they
// are, bounds each device's memory by the same rules as a node's, and lets
// a device's page connect to its own stream with the node's unchanged code.
// The overview stream carries every device's messages (Options.Overview,
// keyed per device and sensor so a slow client skips only superseded
// readings) and a "device" message per device (online, name, version, URL).
//
// Every change to any hub is made under the fleet's lock, so the overview's
// snapshot (Fleet.Snapshot) is consistent across devices: a client joins
// the overview at the exact state it was sent.
//
// Topics, under the prefix: <device>/<sensor> (a reading message),
// <device>/status (online/offline, the node's Last Will),
// <device>/info (the node's retained self-description),
// <device>/<sensor>/availability (online/offline). Payloads that do not
// parse, payloads over Options.MaxPayload and topics of another shape are
// counted (Stats) and logged at most once per LogEvery per kind; none is
// fatal.
//
// The package imports the hub, the reading type and paho only: the
// WebSocket server and the HTTP side are wired in by cmd/sensorcast.
package fleet

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Defaults of Options.
const (
	DefaultPrefix     = "sensorcast"
	DefaultMaxPayload = 64 << 10
	DefaultMaxDevices = 10000
	DefaultOverview   = 15 * time.Minute
	DefaultLogEvery   = time.Minute
)

// Options configures a Fleet. The zero value of each field is its default.
type Options struct {
	Prefix     string             // the nodes' topic prefix; default "sensorcast"
	History    hub.HistoryOptions // each device's history, as a node's
	Prepare    hub.PrepareFunc    // for the devices' hubs (ws.NewPrepared)
	Version    string             // shown for a device that has not announced itself: ""
	MaxPayload int                // larger payloads are counted and dropped; default 64 KiB
	MaxDevices int                // devices beyond are counted and dropped; default 10000
	// Overview receives every message for the overview stream: each
	// device's readings (keyed uniquely across devices), statuses and
	// device messages (key 0). nil: none.
	Overview hub.FrameSink
	// OverviewHistory is how far back the overview's snapshot reaches for
	// the tiles' sparklines. Default 15 min.
	OverviewHistory time.Duration
	// Backfill, when set, is asked for the history of a device whose info
	// message gives a dashboard URL, once per device: see Backfiller.
	Backfill *Backfiller
	Logger   *slog.Logger
	LogEvery time.Duration // least time between two log lines of one kind of bad message; default 1 min
	Now      func() time.Time
}

// Stats counts what the fleet received.
type Stats struct {
	Messages       uint64 // every message handled
	Readings       uint64 // readings taken
	Malformed      uint64 // payloads that did not parse
	Oversized      uint64 // payloads over MaxPayload
	Unknown        uint64 // topics of no known shape
	Refused        uint64 // messages of devices beyond MaxDevices
	Backfilled     uint64 // history points taken from nodes' /api/history
	BackfillErrors uint64
	Devices        int
}

// Fleet is the mirrored state of every device. It is safe for concurrent use.
type Fleet struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	devices map[string]*device
	order   []*device
	msg     []byte // scratch for device messages
	rd      reading.Reading

	messages, readings, malformed, oversized, unknown, refused atomic.Uint64
	backfilled, backfillErrors                                 atomic.Uint64

	lmu    sync.Mutex
	logged map[string]*logState

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type logState struct {
	at         time.Time
	suppressed int
}

// device is one node as the fleet sees it; f.mu guards it.
type device struct {
	id       string // the topic's device segment: unique on the broker
	idx      int    // from 1, in order of first message
	hub      *hub.Hub
	info     *Info
	infoRaw  []byte
	online   int8 // 1 online, -1 offline, 0 not said
	lastSeen time.Time
	names    map[string]string // topic-safe sensor name → sensor name
	sink     devSink
	backfill bool // asked once
}

// devSink is a device hub's FrameSink: the device's own stream, when one
// is attached, and the overview, with keys unique across devices.
type devSink struct {
	f    *Fleet
	base uint64
	own  atomic.Pointer[frameBox]
}

type frameBox struct{ s hub.FrameSink }

func (d *devSink) BroadcastKey(key uint64, p []byte) int {
	n := 0
	if b := d.own.Load(); b != nil {
		n += b.s.BroadcastKey(key, p)
	}
	if o := d.f.o.Overview; o != nil {
		k := key
		if k != 0 {
			k |= d.base
		}
		n += o.BroadcastKey(k, p)
	}
	return n
}

// New returns an empty Fleet.
func New(o *Options) *Fleet {
	f := &Fleet{o: *o, devices: make(map[string]*device), logged: make(map[string]*logState)}
	if f.o.Prefix == "" {
		f.o.Prefix = DefaultPrefix
	}
	if f.o.MaxPayload <= 0 {
		f.o.MaxPayload = DefaultMaxPayload
	}
	if f.o.MaxDevices <= 0 {
		f.o.MaxDevices = DefaultMaxDevices
	}
	if f.o.OverviewHistory <= 0 {
		f.o.OverviewHistory = DefaultOverview
	}
	if f.o.LogEvery <= 0 {
		f.o.LogEvery = DefaultLogEvery
	}
	if f.o.Now == nil {
		f.o.Now = time.Now
	}
	f.log = f.o.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// Close stops the backfills in flight and waits for them.
func (f *Fleet) Close() {
	f.cancel()
	f.wg.Wait()
}

// Prefix returns the topic prefix the fleet reads.
func (f *Fleet) Prefix() string { return f.o.Prefix }

// Stats returns the fleet's counts.
func (f *Fleet) Stats() Stats {
	f.mu.Lock()
	n := len(f.order)
	f.mu.Unlock()
	return Stats{
		Messages: f.messages.Load(), Readings: f.readings.Load(), Malformed: f.malformed.Load(),
		Oversized: f.oversized.Load(), Unknown: f.unknown.Load(), Refused: f.refused.Load(),
		Backfilled: f.backfilled.Load(), BackfillErrors: f.backfillErrors.Load(), Devices: n,
	}
}

// bad counts and logs, rate-limited per kind, one message not taken.
func (f *Fleet) bad(kind string, c *atomic.Uint64, topic string, size int, err error) {
	c.Add(1)
	f.lmu.Lock()
	st := f.logged[kind]
	if st == nil {
		st = &logState{}
		f.logged[kind] = st
	}
	now := f.o.Now()
	if !st.at.IsZero() && now.Sub(st.at) < f.o.LogEvery {
		st.suppressed++
		f.lmu.Unlock()
		return
	}
	sup := st.suppressed
	st.at, st.suppressed = now, 0
	f.lmu.Unlock()
	args := []any{"kind", kind, "topic", truncate(topic, 200), "bytes", size, "not_logged_since_last", sup}
	if err != nil {
		args = append(args, "err", err)
	}
	f.log.Warn("fleet: message dropped", args...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Handle takes one MQTT message. It never fails: what it cannot use is
// counted and logged.
func (f *Fleet) Handle(topic string, payload []byte) {
	f.messages.Add(1)
	if len(payload) > f.o.MaxPayload {
		f.bad("oversized", &f.oversized, topic, len(payload), fmt.Errorf("over %d bytes", f.o.MaxPayload))
		return
	}
	rest, ok := strings.CutPrefix(topic, f.o.Prefix+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") ||
		len(parts) == 3 && parts[2] != "availability" {
		f.bad("unknown-topic", &f.unknown, topic, len(payload), nil)
		return
	}
	if len(payload) == 0 { // a retained message cleared: nothing to show
		return
	}
	id := parts[0]
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(parts) == 3:
		f.availability(id, parts[1], topic, payload)
	case parts[1] == "status" && (string(payload) == "online" || string(payload) == "offline"):
		d := f.device(id, topic, len(payload))
		if d == nil {
			return
		}
		d.online = 1
		if string(payload) == "offline" {
			d.online = -1
		}
		d.lastSeen = f.o.Now()
		f.broadcastDevice(d)
	case parts[1] == "info" && bytes.Contains(payload, []byte(`"info"`)):
		in, err := parseInfo(payload)
		if err != nil {
			f.bad("malformed-info", &f.malformed, topic, len(payload), err)
			return
		}
		d := f.device(id, topic, len(payload))
		if d == nil {
			return
		}
		f.setInfo(d, in, payload)
	default:
		if err := parseReading(payload, &f.rd); err != nil {
			f.bad("malformed-reading", &f.malformed, topic, len(payload), err)
			return
		}
		d := f.device(id, topic, len(payload))
		if d == nil {
			return
		}
		f.rd.Device = id
		d.names[parts[1]] = f.rd.Sensor
		d.lastSeen = f.o.Now()
		d.hub.Publish(&f.rd)
		f.readings.Add(1)
	}
}

// device returns the device id, creating it; nil when there are
// MaxDevices already. f.mu must be held.
func (f *Fleet) device(id, topic string, size int) *device {
	if d := f.devices[id]; d != nil {
		return d
	}
	if len(f.order) >= f.o.MaxDevices {
		f.bad("too-many-devices", &f.refused, topic, size, fmt.Errorf("already %d devices", f.o.MaxDevices))
		return nil
	}
	d := &device{id: id, idx: len(f.order) + 1, names: make(map[string]string)}
	d.sink.f = f
	d.sink.base = uint64(d.idx) << 24
	d.hub = hub.New(&hub.Options{
		Device: id, Version: f.o.Version, Frames: &d.sink, Prepare: f.o.Prepare, History: f.o.History,
	})
	f.devices[id] = d
	f.order = append(f.order, d)
	f.broadcastDevice(d)
	return d
}

func (f *Fleet) availability(id, sensorSeg, topic string, payload []byte) {
	var ok bool
	switch string(payload) {
	case "online":
		ok = true
	case "offline":
	default:
		f.bad("malformed-availability", &f.malformed, topic, len(payload), fmt.Errorf("payload %.20q: want online or offline", payload))
		return
	}
	d := f.device(id, topic, len(payload))
	if d == nil {
		return
	}
	name := d.names[sensorSeg]
	if name == "" {
		name = sensorSeg
	}
	st := hub.Status{Sensor: name, OK: ok, Time: f.o.Now()}
	if !ok {
		st.Err = "the node reports this sensor failing"
		st.Failures, st.Consecutive = 1, 1
	}
	d.hub.SetStatus(st)
}

func (f *Fleet) setInfo(d *device, in *Info, raw []byte) {
	d.info = in
	d.infoRaw = append(d.infoRaw[:0], raw...)
	d.lastSeen = f.o.Now()
	infos := make([]hub.SensorInfo, len(in.Sensors))
	for i, s := range in.Sensors {
		infos[i] = hub.SensorInfo{Name: s.Sensor, Interval: time.Duration(s.IntervalMS) * time.Millisecond,
			MaxGap: time.Duration(s.MaxGapMS) * time.Millisecond}
		d.names[topicSafe(s.Sensor)] = s.Sensor
	}
	d.hub.SetInfo(in.Version, infos)
	f.broadcastDevice(d)
	if f.o.Backfill != nil && !d.backfill && in.URL != "" {
		d.backfill = true
		url, h := in.URL, d.hub
		f.wg.Go(func() { f.runBackfill(d.id, url, h) })
	}
}

// topicSafe is the bridge's rule for names in topics.
func topicSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', ' ':
			return '_'
		}
		return r
	}, s)
}

// appendDevice appends the device message. f.mu must be held.
func (f *Fleet) appendDevice(dst []byte, d *device) []byte {
	dst = append(dst, `{"type":"device","device":`...)
	dst = reading.AppendString(dst, d.id)
	dst = append(dst, `,"online":`...)
	switch d.online {
	case 1:
		dst = append(dst, "true"...)
	case -1:
		dst = append(dst, "false"...)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"seen":`...)
	if d.lastSeen.IsZero() {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, d.lastSeen.UnixMilli(), 10)
	}
	name, version, url := d.id, "", ""
	if d.info != nil {
		if d.info.Device != "" {
			name = d.info.Device
		}
		version, url = d.info.Version, d.info.URL
	}
	dst = append(dst, `,"name":`...)
	dst = reading.AppendString(dst, name)
	dst = append(dst, `,"version":`...)
	dst = reading.AppendString(dst, version)
	dst = append(dst, `,"url":`...)
	dst = reading.AppendString(dst, url)
	dst = append(dst, `,"announced":`...)
	dst = strconv.AppendBool(dst, d.info != nil)
	return append(dst, '}')
}

func (f *Fleet) broadcastDevice(d *device) {
	if f.o.Overview == nil {
		return
	}
	f.msg = f.appendDevice(f.msg[:0], d)
	f.o.Overview.BroadcastKey(0, f.msg)
}

// Hub returns the hub of device id, or nil if the fleet has not seen it.
func (f *Fleet) Hub(id string) *hub.Hub {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.devices[id]; d != nil {
		return d.hub
	}
	return nil
}

// Attach makes s receive every message of device id's hub (its own
// stream), creating the device if needed (nil when there are MaxDevices).
// It returns the hub.
func (f *Fleet) Attach(id string, s hub.FrameSink) *hub.Hub {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devices[id]
	if d == nil {
		return nil
	}
	if d.sink.own.Load() == nil {
		d.sink.own.Store(&frameBox{s})
	}
	return d.hub
}

// AppendDevices appends the JSON of GET /api/devices: {"devices":[{"device",
// "name","online","seen","version","url","announced","sensors","failing",
// "info"}]}, in order of first message; info is the device's info message
// or null, failing the names of its failing sensors.
func (f *Fleet) AppendDevices(dst []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst = append(dst, `{"devices":[`...)
	var states []hub.SensorState
	for i, d := range f.order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dev := f.appendDevice(nil, d)
		dst = append(dst, dev[:len(dev)-1]...)
		states = d.hub.AppendStates(states[:0])
		dst = append(dst, `,"sensors":`...)
		dst = strconv.AppendInt(dst, int64(len(states)), 10)
		dst = append(dst, `,"failing":[`...)
		n := 0
		for _, s := range states {
			if !s.OK {
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = reading.AppendString(dst, s.Name)
				n++
			}
		}
		dst = append(dst, `],"info":`...)
		if d.infoRaw == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, d.infoRaw...)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// recorder is a hub.Client that keeps what a hub's Snapshot sends, for
// the overview's snapshot; it takes the history from hist instead.
type recorder struct {
	msgs [][]byte
	hist []byte
}

func (r *recorder) Join()                           {}
func (r *recorder) Subprotocol() string             { return "" }
func (r *recorder) SendPrepared(hub.Prepared) error { r.msgs = append(r.msgs, r.hist); return nil }
func (r *recorder) Send(p []byte) error {
	r.msgs = append(r.msgs, append([]byte(nil), p...))
	return nil
}

// Snapshot opens an overview client c: for every device, its device
// message, then its hello, its history of the last OverviewHistory, its
// latest readings and its statuses (each device's snapshot as a node's,
// with a shorter history); c joins the overview under the fleet's lock, so
// it then receives every later message, none twice.
func (f *Fleet) Snapshot(c hub.Client) error {
	var msgs [][]byte
	f.mu.Lock()
	since := f.o.Now().Add(-f.o.OverviewHistory)
	for _, d := range f.order {
		msgs = append(msgs, f.appendDevice(nil, d))
		r := &recorder{hist: d.hub.AppendHistory(nil, "", since)}
		if err := d.hub.Snapshot(r); err != nil {
			f.mu.Unlock()
			return err
		}
		msgs = append(msgs, r.msgs...)
	}
	c.Join()
	f.mu.Unlock()
	for _, m := range msgs {
		if err := c.Send(m); err != nil {
			return fmt.Errorf("fleet: overview snapshot: %w", err)
		}
	}
	return nil
}

// Backfiller fetches a node's recent history from its /api/history.
type Backfiller struct {
	Token   string       // sent as Authorization: Bearer; "" for none
	Client  *http.Client // default: one with a 10 s timeout
	MaxBody int64        // default 32 MiB
}
