// Package compare runs the comparative benchmarks of sensorcast's WebSocket
// server against the peer servers in bench/peers, each as its own process
// driven by the raw-TCP load generator of bench/loadgen, and prints a table
// with every server side by side and the ratio of ours to the best peer.
//
// CPU is the server process's utime+stime from /proc/<pid>/stat, RSS its
// VmRSS, heap and stack the runtime's own figures after a collection (the
// peer harness prints them on SIGUSR1). Servers run one at a time, in turn,
// so ratios come from the same run on the same machine. Command
// bench/cmd/benchtable is the front end (make bench).
//
// Push runs count against the ticks the server's push loop was asked for
// (package peer numbers every broadcast by its tick and stamps it with the
// tick's due time, and reports ticks due and sent on SIGUSR2), so a server
// whose broadcasts fall behind the schedule shows it as lag and as frames
// not delivered, never as a shorter run. The ceiling sweep (type Ceiling)
// steps the rate up, a fresh server per step, until a server no longer
// delivers CeilingDelivered of the offered frames with a p99 lag (last
// copy's receive time minus the tick's due time) within a bound and the
// latest reading at every client.
package compare

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/bench/loadgen"
	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

// Config bounds a run.
type Config struct {
	Bins         map[string]string // server name → binary, from Build
	Servers      []string          // in table order, ours first
	IdleConns    int               // connections held for the idle memory figure
	PushClients  []int             // client counts of the push runs at PushRate
	PushRate     float64           // broadcasts per second
	HeavyClients int               // the heavy push run; 0 skips it
	HeavyRate    float64
	Ceiling      Ceiling // the ceiling sweep; Clients 0 skips it
	EchoConns    int     // pipelined echo connections
	EchoWindow   int     // echo messages in flight per connection
	EchoSize     int     // echo payload bytes
	Warmup       time.Duration
	Window       time.Duration // measured time of each push and echo run
	Log          io.Writer     // progress lines; nil: none
	// ProfileDir, if set, receives a CPU profile of every push and echo
	// run, named server-run.pprof.
	ProfileDir string
}

// profile names the CPU profile file of a run, "" without ProfileDir.
func (c *Config) profile(server, run string) string {
	if c.ProfileDir == "" {
		return ""
	}
	run = strings.NewReplacer(" ", "-", "×", "x").Replace(run)
	return filepath.Join(c.ProfileDir, server+"-"+run+".pprof")
}

// Better says which direction of a metric wins.
type Better int

// Directions of a metric.
const (
	Lower Better = iota
	Higher
)

// Row is one metric for every server.
type Row struct {
	Name   string
	Unit   string
	Better Better
	Values map[string]float64
}

// Result is a run's table plus the checks of every server's work.
type Result struct {
	Rows []Row
}

func (r *Result) add(name, unit string, b Better, server string, v float64) {
	for i := range r.Rows {
		if r.Rows[i].Name == name {
			r.Rows[i].Values[server] = v
			return
		}
	}
	r.Rows = append(r.Rows, Row{Name: name, Unit: unit, Better: b, Values: map[string]float64{server: v}})
}

// declare adds a metric with no values yet, to fix its place in the table.
func (r *Result) declare(name, unit string, b Better) {
	for i := range r.Rows {
		if r.Rows[i].Name == name {
			return
		}
	}
	r.Rows = append(r.Rows, Row{Name: name, Unit: unit, Better: b, Values: map[string]float64{}})
}

// Get returns the value of a metric for a server.
func (r *Result) Get(name, server string) (float64, bool) {
	for _, row := range r.Rows {
		if row.Name == name {
			v, ok := row.Values[server]
			return v, ok
		}
	}
	return 0, false
}

func (c *Config) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", a...)
	}
}

// Run measures every server of cfg.Servers and returns the table. A server
// that fails its job (a refused handshake, a wrong echo, a push client
// receiving nothing) fails the run.
func Run(cfg Config) (*Result, error) {
	if err := loadgen.RaiseFileLimit(); err != nil {
		return nil, err
	}
	res := &Result{}
	type step struct {
		what string
		run  func(name, bin string) error
	}
	steps := []step{{"idle", func(n, b string) error { return idle(cfg, res, n, b) }}}
	for _, clients := range cfg.PushClients {
		steps = append(steps, step{fmt.Sprintf("push %d×%gHz", clients, cfg.PushRate), func(n, b string) error {
			return push(cfg, res, n, b, clients, cfg.PushRate)
		}})
	}
	if cfg.HeavyClients > 0 {
		steps = append(steps, step{fmt.Sprintf("push %d×%gHz", cfg.HeavyClients, cfg.HeavyRate), func(n, b string) error {
			return push(cfg, res, n, b, cfg.HeavyClients, cfg.HeavyRate)
		}})
	}
	if cfg.Ceiling.Clients > 0 {
		if err := cfg.Ceiling.Check(); err != nil {
			return nil, err
		}
		steps = append(steps, step{fmt.Sprintf("ceiling %d clients", cfg.Ceiling.Clients), func(n, b string) error {
			return ceiling(cfg, res, n, b)
		}})
	}
	steps = append(steps, step{"echo", func(n, b string) error { return echo(cfg, res, n, b) }})
	for _, st := range steps {
		for _, name := range cfg.Servers {
			bin, ok := cfg.Bins[name]
			if !ok {
				return nil, fmt.Errorf("no binary for server %q", name)
			}
			cfg.logf("%-10s %s", name, st.what)
			if err := st.run(name, bin); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, st.what, err)
			}
		}
	}
	return res, nil
}

// idle measures memory per connection held open and silent.
func idle(cfg Config, res *Result, name, bin string) error {
	p, err := StartServer(name, bin, 0, "")
	if err != nil {
		return err
	}
	defer p.Stop()
	// One connection first, so that lazily started parts of every library
	// are counted in the baseline, not per connection.
	warm, err := loadgen.DialN(p.Addr, "/push", 1)
	if err != nil {
		return err
	}
	defer loadgen.CloseAll(warm)
	time.Sleep(100 * time.Millisecond)
	m0, err := p.Mem()
	if err != nil {
		return err
	}
	r0, err := p.RSS()
	if err != nil {
		return err
	}
	conns, err := loadgen.DialN(p.Addr, "/push", cfg.IdleConns)
	if err != nil {
		return err
	}
	defer loadgen.CloseAll(conns)
	time.Sleep(300 * time.Millisecond)
	m1, err := p.Mem()
	if err != nil {
		return err
	}
	r1, err := p.RSS()
	if err != nil {
		return err
	}
	n := float64(cfg.IdleConns)
	res.add("idle RSS / conn", "KiB", Lower, name, float64(r1-r0)/n/1024)
	res.add("idle heap+stack / conn", "KiB", Lower, name, (float64(m1.HeapAlloc+m1.StackInuse)-float64(m0.HeapAlloc+m0.StackInuse))/n/1024)
	res.add("idle goroutines / conn", "", Lower, name, float64(m1.Goroutines-m0.Goroutines)/n)
	return nil
}

// ErrNoTraffic reports a server whose clients received nothing.
var ErrNoTraffic = errors.New("no frames delivered")

// pushWindow is one measured window of a push run.
type pushWindow struct {
	cpu    time.Duration // server CPU in the window
	self   time.Duration // the load generator's CPU in the window
	selfOK bool
	// others is the CPU the machine's other processes used in the
	// window; othersOK says whether it was measured.
	others   time.Duration
	othersOK bool
	frames   int64         // frames received by all clients in the window
	dur      time.Duration // wall time of the window
	t0, t1   peer.Ticks    // the server's ticks at the window's start and end
	spread   loadgen.Spread
	stopErr  error // the first read error of a client, if any
	// freshMin is, over samples taken every freshEvery during the window
	// and at its end, the lowest share of clients whose newest reading
	// was due within the freshness bound; samples counts them.
	freshMin float64
	samples  int
}

// freshEvery is the interval of the freshness samples of a window.
const freshEvery = 100 * time.Millisecond

// offered is the number of ticks that fell due in the window.
func (w *pushWindow) offered() uint64 { return w.t1.Due - w.t0.Due }

// sent is the share of the window's ticks the server broadcast.
func (w *pushWindow) sent() float64 {
	if w.offered() == 0 {
		return 0
	}
	return float64(w.t1.Sent-w.t0.Sent) / float64(w.offered())
}

// measurePush starts the server's push loop, waits warmup, measures a
// window of length and, after drain, summarises the broadcasts of the
// ticks that fell due in the window (the ticks the server was asked for,
// whether it sent them or not). With fresh above 0 it samples during the
// window how many clients hold a reading due at most fresh plus one period
// ago. It stops pl; a client's read error is returned in stopErr.
func measurePush(p *Process, pl *loadgen.Push, warmup, length, drain, fresh time.Duration) (pushWindow, error) {
	var w pushWindow
	if err := p.StartPush(); err != nil {
		pl.Stop()
		return w, err
	}
	time.Sleep(warmup)
	var err error
	if w.t0, err = p.Ticks(); err != nil {
		pl.Stop()
		return w, err
	}
	c0, err := p.CPU()
	if err != nil {
		pl.Stop()
		return w, err
	}
	f0 := pl.Received()
	m0, merr0 := machineCPU()
	g0, gerr0 := selfCPU()
	start := time.Now()
	if fresh > 0 {
		maxAge := fresh + time.Duration(w.t0.PeriodNS)
		w.freshMin = 1
		for {
			next := min(freshEvery, length-time.Since(start))
			if next > 0 {
				time.Sleep(next)
			}
			w.freshMin = min(w.freshMin, pl.Fresh(maxAge))
			w.samples++
			if next <= 0 || time.Since(start) >= length {
				break
			}
		}
	} else {
		time.Sleep(length)
	}
	g1, gerr1 := selfCPU()
	m1, merr1 := machineCPU()
	c1, err := p.CPU()
	f1 := pl.Received()
	w.dur = time.Since(start)
	if err == nil {
		w.t1, err = p.Ticks()
	}
	if err != nil {
		pl.Stop()
		return w, err
	}
	// Let the last broadcasts of the window reach every client.
	time.Sleep(drain)
	w.spread = pl.Spread(w.t0.Due+1, w.t1.Due+1)
	w.stopErr = pl.Stop()
	w.cpu, w.frames = c1-c0, f1-f0
	w.self, w.selfOK = g1-g0, gerr0 == nil && gerr1 == nil
	if w.selfOK && merr0 == nil && merr1 == nil {
		w.others, w.othersOK = max(0, m1-m0-w.cpu-w.self), true
	}
	return w, nil
}

// push measures broadcasts to clients at rate.
func push(cfg Config, res *Result, name, bin string, clients int, rate float64) error {
	p, err := StartServer(name, bin, rate, cfg.profile(name, fmt.Sprintf("push %d×%g", clients, rate)))
	if err != nil {
		return err
	}
	defer p.Stop()
	conns, err := loadgen.DialN(p.Addr, "/push", clients)
	if err != nil {
		return err
	}
	w, err := measurePush(p, loadgen.StartPush(conns, time.Second), cfg.Warmup, cfg.Window, 200*time.Millisecond, 0)
	if err == nil {
		err = w.stopErr
	}
	if err != nil {
		return err
	}
	sp := w.spread
	if w.frames <= 0 || sp.Sent == 0 {
		return ErrNoTraffic
	}
	tag := fmt.Sprintf("push %d×%g", clients, rate)
	res.add(tag+": CPU / frame", "µs", Lower, name, float64(w.cpu)/float64(time.Microsecond)/float64(w.frames))
	if w.selfOK {
		// The load generator's own cost, for judging how much of the
		// spread is the client side's: it shares the server's cores.
		res.add(tag+": loadgen CPU / frame", "µs", Lower, name, float64(w.self)/float64(time.Microsecond)/float64(w.frames))
	}
	res.add(tag+": frames/s", "", Higher, name, float64(w.frames)/w.dur.Seconds())
	res.add(tag+": sent of offered", "%", Higher, name, 100*w.sent())
	res.add(tag+": delivered of offered", "%", Higher, name, 100*sp.Delivered)
	if sp.Complete > 0 { // else no broadcast reached every client: no spread
		res.add(tag+": spread p50", "ms", Lower, name, float64(sp.P50)/float64(time.Millisecond))
		res.add(tag+": spread p99", "ms", Lower, name, float64(sp.P99)/float64(time.Millisecond))
	}
	// Lag: the tick's due time to its last copy received, what a
	// dashboard user waits for. The spread alone flatters a server whose
	// writes all go out before the load generator gets a core.
	if sp.LagP99 < loadgen.Unbounded {
		res.add(tag+": lag p50", "ms", Lower, name, float64(sp.LagP50)/float64(time.Millisecond))
		res.add(tag+": lag p99", "ms", Lower, name, float64(sp.LagP99)/float64(time.Millisecond))
	}
	return nil
}

// echo measures pipelined echo traffic.
func echo(cfg Config, res *Result, name, bin string) error {
	p, err := StartServer(name, bin, 0, cfg.profile(name, "echo"))
	if err != nil {
		return err
	}
	defer p.Stop()
	conns, err := loadgen.DialN(p.Addr, "/", cfg.EchoConns)
	if err != nil {
		return err
	}
	e := loadgen.StartEcho(conns, cfg.EchoWindow, cfg.EchoSize)
	time.Sleep(cfg.Warmup)
	c0, err := p.CPU()
	if err != nil {
		e.Stop()
		return err
	}
	n0, t0 := e.Received(), time.Now()
	time.Sleep(cfg.Window)
	c1, err := p.CPU()
	n1, d := e.Received(), time.Since(t0)
	if stopErr := e.Stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return err
	}
	if n1 <= n0 {
		return ErrNoTraffic
	}
	tag := fmt.Sprintf("echo %d conns", cfg.EchoConns)
	res.add(tag+": msgs/s", "", Higher, name, float64(n1-n0)/d.Seconds())
	res.add(tag+": CPU / 1000 msgs", "ms", Lower, name, float64(c1-c0)/float64(time.Millisecond)/float64(n1-n0)*1000)
	return nil
}

// Print writes the table: one row per metric, one column per server, then
// the ratio of the first server (ours) to the best of the others.
func (r *Result) Print(w io.Writer, servers []string) {
	last := "ours / best peer"
	printHead(w, "metric", servers, last)
	for _, row := range r.Rows {
		row.printCells(w, servers)
		fmt.Fprintf(w, " %*s |\n", len(last), row.ratio(servers))
	}
}

// printHead writes a table's header row and alignment row: first, a
// column per server, then the extra columns, each as wide as its title.
func printHead(w io.Writer, first string, servers []string, extra ...string) {
	fmt.Fprintf(w, "| %-40s |", first)
	for _, s := range servers {
		fmt.Fprintf(w, " %10s |", s)
	}
	for _, e := range extra {
		fmt.Fprintf(w, " %s |", e)
	}
	fmt.Fprintf(w, "\n|%s|", strings.Repeat("-", 42))
	for range servers {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", 11))
	}
	for _, e := range extra {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", len(e)+1))
	}
	fmt.Fprintln(w)
}

// printCells writes the start of the row's line: its label and a value per
// server ("-" where none was measured).
func (row Row) printCells(w io.Writer, servers []string) {
	label := row.Name
	if row.Unit != "" {
		label += " (" + row.Unit + ")"
	}
	fmt.Fprintf(w, "| %-40s |", label)
	for _, s := range servers {
		if v, ok := row.Values[s]; ok {
			fmt.Fprintf(w, " %10s |", format(v))
		} else {
			fmt.Fprintf(w, " %10s |", "-")
		}
	}
}

// ratio is ours divided by the best peer, with the best peer's name.
func (row Row) ratio(servers []string) string {
	if len(servers) < 2 {
		return ""
	}
	q, bestName, ok := row.bestRatio(servers)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f× %s", q, bestName)
}

// bestRatio is ours (servers[0]) divided by the best of the others, and
// that peer's name; ok is false when either is missing or the best is 0.
func (row Row) bestRatio(servers []string) (q float64, bestName string, ok bool) {
	if len(servers) < 2 {
		return 0, "", false
	}
	best := 0.0
	for _, s := range servers[1:] {
		v, ok := row.Values[s]
		if !ok {
			continue
		}
		if bestName == "" || (row.Better == Lower && v < best) || (row.Better == Higher && v > best) {
			best, bestName = v, s
		}
	}
	ours, ok := row.Values[servers[0]]
	if !ok || bestName == "" || best == 0 {
		return 0, "", false
	}
	return ours / best, bestName, true
}

func format(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
