// Package storm measures a reconnect storm against the real sensorcast
// binary: many dashboards opening the page at once (a Wi-Fi blip) while the
// history is full. For one binary, Run starts it on 127.0.0.1 with the
// default sensors (sim and host, sim read twice as often as host, as in the
// default configuration) at short intervals and a history of the default
// size (3600 points per value) over a correspondingly short window, so that
// "a full hour of history" fills in seconds; waits until the history is
// full; connects one watcher client that records the arrival of every sim
// reading; then, for each kind of client (dashboards offering the
// sensorcast.gzip subprotocol, and plain-text clients), runs Storms storms
// of Clients connections opened at once, each reading its snapshot (hello,
// history, the latest reading of every sensor) and disconnecting, followed
// by an idle window of the same length. It reports the bytes received per
// page open, the server's CPU time for the storms minus that of the idle
// window, and the longest gap between consecutive sim readings at the
// watcher, minus the interval, during the storms and during the idle window
// (a stalled Publish shows there).
//
// Everything runs on loopback, on ports chosen at run time, and every wait
// is bounded.
package storm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
	"github.com/sensorcast/sensorcast/bench/loadgen"
)

// GzipSubprotocol is the subprotocol with which the dashboard asks for a
// gzipped history.
const GzipSubprotocol = "sensorcast.gzip"

// Options configures Run. Zero fields take the defaults in brackets.
type Options struct {
	Clients  int           // connections per storm [100]
	Storms   int           // storms per kind of client [10]
	Pause    time.Duration // after each storm, before the next [1s]
	Interval time.Duration // sim's interval; host's is twice it [10ms]
	Window   time.Duration // -history-window [36s: Points × Interval]
	Points   int           // -history-points [3600]
	// FillTimeout bounds the wait for a full history [3 × Window + 30s].
	FillTimeout time.Duration
	// OpenTimeout bounds one page open, dial to snapshot complete [30s].
	OpenTimeout time.Duration
	// Kinds are the kinds of client stormed [Dashboard, Plain].
	Kinds []Kind
	Log   io.Writer // progress; nil for none
}

func (o Options) withDefaults() Options {
	if o.Clients <= 0 {
		o.Clients = 100
	}
	if o.Storms <= 0 {
		o.Storms = 10
	}
	if o.Pause <= 0 {
		o.Pause = time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Millisecond
	}
	if o.Points <= 0 {
		o.Points = 3600
	}
	if o.Window <= 0 {
		o.Window = time.Duration(o.Points) * o.Interval
	}
	if o.FillTimeout <= 0 {
		o.FillTimeout = 3*o.Window + 30*time.Second
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 30 * time.Second
	}
	if len(o.Kinds) == 0 {
		o.Kinds = []Kind{Dashboard, Plain}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Kind is a kind of client: a name and the subprotocols it offers.
type Kind struct {
	Name      string
	Protocols []string
}

// The kinds of client: the dashboard offers sensorcast.gzip, a script
// usually nothing.
var (
	Dashboard = Kind{Name: "dashboard (gzip offered)", Protocols: []string{GzipSubprotocol}}
	Plain     = Kind{Name: "plain text", Protocols: nil}
)

// History describes a history message as a client received it.
type History struct {
	Version int            // the message's "v", 1 when absent
	Points  map[string]int // per sensor; every value of the sensor has as many
	Runs    int            // runs of a v2 message, over all sensors
	Text    int            // bytes of the text message
	Gzip    int            // bytes of the gzipped message; 0 when the server sent text
}

// Phase is what the watcher and the server's CPU show over a window.
type Phase struct {
	Duration time.Duration
	CPU      time.Duration // the server's utime+stime
	Readings int           // sim readings the watcher received in the window
	// MaxGap is the longest time between two consecutive sim readings at
	// the watcher, minus the interval; MaxAge the longest time from a
	// reading's ts (whole ms) to its arrival.
	MaxGap, MaxAge time.Duration
}

// KindResult is the result of one kind of client's storms.
type KindResult struct {
	Kind   Kind
	Agreed string // the subprotocol the server chose
	Opens  int    // page opens completed
	// Bytes received per page open, from the handshake response to the
	// last snapshot message: mean, least and most.
	Bytes, MinBytes, MaxBytes int64
	// Time from dial to the last snapshot message: median and longest.
	OpenP50, OpenMax time.Duration
	Storm, Idle      Phase
}

// StormCPU is the server CPU the storms cost: the storms' CPU minus that of
// the idle window of the same length (which may make it slightly negative
// when the storms cost nothing measurable).
func (k *KindResult) StormCPU() time.Duration { return k.Storm.CPU - k.Idle.CPU }

// Result is the measurement of one binary.
type Result struct {
	Name    string
	Options Options
	Fill    time.Duration // from start until the history was full
	History History       // as a plain client got it once full
	Kinds   []KindResult
	Logs    []string // the server's log lines at level WARN or ERROR
}

// Errors of Run.
var (
	ErrNoStart  = errors.New("sensorcast did not start")
	ErrNotFull  = errors.New("history not full in time")
	ErrSnapshot = errors.New("unexpected snapshot")
)

var startedLine = regexp.MustCompile(`msg="sensorcast started".* addr=(127\.0\.0\.1:\d+)`)

// server is a running sensorcast binary.
type server struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

// start runs bin. Binaries that cap WebSockets per address (the [http]
// table) get a cap above the storm's connections; one that does not know
// the table is started again without it.
func start(bin, dir string, o Options) (*server, error) {
	limits := fmt.Sprintf("[http]\nmax_websockets_per_ip = %d\n\n", o.Clients+16)
	s, err := startWith(bin, dir, o, limits)
	if err != nil && strings.Contains(err.Error(), `unknown key "http`) {
		s, err = startWith(bin, dir, o, "")
	}
	return s, err
}

func startWith(bin, dir string, o Options, limits string) (*server, error) {
	conf := filepath.Join(dir, "storm.toml")
	toml := fmt.Sprintf("device = \"storm\"\n\n%s[[sensor]]\ndriver = \"sim\"\nname = \"sim\"\ninterval = %q\n\n"+
		"[[sensor]]\ndriver = \"host\"\nname = \"host\"\ninterval = %q\n", limits, o.Interval.String(), (2 * o.Interval).String())
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		return nil, err
	}
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-config", conf, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"),
		"-history-window", o.Window.String(), "-history-points", fmt.Sprint(o.Points))
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case s.addr = <-addrc:
		return s, nil
	case <-s.done:
	case <-time.After(20 * time.Second):
	}
	s.stop()
	return nil, fmt.Errorf("%w: %s", ErrNoStart, s.logText())
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	<-s.done
}

func (s *server) cpu() (time.Duration, error) { return compare.PidCPU(s.cmd.Process.Pid) }

// warnings returns the server's log lines at level WARN or ERROR.
func (s *server) warnings() []string {
	var out []string
	for l := range strings.Lines(s.logText()) {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// Run measures the binary bin (see the package doc), with its files in dir.
func Run(name, bin, dir string, o Options) (*Result, error) {
	o = o.withDefaults()
	if err := loadgen.RaiseFileLimit(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	s, err := start(bin, dir, o)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	r := &Result{Name: name, Options: o}
	fmt.Fprintf(o.Log, "storm: %s: started on %s, filling the history (%d points over %v)\n", name, s.addr, o.Points, o.Window)
	if r.History, err = waitFull(s.addr, o, time.Now().Add(o.FillTimeout)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.Fill = time.Since(t0)
	// One gzip snapshot for its size and to check that it holds the same.
	if gz, err := readHistory(s.addr, []string{GzipSubprotocol}, o.OpenTimeout); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if gz.Gzip > 0 {
		if gz.Points["sim"] != r.History.Points["sim"] {
			return nil, fmt.Errorf("%s: %w: gzipped history has %d sim points, the text one %d", name, ErrSnapshot, gz.Points["sim"], r.History.Points["sim"])
		}
		r.History.Gzip = gz.Gzip
	}
	fmt.Fprintf(o.Log, "storm: %s: history full after %v: %+v\n", name, r.Fill.Round(time.Millisecond), r.History)

	w, err := watch(s.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: watcher: %w", name, err)
	}
	defer w.stop()
	time.Sleep(o.Pause) // the watcher's own snapshot is behind it
	for _, k := range o.Kinds {
		kr, err := storms(s, w, k, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, k.Name, err)
		}
		r.Kinds = append(r.Kinds, *kr)
		fmt.Fprintf(o.Log, "storm: %s: %s: %d B per open, storm CPU %v (storms %v, idle %v), gap %v (idle %v)\n",
			name, k.Name, kr.Bytes, kr.StormCPU(), kr.Storm.CPU, kr.Idle.CPU, kr.Storm.MaxGap, kr.Idle.MaxGap)
	}
	if err := w.err(); err != nil {
		return nil, fmt.Errorf("%s: watcher: %w", name, err)
	}
	r.Logs = s.warnings()
	return r, nil
}

// waitFull reads the history once a second until sim has all its points.
func waitFull(addr string, o Options, deadline time.Time) (History, error) {
	var h History
	for {
		var err error
		h, err = readHistory(addr, nil, o.OpenTimeout)
		if err != nil {
			return h, err
		}
		if h.Points["sim"] >= o.Points {
			return h, nil
		}
		if time.Now().After(deadline) {
			return h, fmt.Errorf("%w: %d of %d sim points", ErrNotFull, h.Points["sim"], o.Points)
		}
		time.Sleep(time.Second)
	}
}

// historyMsg is the history message, both versions: v1 has a time per
// point (t), v2 runs ([start_ms, count] or [start_ms, count, every_ms]).
type historyMsg struct {
	Type    string `json:"type"`
	V       int    `json:"v"`
	Sensors []struct {
		Sensor string    `json:"sensor"`
		T      []int64   `json:"t"`
		Runs   [][]int64 `json:"runs"`
		Values map[string]struct {
			V []*float64 `json:"v"`
		} `json:"values"`
	} `json:"sensors"`
}

// parseHistory checks a history message (gunzipped if gz) and counts its
// points.
func parseHistory(p []byte, gz bool) (History, error) {
	var h History
	if gz {
		h.Gzip = len(p)
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return h, fmt.Errorf("%w: binary history: %v", ErrSnapshot, err)
		}
		if p, err = io.ReadAll(zr); err != nil {
			return h, fmt.Errorf("%w: binary history: %v", ErrSnapshot, err)
		}
	}
	h.Text = len(p)
	var m historyMsg
	if err := json.Unmarshal(p, &m); err != nil || m.Type != "history" {
		return h, fmt.Errorf("%w: second message %.60q: %v", ErrSnapshot, p, err)
	}
	h.Version = max(1, m.V)
	h.Points = make(map[string]int, len(m.Sensors))
	for _, s := range m.Sensors {
		n := len(s.T)
		if h.Version >= 2 {
			n = 0
			for _, r := range s.Runs {
				if len(r) < 2 || len(r) > 3 {
					return h, fmt.Errorf("%w: %s: run %v", ErrSnapshot, s.Sensor, r)
				}
				n += int(r[1])
			}
			h.Runs += len(s.Runs)
		}
		for name, v := range s.Values {
			if len(v.V) != n {
				return h, fmt.Errorf("%w: %s.%s has %d points, its times %d", ErrSnapshot, s.Sensor, name, len(v.V), n)
			}
		}
		h.Points[s.Sensor] = n
	}
	return h, nil
}

// readHistory opens one connection offering protocols and returns its
// history message, checked.
func readHistory(addr string, protocols []string, timeout time.Duration) (History, error) {
	var h History
	c, err := loadgen.DialSubprotocols(addr, "/ws", protocols...)
	if err != nil {
		return h, err
	}
	defer c.Close()
	t := time.AfterFunc(timeout, func() { c.Close() })
	defer t.Stop()
	buf := make([]byte, 16<<20)
	for i := 0; i < 2; i++ {
		op, p, err := c.ReadFrame(buf)
		if err != nil {
			return h, err
		}
		if i == 0 {
			continue // hello
		}
		return parseHistory(p, op == loadgen.OpBinary)
	}
	return h, nil
}

// arrival is one sim reading at the watcher.
type arrival struct {
	at time.Time
	ts int64 // the reading's ts, Unix ms
}

// watcher stays connected and records every sim reading.
type watcher struct {
	c        *loadgen.Conn
	mu       sync.Mutex
	arrivals []arrival
	failure  error
	done     chan struct{}
}

var simReading = []byte(`"sensor":"sim"`)

func watch(addr string) (*watcher, error) {
	c, err := loadgen.Dial(addr, "/ws")
	if err != nil {
		return nil, err
	}
	w := &watcher{c: c, done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *watcher) read() {
	defer close(w.done)
	buf := make([]byte, 16<<20)
	for {
		op, p, err := w.c.ReadFrame(buf)
		now := time.Now()
		if err != nil || op == loadgen.OpClose {
			if err == nil {
				err = errors.New("closed by the server")
			}
			w.mu.Lock()
			w.failure = err
			w.mu.Unlock()
			return
		}
		if op != loadgen.OpText || !bytes.HasPrefix(p, []byte(`{"type":"reading"`)) || !bytes.Contains(p, simReading) {
			continue
		}
		ts, ok := jsonInt(p, `"ts":`)
		if !ok {
			w.mu.Lock()
			w.failure = fmt.Errorf("reading without ts: %.80q", p)
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.arrivals = append(w.arrivals, arrival{now, ts})
		w.mu.Unlock()
	}
}

// err returns why the watcher stopped early, nil while it runs.
func (w *watcher) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failure
}

func (w *watcher) stop() {
	w.c.Close()
	<-w.done
}

// phase summarises the sim readings that arrived in (from, to].
func (w *watcher) phase(from, to time.Time, interval time.Duration) Phase {
	w.mu.Lock()
	defer w.mu.Unlock()
	ph := Phase{Duration: to.Sub(from)}
	for i, a := range w.arrivals {
		if !a.at.After(from) || a.at.After(to) {
			continue
		}
		ph.Readings++
		ph.MaxAge = max(ph.MaxAge, a.at.Sub(time.UnixMilli(a.ts)))
		if i > 0 {
			ph.MaxGap = max(ph.MaxGap, a.at.Sub(w.arrivals[i-1].at)-interval)
		}
	}
	return ph
}

// jsonInt extracts the integer after key.
func jsonInt(p []byte, key string) (int64, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return 0, false
	}
	var n int64
	j := i + len(key)
	k := j
	for ; k < len(p) && p[k] >= '0' && p[k] <= '9'; k++ {
		n = n*10 + int64(p[k]-'0')
	}
	return n, k > j
}

// open is one page open.
type open struct {
	bytes  int64
	took   time.Duration
	agreed string
}

// pageOpen connects offering k's subprotocols and reads the snapshot: the
// hello, the history (text, or gzip when the server agreed the gzip
// subprotocol) and a reading of every sensor the hello lists; status
// messages in between are read too. It then disconnects.
func pageOpen(addr string, k Kind, buf []byte, timeout time.Duration) (open, error) {
	t0 := time.Now()
	c, err := loadgen.DialSubprotocols(addr, "/ws", k.Protocols...)
	if err != nil {
		return open{}, err
	}
	defer c.Close()
	t := time.AfterFunc(timeout, func() { c.Close() })
	defer t.Stop()
	var pending map[string]bool
	for i := 0; ; i++ {
		op, p, err := c.ReadFrame(buf)
		if err != nil {
			return open{}, fmt.Errorf("message %d: %w", i+1, err)
		}
		switch i {
		case 0:
			var hello struct {
				Type    string `json:"type"`
				Sensors []struct {
					Sensor string `json:"sensor"`
				} `json:"sensors"`
			}
			if err := json.Unmarshal(p, &hello); err != nil || op != loadgen.OpText || hello.Type != "hello" {
				return open{}, fmt.Errorf("%w: first message %.60q", ErrSnapshot, p)
			}
			pending = make(map[string]bool, len(hello.Sensors))
			for _, s := range hello.Sensors {
				pending[s.Sensor] = true
			}
		case 1:
			gz := c.Subprotocol() == GzipSubprotocol
			if gz && (op != loadgen.OpBinary || !bytes.HasPrefix(p, []byte{0x1f, 0x8b})) ||
				!gz && (op != loadgen.OpText || !bytes.HasPrefix(p, []byte(`{"type":"history"`))) {
				return open{}, fmt.Errorf("%w: second message (opcode %d, subprotocol %q) %.20q", ErrSnapshot, op, c.Subprotocol(), p)
			}
		default:
			if op != loadgen.OpText {
				return open{}, fmt.Errorf("%w: message %d with opcode %d", ErrSnapshot, i+1, op)
			}
			var m struct {
				Type   string `json:"type"`
				Sensor string `json:"sensor"`
			}
			if err := json.Unmarshal(p, &m); err != nil {
				return open{}, fmt.Errorf("%w: message %d %.60q", ErrSnapshot, i+1, p)
			}
			if m.Type == "reading" {
				delete(pending, m.Sensor)
			}
		}
		if i >= 1 && len(pending) == 0 {
			return open{bytes: c.BytesRead(), took: time.Since(t0), agreed: c.Subprotocol()}, nil
		}
	}
}

// storms runs o.Storms storms of k's clients, then an idle window as long
// as the storms took.
func storms(s *server, w *watcher, k Kind, o Options) (*KindResult, error) {
	kr := &KindResult{Kind: k}
	bufs := make([][]byte, o.Clients)
	for i := range bufs {
		bufs[i] = make([]byte, 4<<20) // the history is a few hundred KB
	}
	var opens []open
	cpu0, err := s.cpu()
	if err != nil {
		return nil, err
	}
	from := time.Now()
	for range o.Storms {
		res := make([]open, o.Clients)
		errs := make([]error, o.Clients)
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i := range o.Clients {
			wg.Go(func() {
				<-ready
				res[i], errs[i] = pageOpen(s.addr, k, bufs[i], o.OpenTimeout)
			})
		}
		close(ready)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		opens = append(opens, res...)
		time.Sleep(o.Pause)
	}
	to := time.Now()
	cpu1, err := s.cpu()
	if err != nil {
		return nil, err
	}
	kr.Storm = w.phase(from, to, o.Interval)
	kr.Storm.CPU = cpu1 - cpu0
	// The idle window, as long as the storms.
	time.Sleep(to.Sub(from))
	idleTo := time.Now()
	cpu2, err := s.cpu()
	if err != nil {
		return nil, err
	}
	kr.Idle = w.phase(to, idleTo, o.Interval)
	kr.Idle.CPU = cpu2 - cpu1

	kr.Opens = len(opens)
	kr.Agreed = opens[0].agreed
	kr.MinBytes = opens[0].bytes
	var sum int64
	took := make([]time.Duration, len(opens))
	for i, op := range opens {
		if op.agreed != kr.Agreed {
			return nil, fmt.Errorf("%w: subprotocol %q, then %q", ErrSnapshot, kr.Agreed, op.agreed)
		}
		sum += op.bytes
		kr.MinBytes, kr.MaxBytes = min(kr.MinBytes, op.bytes), max(kr.MaxBytes, op.bytes)
		took[i] = op.took
	}
	kr.Bytes = sum / int64(len(opens))
	slices.Sort(took)
	kr.OpenP50, kr.OpenMax = took[len(took)/2], took[len(took)-1]
	return kr, nil
}
