package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// sensorDef is one simulated sensor: its name and values, as a real node's
// drivers give them.
type sensorDef struct {
	name   string
	values []reading.Value // Milli is the base value
}

// sensorSet is the sensors a simulated node has, in order; a node with S
// sensors has the first S (S > len repeats them with a number).
var sensorSet = []sensorDef{
	{"bme280", []reading.Value{{Name: "temperature", Unit: "°C", Milli: 21375}, {Name: "humidity", Unit: "%", Milli: 48250}, {Name: "pressure", Unit: "hPa", Milli: 1013250}}},
	{"ds18b20", []reading.Value{{Name: "temperature", Unit: "°C", Milli: 18500}}},
	{"bh1750", []reading.Value{{Name: "illuminance", Unit: "lx", Milli: 350000}}},
	{"ina219", []reading.Value{{Name: "voltage", Unit: "V", Milli: 5120}, {Name: "current", Unit: "A", Milli: 640}, {Name: "power", Unit: "W", Milli: 3277}}},
	{"host", []reading.Value{{Name: "cpu_temp", Unit: "°C", Milli: 48200}, {Name: "load1", Unit: "", Milli: 230}, {Name: "mem_available", Unit: "MiB", Milli: 23513523}, {Name: "uptime", Unit: "s", Milli: 2602710}}},
}

// sensorsOf returns the S sensors of a simulated node.
func sensorsOf(s int) []sensorDef {
	out := make([]sensorDef, s)
	for i := range out {
		d := sensorSet[i%len(sensorSet)]
		if i >= len(sensorSet) {
			d.name = fmt.Sprintf("%s_%d", d.name, i/len(sensorSet))
		}
		out[i] = d
	}
	return out
}

// nodeName is the device name of simulated node i.
func nodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

// infoPayload is node i's retained info message, as bridge.MQTT publishes it.
func infoPayload(i int, sensors []sensorDef, interval time.Duration) []byte {
	in := bridge.Info{Type: "info", Device: nodeName(i), Version: "bench", Sensors: []bridge.InfoSensor{}}
	for _, s := range sensors {
		is := bridge.InfoSensor{Sensor: s.name, IntervalMS: interval.Milliseconds(), MaxGapMS: 3 * interval.Milliseconds()}
		for _, v := range s.values {
			is.Values = append(is.Values, bridge.InfoValue{Name: v.Name, Unit: string(v.Unit)})
		}
		in.Sensors = append(in.Sensors, is)
	}
	b, _ := json.Marshal(in) // strings and numbers only
	return b
}

// appendReading appends the reading message of sensor s of node i at t,
// with values that wander a little with k (the reading's count).
func appendReading(dst []byte, r *reading.Reading, i int, s *sensorDef, t time.Time, k int64) []byte {
	r.Reset(nodeName(i), s.name, t)
	for j, v := range s.values {
		wobble := int64(math.Round(100 * math.Sin(float64(k+int64(i)+int64(j))/7)))
		_ = r.Add(v.Name, v.Unit, v.Milli+wobble)
	}
	return r.AppendJSON(dst)
}

// slot is one (node, sensor) pair on a publisher connection, due at offset
// within every interval.
type slot struct {
	node   int
	sensor int
	offset time.Duration
	topic  string
}

// Publisher publishes as N simulated nodes over a few MQTT connections,
// each reading at its own fixed offset within the interval so that the
// load is spread evenly. It records how late each publish was against its
// schedule, and the count and ts range of what it published.
type Publisher struct {
	o       *Options
	sensors []sensorDef
	clients []paho.Client
	slots   [][]slot

	published atomic.Int64
	lateMu    sync.Mutex
	late      Hist // publish time − scheduled time, ms

	winMu          sync.Mutex
	winFrom, winTo int64 // ts range counted, Unix ms
	inWindow       int64

	stopped atomic.Bool
	wg      sync.WaitGroup
}

func newPublisher(o *Options, broker string) (*Publisher, error) {
	p := &Publisher{o: o, sensors: sensorsOf(o.Sensors)}
	conns := o.Conns
	if conns <= 0 || conns > o.Nodes {
		conns = o.Nodes
	}
	for c := range conns {
		po := paho.NewClientOptions().AddBroker("tcp://" + broker).
			SetClientID(fmt.Sprintf("fleetload-%d-%d", time.Now().UnixNano()%1e6, c)).
			SetCleanSession(true).SetAutoReconnect(false).SetKeepAlive(60 * time.Second).
			SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
		cl := paho.NewClient(po)
		t := cl.Connect()
		if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			p.close()
			return nil, fmt.Errorf("publisher connection %d: %v", c, t.Error())
		}
		p.clients = append(p.clients, cl)
	}
	// Slot k = node×S + sensor is due at k/total of the interval; node i
	// publishes over connection i mod conns (a connection carries whole
	// nodes, as one node's connection would).
	total := o.Nodes * o.Sensors
	p.slots = make([][]slot, conns)
	for i := range o.Nodes {
		for s := range p.sensors {
			k := i*o.Sensors + s
			off := time.Duration(int64(o.Interval) * int64(k) / int64(total))
			c := i % conns
			p.slots[c] = append(p.slots[c], slot{node: i, sensor: s, offset: off,
				topic: o.Prefix + "/" + nodeName(i) + "/" + p.sensors[s].name})
		}
	}
	return p, nil
}

// Announce publishes every node's retained info and status (online), QoS 1,
// and waits for the broker to take them.
func (p *Publisher) Announce() error {
	var toks []paho.Token
	for i := range p.o.Nodes {
		cl := p.clients[i%len(p.clients)]
		base := p.o.Prefix + "/" + nodeName(i) + "/"
		toks = append(toks, cl.Publish(base+"info", 1, true, infoPayload(i, p.sensors, p.o.Interval)),
			cl.Publish(base+"status", 1, true, "online"))
	}
	for _, t := range toks {
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			return fmt.Errorf("announce: %v", t.Error())
		}
	}
	return nil
}

// Start starts the readings: every slot once per interval from now on.
func (p *Publisher) Start() {
	start := time.Now()
	for c := range p.clients {
		p.wg.Go(func() { p.run(c, start) })
	}
}

// run publishes connection c's slots on schedule. It sleeps until the
// next slot is due, then publishes every slot that is due; each publish's
// lateness is recorded.
func (p *Publisher) run(c int, start time.Time) {
	cl, slots := p.clients[c], p.slots[c]
	var (
		r   reading.Reading
		buf []byte
		lat Hist
	)
	defer func() {
		p.lateMu.Lock()
		p.late.Add(&lat)
		p.lateMu.Unlock()
	}()
	for period := int64(0); ; period++ {
		base := start.Add(time.Duration(period) * p.o.Interval)
		for _, s := range slots {
			due := base.Add(s.offset)
			if d := time.Until(due); d > 0 {
				time.Sleep(d) // at most the gap between two slots
			}
			if p.stopped.Load() {
				return
			}
			now := time.Now()
			lat.Record(now.Sub(due).Milliseconds())
			buf = appendReading(buf[:0], &r, s.node, &p.sensors[s.sensor], now, period)
			// The token is not awaited (a node's bridge does not wait
			// either); paho keeps the payload until it is written, so the
			// buffer is not reused.
			cl.Publish(s.topic, p.o.QoS, false, buf)
			buf = nil
			p.published.Add(1)
			p.count(now.UnixMilli())
		}
	}
}

// count notes one reading with ts ms for the window.
func (p *Publisher) count(ms int64) {
	p.winMu.Lock()
	if p.winTo > 0 && ms >= p.winFrom && ms < p.winTo {
		p.inWindow++
	}
	p.winMu.Unlock()
}

// setWindow counts from now on the readings with ts in [from, to).
func (p *Publisher) setWindow(from, to int64) {
	p.winMu.Lock()
	p.winFrom, p.winTo, p.inWindow = from, to, 0
	p.winMu.Unlock()
}

func (p *Publisher) windowCount() int64 {
	p.winMu.Lock()
	defer p.winMu.Unlock()
	return p.inWindow
}

// Lateness returns the histogram of publish lateness; call after Stop.
func (p *Publisher) Lateness() *Hist {
	p.lateMu.Lock()
	defer p.lateMu.Unlock()
	h := p.late
	return &h
}

// Stop stops the readings.
func (p *Publisher) Stop() {
	p.stopped.Store(true)
	p.wg.Wait()
}

func (p *Publisher) close() {
	p.Stop()
	for _, c := range p.clients {
		c.Disconnect(100)
	}
}
