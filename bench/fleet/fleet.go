// Package fleet measures `sensorcast fleet` at scale: a real Mosquitto on a
// loopback port, N simulated nodes publishing through it (each node's
// retained info and status, then a reading per sensor per interval, the
// real reading JSON with the publish time in "ts", spread evenly over the
// interval), and the real fleet binary with dashboard clients on its
// overview stream (/ws, every device's messages). For a window after a
// warm-up it records the end-to-end latency of every reading (arrival at a
// WebSocket client − ts), the fleet's CPU per message (utime+stime over the
// window / readings published in it), its RSS per device ((RSS at the end
// − RSS before the first node) / N), how many readings each client got,
// and how late the publisher was against its schedule.
//
// The floor is the same load with mosquitto_sub -t '<prefix>/#' as the
// only real consumer (its output to /dev/null), plus a Go MQTT subscriber
// that measures the broker's own latency.
//
// Everything runs on 127.0.0.1, on ports chosen at run time; every wait is
// bounded and every process started is stopped.
package fleet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorcast/sensorcast/bench/compare"
	"github.com/sensorcast/sensorcast/bench/loadgen"
)

// Mode is what consumes the load.
type Mode string

// The modes: the fleet with its dashboard clients, or the floor
// (mosquitto_sub to /dev/null and a latency probe).
const (
	ModeFleet Mode = "fleet"
	ModeFloor Mode = "floor"
)

// Options configures one step. Zero fields take the defaults in brackets.
type Options struct {
	Mode     Mode          // [ModeFleet]
	Bin      string        // the sensorcast binary; required for ModeFleet
	Nodes    int           // simulated nodes [1000]
	Sensors  int           // sensors per node [5]
	Interval time.Duration // between two readings of a sensor [1s]
	Clients  int           // WebSocket clients on /ws [50]
	Conns    int           // publisher MQTT connections; ≤ 0 or > Nodes: one per node [8]
	QoS      byte          // of the readings [1: a node's default]
	Prefix   string        // topic prefix ["sensorcast"]
	Warmup   time.Duration // after the readings start, before the window [10s]
	Window   time.Duration // measured [20s]
	Grace    time.Duration // after the window, for readings still in flight [2s]
	// Perf, when set, runs `perf record -g` on the fleet during the window
	// and writes perf.data there.
	Perf string
	Log  io.Writer // progress; nil for none
}

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeFleet
	}
	if o.Nodes <= 0 {
		o.Nodes = 1000
	}
	if o.Sensors <= 0 {
		o.Sensors = 5
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 50
	}
	if o.Conns == 0 {
		o.Conns = 8
	}
	if o.Prefix == "" {
		o.Prefix = "sensorcast"
	}
	if o.Warmup <= 0 {
		o.Warmup = 10 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 20 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Result is the measurement of one step.
type Result struct {
	Options Options
	// Published is the readings with a ts in the window; Received the
	// copies of them all receivers got (each client counts), MinReceived
	// the fewest one receiver got.
	Published, Received, MinReceived int64
	Receivers                        int
	Closed                           int  // receivers the server closed or that failed
	Latency                          Hist // arrival − ts of every copy received
	// Trend is the mean latency per second of the window (by ts).
	Trend []time.Duration
	// CPU of the consumer (the fleet, or mosquitto_sub), the broker and
	// this process over the window.
	CPU, BrokerCPU, SelfCPU time.Duration
	RSS0, RSS               int64 // the fleet's before the first node and at the end of the window
	Late                    Hist  // the publisher's lateness against its schedule
	Behind                  bool
	Why                     string // why it is judged behind
}

// PerMessage returns d divided by the readings published in the window.
func (r *Result) PerMessage(d time.Duration) time.Duration {
	if r.Published == 0 {
		return 0
	}
	return d / time.Duration(r.Published)
}

// RSSPerDevice returns (RSS − RSS0) / Nodes in bytes.
func (r *Result) RSSPerDevice() int64 { return (r.RSS - r.RSS0) / int64(r.Options.Nodes) }

// Delivered returns the share of the copies due that arrived.
func (r *Result) Delivered() float64 {
	due := r.Published * int64(r.Receivers)
	if due == 0 {
		return 0
	}
	return float64(r.Received) / float64(due)
}

// receiver records, for the readings with a ts in the window, the latency
// of each copy it gets. One goroutine (or one locked handler) owns it.
type receiver struct {
	from, to atomic.Int64 // the window, ts in Unix ms; to == 0: not yet
	hist     Hist
	n        int64
	sum, cnt []int64 // per second of the window
	failed   error
}

func newReceiver(window time.Duration) *receiver {
	secs := int(window/time.Second) + 1
	return &receiver{sum: make([]int64, secs), cnt: make([]int64, secs)}
}

func (r *receiver) record(ts, now int64) {
	from, to := r.from.Load(), r.to.Load()
	if to == 0 || ts < from || ts >= to {
		return
	}
	lat := now - ts
	r.hist.Record(lat)
	r.n++
	if i := int((ts - from) / 1000); i < len(r.sum) {
		r.sum[i] += lat
		r.cnt[i]++
	}
}

// tsOf extracts "ts" from a reading message; ok is false for any other
// message (hello, history, device, status…).
func tsOf(p []byte) (int64, bool) {
	const head = `{"type":"reading"`
	if len(p) < len(head) || string(p[:len(head)]) != head {
		return 0, false
	}
	s := string(p)
	i := strings.Index(s, `"ts":`)
	if i < 0 {
		return 0, false
	}
	j := i + 5
	k := j
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	n, err := strconv.ParseInt(s[j:k], 10, 64)
	return n, err == nil && n > 0
}

// ErrBadOptions reports options a step cannot run with.
var ErrBadOptions = errors.New("fleet bench: bad options")

// Run runs one step in dir (which it leaves behind, with the broker's and
// the fleet's logs) and returns its result.
func Run(dir string, o Options) (_ *Result, err error) {
	o = o.withDefaults()
	if o.Mode != ModeFleet && o.Mode != ModeFloor {
		return nil, fmt.Errorf("%w: mode %q", ErrBadOptions, o.Mode)
	}
	if o.Mode == ModeFleet && o.Bin == "" {
		return nil, fmt.Errorf("%w: no sensorcast binary", ErrBadOptions)
	}
	if o.QoS > 1 {
		return nil, fmt.Errorf("%w: qos %d (0 or 1)", ErrBadOptions, o.QoS)
	}
	if err := loadgen.RaiseFileLimit(); err != nil {
		return nil, err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(o.Log, "fleetload: "+f+"\n", a...) }
	res := &Result{Options: o}

	broker, baddr, err := startBroker(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		broker.stop()
		if err != nil {
			err = fmt.Errorf("%w\nmosquitto log:\n%s", err, tail(broker.logText(), 2000))
		}
	}()

	var (
		consumer *proc
		recvs    []*receiver
		stopRecv func()
	)
	switch o.Mode {
	case ModeFleet:
		fl, addr, err := startFleet(o.Bin, dir, baddr, o.Prefix, o.Clients)
		if err != nil {
			return nil, err
		}
		consumer = fl
		defer func() {
			fl.stop()
			os.WriteFile(filepath.Join(dir, "fleet.log"), []byte(fl.logText()), 0o644)
		}()
		conns, err := loadgen.DialN(addr, "/ws", o.Clients)
		if err != nil {
			return nil, fmt.Errorf("dial /ws: %w", err)
		}
		recvs, stopRecv = readWS(conns, o.Window)
		defer stopRecv()
		time.Sleep(time.Second)
		if res.RSS0, err = rss(fl.cmd.Process.Pid); err != nil {
			return nil, err
		}
		logf("fleet on %s, %d clients on /ws, RSS %.1f MiB", addr, o.Clients, float64(res.RSS0)/(1<<20))
	case ModeFloor:
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		defer null.Close()
		cmd := exec.Command(MosquittoSub, "-h", "127.0.0.1", "-p", baddr[strings.LastIndexByte(baddr, ':')+1:], "-t", o.Prefix+"/#")
		cmd.Stdout = null // > /dev/null
		sub, err := startProc("mosquitto_sub", cmd, nil)
		if err != nil {
			return nil, err
		}
		consumer = sub
		defer sub.stop()
		r, stop, err := probe(baddr, o.Prefix, o.Window)
		if err != nil {
			return nil, err
		}
		recvs, stopRecv = []*receiver{r}, stop
		defer stopRecv()
	}

	pub, err := newPublisher(&o, baddr)
	if err != nil {
		return nil, err
	}
	defer pub.close()
	if err := pub.Announce(); err != nil {
		return nil, err
	}
	pub.Start()
	logf("%s: %d nodes × %d sensors every %v (%d msg/s) over %d connections, QoS %d; warm-up %v",
		o.Mode, o.Nodes, o.Sensors, o.Interval, int64(float64(o.Nodes*o.Sensors)/o.Interval.Seconds()), len(pub.clients), o.QoS, o.Warmup)
	time.Sleep(o.Warmup)
	if consumer.exited() {
		return nil, fmt.Errorf("%s exited during the warm-up:\n%s", consumer.name, tail(consumer.logText(), 2000))
	}

	from := time.Now().UnixMilli() + 1
	to := from + o.Window.Milliseconds()
	pub.setWindow(from, to)
	for _, r := range recvs {
		r.from.Store(from)
		r.to.Store(to)
	}
	var perf *exec.Cmd
	if o.Perf != "" && o.Mode == ModeFleet {
		perf = exec.Command("perf", "record", "-F", "499", "-g", "-o", filepath.Join(o.Perf, "perf.data"),
			"-p", strconv.Itoa(consumer.cmd.Process.Pid), "--", "sleep", strconv.Itoa(int(o.Window.Seconds())))
		perf.Stdout, perf.Stderr = o.Log, o.Log
		if err := perf.Start(); err != nil {
			logf("perf: %v", err)
			perf = nil
		}
	}
	cpu := func() (c, b, s time.Duration, err error) {
		if c, err = compare.PidCPU(consumer.cmd.Process.Pid); err != nil {
			return
		}
		if b, err = compare.PidCPU(broker.cmd.Process.Pid); err != nil {
			return
		}
		s, err = compare.PidCPU(os.Getpid())
		return
	}
	c0, b0, s0, err := cpu()
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Until(time.UnixMilli(to)))
	c1, b1, s1, err := cpu()
	if err != nil {
		return nil, err
	}
	res.CPU, res.BrokerCPU, res.SelfCPU = c1-c0, b1-b0, s1-s0
	if o.Mode == ModeFleet {
		if res.RSS, err = rss(consumer.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if perf != nil {
		_ = perf.Wait()
	}
	time.Sleep(o.Grace)
	pub.Stop()
	stopRecv()
	res.Published = pub.windowCount()
	res.Late = *pub.Lateness()
	res.Receivers = len(recvs)
	res.MinReceived = -1
	secs := int(o.Window / time.Second)
	sum, cnt := make([]int64, secs), make([]int64, secs)
	for _, r := range recvs {
		res.Latency.Add(&r.hist)
		res.Received += r.n
		if res.MinReceived < 0 || r.n < res.MinReceived {
			res.MinReceived = r.n
		}
		if r.failed != nil {
			res.Closed++
			logf("receiver: %v", r.failed)
		}
		for i := range secs {
			sum[i] += r.sum[i]
			cnt[i] += r.cnt[i]
		}
	}
	for i := range secs {
		if cnt[i] > 0 {
			res.Trend = append(res.Trend, time.Duration(sum[i])*time.Millisecond/time.Duration(cnt[i]))
		}
	}
	res.Behind, res.Why = judge(res)
	return res, nil
}

// Judgement bounds: a step is behind when a receiver got fewer than
// MinDelivered of the readings, p99 passed MaxP99, the mean latency of the
// window's last quarter exceeds its first quarter's by MaxGrowth, or a
// receiver was closed (the server's slow-consumer close).
var (
	MinDelivered = 0.99
	MaxP99       = time.Second
	MaxGrowth    = 250 * time.Millisecond
)

func judge(r *Result) (bool, string) {
	var why []string
	if r.Published == 0 {
		why = append(why, "nothing published in the window")
	}
	if r.Published > 0 && float64(r.MinReceived) < MinDelivered*float64(r.Published) {
		why = append(why, fmt.Sprintf("a receiver got %d of %d readings", r.MinReceived, r.Published))
	}
	if p := r.Latency.Quantile(0.99); p > MaxP99 {
		why = append(why, fmt.Sprintf("p99 %v > %v", p, MaxP99))
	}
	if n := len(r.Trend) / 4; n > 0 {
		var a, b time.Duration
		for i := range n {
			a += r.Trend[i]
			b += r.Trend[len(r.Trend)-1-i]
		}
		if g := (b - a) / time.Duration(n); g > MaxGrowth {
			why = append(why, fmt.Sprintf("latency grew by %v over the window", g))
		}
	}
	if r.Closed > 0 {
		why = append(why, fmt.Sprintf("%d receivers closed", r.Closed))
	}
	return len(why) > 0, strings.Join(why, "; ")
}

// readWS reads every connection in a goroutine of its own until stop.
func readWS(conns []*loadgen.Conn, window time.Duration) ([]*receiver, func()) {
	recvs := make([]*receiver, len(conns))
	var (
		wg      sync.WaitGroup
		stopped atomic.Bool
	)
	for i, c := range conns {
		r := newReceiver(window)
		recvs[i] = r
		wg.Go(func() {
			buf := make([]byte, 16<<20)
			for {
				op, p, err := c.ReadFrame(buf)
				now := time.Now().UnixMilli()
				if err != nil || op == loadgen.OpClose {
					if !stopped.Load() {
						r.failed = fmt.Errorf("client %d: closed by the server (%v)", i, err)
					}
					return
				}
				if ts, ok := tsOf(p); ok {
					r.record(ts, now)
				}
			}
		})
	}
	var once sync.Once
	return recvs, func() {
		once.Do(func() {
			stopped.Store(true)
			loadgen.CloseAll(conns)
			wg.Wait()
		})
	}
}

// probe subscribes to prefix/# at QoS 1 (as the fleet does) and records
// the latency of every reading: the broker's own share.
func probe(broker, prefix string, window time.Duration) (*receiver, func(), error) {
	r := newReceiver(window)
	var mu sync.Mutex
	po := paho.NewClientOptions().AddBroker("tcp://" + broker).
		SetClientID(fmt.Sprintf("fleetload-probe-%d", time.Now().UnixNano()%1e6)).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(true)
	cl := paho.NewClient(po)
	if t := cl.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		return nil, nil, fmt.Errorf("probe connect: %v", t.Error())
	}
	t := cl.Subscribe(prefix+"/#", 1, func(_ paho.Client, m paho.Message) {
		now := time.Now().UnixMilli()
		if ts, ok := tsOf(m.Payload()); ok {
			mu.Lock()
			r.record(ts, now)
			mu.Unlock()
		}
	})
	if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		cl.Disconnect(0)
		return nil, nil, fmt.Errorf("probe subscribe: %v", t.Error())
	}
	var once sync.Once
	return r, func() {
		once.Do(func() {
			cl.Disconnect(100)
			mu.Lock() // no handler runs past this point
			defer mu.Unlock()
			r.to.Store(0)
		})
	}, nil
}

// rss returns the resident set size of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n << 10, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
