package sensors

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func init() {
	register(&driver{
		name:     "pulse",
		doc:      "a pulse counter on a GPIO line: water and gas meters, S0 energy meters, anemometers, rain gauges",
		interval: time.Minute,
		options:  []string{"line", "pull", "invert", "debounce", "scale", "unit", "per"},
		values:   []string{"rate", "total"},
		valuesDoc: "rate (pulses ÷ `scale` per `per`, e.g. L/min) and total (pulses ÷ `scale`, e.g. L), counted from the kernel's " +
			"edge events; the total is kept across restarts in the state directory",
		optionsDoc: "`line` (`\"GPIO17\"`), `pull`, `invert` (count falling edges), `debounce` (0.5ms), " +
			"`scale` (pulses per unit, 1), `unit` (`pulses`), `per` (`second`/`minute`/`hour`, `minute`)",
		check: func(c *Config) error {
			if err := checkLine(c); err != nil {
				return err
			}
			if c.Scale < 0 || math.IsNaN(c.Scale) || math.IsInf(c.Scale, 0) {
				return keyErr("scale", "%v is not a number of pulses per unit above 0", c.Scale)
			}
			if _, _, err := parsePer(c.Per); err != nil {
				return keyErr("per", "%v", err)
			}
			if strings.ContainsAny(c.Unit, "/\"\n") || len(c.Unit) > 16 {
				return keyErr("unit", "%q is not a unit such as \"L\", \"m³\" or \"kWh\"", c.Unit)
			}
			return nil
		},
		open: func(hw *Hardware, c *Config) (Source, error) {
			pull, _ := parsePull(c.Pull)
			line, err := hw.edges(c.Line, EdgeOpts{Falling: c.Invert, Pull: pull})
			if err != nil {
				return nil, err
			}
			per, _, _ := parsePer(c.Per)
			o := PulseOpts{Name: c.Name, Line: line, Debounce: c.Debounce, Scale: c.Scale, Unit: c.Unit, Per: per, Logger: hw.Logger}
			if hw.StateDir != "" {
				o.StateFile = filepath.Join(hw.StateDir, "pulse", strings.ReplaceAll(c.Name, "/", "_")+".count")
			}
			p, err := NewPulse(o)
			if err != nil {
				line.Close()
				return nil, err
			}
			return p, nil
		},
	})
}

// parsePer parses the per option: the rate's time base and its symbol.
func parsePer(s string) (time.Duration, string, error) {
	switch s {
	case "second":
		return time.Second, "s", nil
	case "", "minute":
		return time.Minute, "min", nil
	case "hour":
		return time.Hour, "h", nil
	}
	return 0, "", fmt.Errorf("%q is not one of second, minute, hour", s)
}

// DefaultPulseDebounce is PulseOpts.Debounce's default: short enough for
// 1 kHz. A reed contact (a water meter, an anemometer) wants 10 to 20 ms.
const DefaultPulseDebounce = 500 * time.Microsecond

// DefaultPulseSave is how often, at most, a Pulse writes its total to its
// state file (and on Halt): an SD card is spared, at the cost of the
// pulses of up to that long after a power cut.
const DefaultPulseSave = 15 * time.Minute

// PulseOpts configures a Pulse.
type PulseOpts struct {
	// Name is the Source's name. Default: the line's name.
	Name string

	// Line delivers the edges to count, each one a pulse unless it
	// bounces: a line opened with OpenEdgeLine for the rising edges, or
	// the falling ones where a pulse pulls the line low (an S0 output, a
	// contact to ground with a pull-up). Required; the Pulse closes it on
	// Halt.
	Line EdgeReader

	// Debounce is the dead time after a counted pulse, measured between
	// the kernel's timestamps of the edges, in which further edges are
	// bounces. Default: DefaultPulseDebounce.
	Debounce time.Duration

	// Scale is the number of pulses per unit (450 per litre, 1000 per
	// kWh). Default: 1.
	Scale float64

	// Unit is the total's unit ("L", "kWh"); the rate's is Unit/Per.
	// Default: "pulses".
	Unit string

	// Per is the rate's time base: time.Second, time.Minute or
	// time.Hour. Default: time.Minute.
	Per time.Duration

	// StateFile keeps the running total across restarts; "" keeps none.
	StateFile string

	// SaveEvery bounds how often StateFile is written. Default:
	// DefaultPulseSave.
	SaveEvery time.Duration

	// Logger receives a warning when the kernel has lost edges because
	// its queue was full, at most one per Sense. Default: discard.
	Logger *slog.Logger
}

// Pulse is a Source that counts pulses on a GPIO line from the kernel's
// edge events (the GPIO character device delivers each edge of the counted
// kind with its time; nothing polls the line). It debounces by the
// kernel's timestamps — an edge within Debounce of the last counted one is
// a bounce — so a reader that falls behind, and reads many queued edges at
// once, counts the same as one that keeps up; it reads them in batches, at
// most every 10 ms while edges come, so a Sense may leave the edges of the
// last few milliseconds to the next one. Each Sense adds the rate
// since the previous Sense (in Unit per Per) and the running total (in
// Unit), which survives a restart in StateFile, written at most every
// SaveEvery and on Halt.
type Pulse struct {
	name           string
	line           EdgeReader
	debounce       time.Duration
	scale          float64
	per            time.Duration
	unit, rateUnit reading.Unit
	stateFile      string
	saveEvery      time.Duration
	log            *slog.Logger
	halting        atomic.Bool
	done           chan struct{}
	haltOnce       sync.Once
	haltErr        error

	mu       sync.Mutex
	count    uint64 // pulses since the state file began
	lastEdge time.Duration
	haveEdge bool
	lastSeq  uint32
	lost     uint64 // edges the kernel lost (gaps in the sequence numbers)
	readErr  error  // why the watcher stopped, if not Halt

	// Sense's own.
	senseAt    time.Time
	senseCount uint64
	savedCount uint64
	savedAt    time.Time
	lostWarned uint64
}

// NewPulse reads the total kept in StateFile and starts counting the
// Line's edges; Halt stops it. A state file that cannot be read or parsed
// is an error, and is left as it is.
func NewPulse(o PulseOpts) (*Pulse, error) {
	if o.Line == nil {
		return nil, errors.New("sensors: new pulse: no line")
	}
	if o.Name == "" {
		o.Name = o.Line.Name()
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultPulseDebounce
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.Unit == "" {
		o.Unit = "pulses"
	}
	if o.Per <= 0 {
		o.Per = time.Minute
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = DefaultPulseSave
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sym := map[time.Duration]string{time.Second: "s", time.Minute: "min", time.Hour: "h"}[o.Per]
	if sym == "" {
		sym = o.Per.String()
	}
	p := &Pulse{
		name: o.Name, line: o.Line, debounce: o.Debounce, scale: o.Scale, per: o.Per,
		unit: reading.Unit(o.Unit), rateUnit: reading.Unit(o.Unit + "/" + sym),
		stateFile: o.StateFile, saveEvery: o.SaveEvery, log: o.Logger,
		done: make(chan struct{}),
	}
	if p.stateFile != "" {
		n, err := readPulseState(p.stateFile)
		if err != nil {
			return nil, err
		}
		p.count, p.savedCount = n, n
	}
	now := time.Now()
	p.senseAt, p.senseCount, p.savedAt = now, p.count, now
	go p.watch()
	return p, nil
}

// readPulseState reads a total kept by a previous run; a missing file is
// a total of 0.
func readPulseState(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sensors: pulse: read the total: %w", err)
	}
	n, err := parsePulseState(b)
	if err != nil {
		return 0, fmt.Errorf("sensors: pulse: %s: %w (fix or remove it to start from 0)", path, err)
	}
	return n, nil
}

// parsePulseState parses a state file: the pulse count in decimal and a
// newline.
func parsePulseState(b []byte) (uint64, error) {
	s, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return 0, errors.New("not a pulse count: no final newline (a write cut short?)")
	}
	n, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil || n > 1<<53 {
		return 0, fmt.Errorf("not a pulse count: %q", truncate(string(s), 24))
	}
	return n, nil
}

// pulseBatch is how many edges the watcher takes from the kernel per read.
const pulseBatch = 64

// pulseGather is how long the watcher lets edges gather in the kernel's
// queue after a read that emptied it. The kernel times each edge, so
// counting a little later changes nothing but the cost: at 1 kHz the
// watcher wakes 100 times a second instead of 1000, and the queue (1024)
// holds a second's edges. An idle line costs nothing: the read waits.
const pulseGather = 10 * time.Millisecond

// watch counts edges until Halt or until the line fails.
func (p *Pulse) watch() {
	defer close(p.done)
	var buf [pulseBatch]Edge
	for {
		n, err := p.line.ReadEdges(buf[:])
		if err != nil {
			if !p.halting.Load() {
				p.mu.Lock()
				p.readErr = err
				p.mu.Unlock()
			}
			return
		}
		p.mu.Lock()
		for _, e := range buf[:n] {
			p.edge(e)
		}
		p.mu.Unlock()
		if n < len(buf) && !p.halting.Load() {
			time.Sleep(pulseGather)
		}
	}
}

// edge counts e unless it is a bounce: within the debounce time of the
// last counted edge, by the kernel's clock. It notes edges the kernel
// lost, from the gap in the sequence numbers. Called with mu held.
func (p *Pulse) edge(e Edge) {
	// The line's numbers start at 1 with the request; they wrap at 2³².
	if d := e.Seq - p.lastSeq; d > 1 && d < 1<<31 {
		p.lost += uint64(d - 1)
	}
	p.lastSeq = e.Seq
	if p.haveEdge && e.Time-p.lastEdge < p.debounce && e.Time >= p.lastEdge {
		return
	}
	p.count++
	p.lastEdge, p.haveEdge = e.Time, true
}

// Lost returns how many edges the kernel has lost since the Pulse started,
// its queue being full because the reader fell behind. They are not in the
// total: without their times they cannot be told from bounces.
func (p *Pulse) Lost() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// Name returns the Pulse's name.
func (p *Pulse) Name() string { return p.name }

// Sense adds the rate since the previous Sense and the total. It writes
// the total to the state file when SaveEvery has passed since the last
// write, and fails if that write fails (the count goes on). It fails for
// good if the line has failed (the watcher has stopped), and logs the
// edges the kernel lost since the previous Sense, if any.
func (p *Pulse) Sense(r *reading.Reading) error {
	now := time.Now()
	p.mu.Lock()
	count, lost, readErr := p.count, p.lost, p.readErr
	p.mu.Unlock()
	if readErr != nil {
		return fmt.Errorf("sensors: pulse %s: no longer counting: %w", p.name, readErr)
	}
	if lost != p.lostWarned {
		p.log.Warn("pulse counter: the kernel lost edges, its queue full while the reader was behind; the total is short by up to that many pulses",
			"sensor", p.name, "lost", lost-p.lostWarned, "lost_total", lost)
		p.lostWarned = lost
	}
	if el := now.Sub(p.senseAt); el > 0 {
		rate := float64(count-p.senseCount) / el.Seconds() * p.per.Seconds() / p.scale
		if err := r.Add("rate", p.rateUnit, int64(math.Round(rate*1000))); err != nil {
			return err
		}
	}
	if err := r.Add("total", p.unit, int64(math.Round(float64(count)*1000/p.scale))); err != nil {
		return err
	}
	p.senseAt, p.senseCount = now, count
	if p.stateFile != "" && count != p.savedCount && now.Sub(p.savedAt) >= p.saveEvery {
		if err := p.save(count); err != nil {
			return err
		}
		p.savedAt = now
	}
	return nil
}

// save writes count to the state file: a new file, synced, renamed over
// the old one, so a power cut leaves one or the other.
func (p *Pulse) save(count uint64) error {
	if err := os.MkdirAll(filepath.Dir(p.stateFile), 0o755); err != nil {
		return fmt.Errorf("sensors: pulse %s: keep the total: %w", p.name, err)
	}
	tmp := p.stateFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.WriteString(strconv.FormatUint(count, 10) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, p.stateFile)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sensors: pulse %s: keep the total: %w", p.name, err)
	}
	p.savedCount = count
	return nil
}

// Halt stops counting: it closes the line, which ends the watcher's wait
// for edges, and writes the total to the state file. Calling it again
// returns the first call's result.
func (p *Pulse) Halt() error {
	p.haltOnce.Do(func() { p.haltErr = p.halt() })
	return p.haltErr
}

func (p *Pulse) halt() error {
	p.halting.Store(true)
	err := p.line.Close()
	t := time.NewTimer(haltWait)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return fmt.Errorf("sensors: pulse %s: watcher still running %v after Halt", p.name, haltWait)
	}
	p.mu.Lock()
	count := p.count
	p.mu.Unlock()
	if p.stateFile != "" && count != p.savedCount {
		if serr := p.save(count); serr != nil {
			return serr
		}
	}
	if err != nil {
		return fmt.Errorf("sensors: pulse %s: halt: %w", p.name, err)
	}
	return nil
}

// Done returns a channel closed when the watcher has returned after Halt.
func (p *Pulse) Done() <-chan struct{} { return p.done }

var (
	_ Source = (*Pulse)(nil)
	_ Halter = (*Pulse)(nil)
)
