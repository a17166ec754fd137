package sensors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// failLogEvery is how often a Source that keeps failing is logged again:
// the Poller logs its first failure, every failLogEvery'th consecutive
// failure after that, and its recovery. A Source that keeps failing and
// recovering (a loose wire) has at most one failing line and one recovered
// line logged per failLogWindow; the next line logged says how many
// episodes were left out (suppressed).
const (
	failLogEvery  = 60
	failLogWindow = time.Minute
)

// PollerOptions configures a Poller. The zero value, like a nil
// *PollerOptions, gives the defaults documented on each field.
type PollerOptions struct {
	// Device names this node in every Reading. Default: os.Hostname(),
	// or "localhost" if that fails.
	Device string

	// Logger receives a line when a Source starts failing, at every 60th
	// consecutive failure after that, and when it recovers. Default:
	// discard.
	Logger *slog.Logger

	// OnReading receives every successful sample. It is called on the
	// Source's goroutine, so it must be safe to call concurrently for
	// different Sources, and it delays that Source's next tick while it
	// runs. r is valid only during the call: copy *r (a plain value) to
	// keep it. Default: none.
	OnReading func(r *reading.Reading)

	// OnStatus is called on the Source's goroutine when a Source starts
	// failing (its first failure after a success, or ever) and when it
	// recovers (its first success after a failure). It is not called for
	// every failure. Default: none.
	OnStatus func(s Status)

	// MaxBackoff caps the delay between retries of a failing Source. After
	// its n'th consecutive failure a Source is next read after its
	// interval times 2^(n-1), but never later than MaxBackoff (nor sooner
	// than its interval); its first success puts it back on its interval.
	// Default: one minute.
	MaxBackoff time.Duration

	// StopWait bounds how long Run waits, once its context is done, for
	// Sources whose Sense is still running (a DS18B20 bus with several
	// probes, a stuck I²C transfer). Run returns when it has passed; such
	// a Sense is left to finish on its own goroutine, its result is
	// dropped, and its Source is halted afterwards. Default: 500ms.
	StopWait time.Duration
}

// DefaultMaxBackoff is PollerOptions.MaxBackoff's default.
const DefaultMaxBackoff = time.Minute

// DefaultStopWait is PollerOptions.StopWait's default.
const DefaultStopWait = 500 * time.Millisecond

// Status reports that a Source started failing (OK false) or recovered
// (OK true).
type Status = reading.Status

// SourceStats is a snapshot of one Source's counters, as returned by
// Poller.Stats.
type SourceStats struct {
	Name        string
	Interval    time.Duration
	Reads       uint64    // successful Sense calls, each emitted as a Reading unless ErrUnchanged
	Failures    uint64    // failed or panicking Sense calls
	Consecutive uint64    // failures since the last success
	LastErr     string    // the most recent failure, even if since recovered
	LastOK      time.Time // start of the last successful Sense; zero if none
	// ReadTime is the time spent in Sense, every call counted (Reads +
	// Failures): a summary's sum, of which ReadTime / (Reads + Failures)
	// is the mean read duration.
	ReadTime time.Duration
}

// Poller reads a set of Sources, each at its own interval, and hands the
// readings to PollerOptions.OnReading. Add the Sources, then call Run once.
type Poller struct {
	device    string
	log       *slog.Logger
	onReading func(r *reading.Reading)
	onStatus  func(s Status)
	maxBack   time.Duration
	stopWait  time.Duration

	mu      sync.Mutex // guards sources (the slice) and started
	sources []*source
	started bool
}

// source is one Source and its counters.
type source struct {
	src      Source
	name     string
	interval time.Duration

	// deliver is held while the Source's reading or status is handed to
	// OnReading or OnStatus, so that Run can wait for a hand-off in
	// progress; none starts once Run's context is done.
	deliver sync.Mutex

	mu          sync.Mutex // guards the fields below, read by Stats
	reads       uint64
	failures    uint64
	consecutive uint64
	lastErr     string
	lastOK      time.Time
	readTime    time.Duration

	lastFailLog   time.Time // when a failing line was last logged
	episodeLogged bool      // this failure episode's failing line was logged
	suppressed    int       // failure episodes not logged since the last failing line
}

// NewPoller returns a Poller with no Sources. o may be nil; NewPoller does
// not keep o.
func NewPoller(o *PollerOptions) *Poller {
	var opts PollerOptions
	if o != nil {
		opts = *o
	}
	if opts.Device == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.Device = h
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.StopWait <= 0 {
		opts.StopWait = DefaultStopWait
	}
	return &Poller{
		maxBack:   opts.MaxBackoff,
		stopWait:  opts.StopWait,
		device:    opts.Device,
		log:       opts.Logger,
		onReading: opts.OnReading,
		onStatus:  opts.OnStatus,
	}
}

// Add registers src to be read every interval. It fails if Run has already
// been called, if interval is not positive, or if src's name is empty or
// already taken.
func (p *Poller) Add(src Source, interval time.Duration) error {
	if src == nil {
		return errors.New("sensors: add source: nil Source")
	}
	name := src.Name()
	if interval <= 0 {
		return fmt.Errorf("sensors: add source %q: interval %v is not positive", name, interval)
	}
	if name == "" {
		return errors.New("sensors: add source: empty name")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("sensors: add source %q: poller already running", name)
	}
	for _, s := range p.sources {
		if s.name == name {
			return fmt.Errorf("sensors: add source %q: duplicate name", name)
		}
	}
	p.sources = append(p.sources, &source{src: src, name: name, interval: interval})
	return nil
}

// Run reads every Source on its own goroutine: once right away, then every
// interval. A failing or panicking Sense is counted, logged and retried
// with exponential backoff (see Backoff and PollerOptions.MaxBackoff); it
// does not stop the other Sources, and the Source is back on its interval
// from its first success. A Source that is a Waker is also read whenever
// it wakes, and its interval restarts from there.
//
// When ctx is done, each Source's goroutine stops reading and calls Halt
// on its Source if it is a Halter. Run returns once every Source is
// halted, or after PollerOptions.StopWait if a Sense is still running: that
// Source is halted when its Sense returns, and its result is dropped. No
// OnReading or OnStatus call runs after Run has returned. Every Halt error
// is logged; Run returns those of the Halts done before it returned,
// joined, or nil. Run may be called only once, and only after at least one
// Add.
func (p *Poller) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("sensors: run poller: already started")
	}
	if len(p.sources) == 0 {
		p.mu.Unlock()
		return errors.New("sensors: run poller: no sources added")
	}
	p.started = true
	sources := p.sources
	p.mu.Unlock()

	type halted struct {
		s   *source
		err error
	}
	// Buffered for all, so that a Source halted after Run returned does
	// not block.
	done := make(chan halted, len(sources))
	for _, s := range sources {
		go func() {
			p.loop(ctx, s)
			done <- halted{s, p.halt(s)}
		}()
	}

	<-ctx.Done()
	timer := time.NewTimer(p.stopWait)
	defer timer.Stop()
	var errs []error
	left := slices.Clone(sources)
	for len(left) > 0 {
		select {
		case h := <-done:
			left = slices.DeleteFunc(left, func(s *source) bool { return s == h.s })
			if h.err != nil {
				errs = append(errs, h.err)
			}
			continue
		case <-timer.C:
		}
		for _, s := range left {
			p.log.Warn("sensor not stopped at shutdown: left to finish its read and halt on its own",
				"sensor", s.name, "waited", p.stopWait)
			// Wait for a hand-off in progress; none starts after this.
			s.deliver.Lock()
			s.deliver.Unlock()
		}
		break
	}
	return errors.Join(errs...)
}

// halt halts s's Source if it is a Halter, logging and returning an error.
func (p *Poller) halt(s *source) error {
	h, ok := s.src.(Halter)
	if !ok {
		return nil
	}
	if err := h.Halt(); err != nil {
		p.log.Warn("sensor halt failed", "sensor", s.name, "err", err)
		return fmt.Errorf("sensors: halt %q: %w", s.name, err)
	}
	return nil
}

// loop polls s until ctx is done. It reuses one Reading for every tick.
// While the Source succeeds, reads keep to a fixed schedule, every interval
// from the first, like a time.Ticker: a late read does not shift the ones
// after it, and a read more than an interval late is dropped. After a
// failure the next read is Backoff later than the start of the failed one;
// after a wake, an interval later than the start of the woken read. A read
// due less than half an interval after the start of the previous one is
// dropped as well.
func (p *Poller) loop(ctx context.Context, s *source) {
	if ctx.Err() != nil {
		return
	}
	var wake <-chan struct{}
	if w, ok := s.src.(Waker); ok {
		wake = w.Wake()
	}
	r := new(reading.Reading)
	start := time.Now()
	consecutive := p.poll(ctx, s, r)
	next := p.next(s.interval, consecutive, start, start)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
			woken = true
		}
		if ctx.Err() != nil {
			return
		}
		start = time.Now()
		sched := next
		if woken || consecutive > 0 {
			sched = start // off the schedule: start a new one from here
		}
		consecutive = p.poll(ctx, s, r)
		next = p.next(s.interval, consecutive, sched, start)
		t.Reset(time.Until(next))
	}
}

// next returns when to read a source next, given when its last read was
// scheduled and when it started, and how many times in a row it has failed.
func (p *Poller) next(interval time.Duration, consecutive uint64, sched, start time.Time) time.Time {
	if consecutive > 0 {
		return start.Add(Backoff(interval, consecutive, p.maxBack))
	}
	n := sched.Add(interval)
	if now := time.Now(); n.Before(now.Add(-interval)) {
		n = now // far behind: drop the missed reads and go on from now
	}
	// A read that started late is not followed at once by the next one on
	// the schedule: that one is dropped too, so that two readings of a
	// source are at least half an interval apart (never in the same
	// millisecond). At most two steps: n is at least an interval before
	// start here.
	for earliest := start.Add(interval / 2); n.Before(earliest); {
		n = n.Add(interval)
	}
	return n
}

// Backoff returns the wait before the next read of a Source read every
// interval that has failed consecutive times in a row: interval when
// consecutive is 0 or 1, then doubling with each further failure, capped
// at max (but never below interval).
func Backoff(interval time.Duration, consecutive uint64, max time.Duration) time.Duration {
	if max < interval {
		max = interval
	}
	d := interval
	for i := uint64(1); i < consecutive && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// poll takes one sample of s into r and reports it, unless ctx is done by
// then. It returns the number of consecutive failures, 0 after a success.
// In steady state, when Sense keeps succeeding, it allocates nothing.
func (p *Poller) poll(ctx context.Context, s *source, r *reading.Reading) uint64 {
	now := time.Now()
	r.Reset(p.device, s.name, now)
	err := sense(s.src, r)
	took := time.Since(now)
	unchanged := errors.Is(err, ErrUnchanged)
	if err == nil || unchanged {
		s.mu.Lock()
		s.readTime += took
		s.reads++
		s.lastOK = now
		recovered := s.consecutive > 0
		s.consecutive = 0
		failures := s.failures
		logRecovery := recovered && s.episodeLogged
		s.mu.Unlock()
		if logRecovery {
			p.log.Info("sensor recovered", "sensor", s.name, "failures", failures)
		}
		s.deliver.Lock()
		if ctx.Err() == nil {
			if recovered && p.onStatus != nil {
				p.onStatus(Status{Sensor: s.name, OK: true, Failures: failures, Time: now})
			}
			if p.onReading != nil && !unchanged {
				p.onReading(r)
			}
		}
		s.deliver.Unlock()
		return 0
	}

	msg := err.Error()
	s.mu.Lock()
	s.readTime += took
	s.failures++
	s.consecutive++
	s.lastErr = msg
	failures, consecutive := s.failures, s.consecutive
	logIt, suppressed := false, 0
	switch {
	case consecutive == 1 && !s.lastFailLog.IsZero() && now.Sub(s.lastFailLog) < failLogWindow:
		s.suppressed++ // flapping: this episode goes unlogged
		s.episodeLogged = false
	case consecutive == 1 || consecutive%failLogEvery == 0:
		logIt, suppressed = true, s.suppressed
		s.suppressed, s.lastFailLog, s.episodeLogged = 0, now, true
	}
	s.mu.Unlock()
	if logIt {
		attrs := []any{"sensor", s.name, "err", msg, "consecutive", consecutive, "failures", failures}
		if suppressed > 0 {
			attrs = append(attrs, "suppressed", suppressed)
		}
		p.log.Warn("sensor failing", attrs...)
	}
	if consecutive == 1 && p.onStatus != nil {
		s.deliver.Lock()
		if ctx.Err() == nil {
			p.onStatus(Status{
				Sensor:      s.name,
				Err:         msg,
				Failures:    failures,
				Consecutive: consecutive,
				Time:        now,
			})
		}
		s.deliver.Unlock()
	}
	return consecutive
}

// sense calls src.Sense, turning a panic into an error.
func sense(src Source, r *reading.Reading) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(error); ok {
				err = fmt.Errorf("sensors: sense %q: panic: %w", src.Name(), e)
			} else {
				err = fmt.Errorf("sensors: sense %q: panic: %v", src.Name(), v)
			}
		}
	}()
	return src.Sense(r)
}

// Stats returns a snapshot of each Source's counters, in the order they were
// added. It is safe to call at any time, including while Run is running.
func (p *Poller) Stats() []SourceStats {
	p.mu.Lock()
	sources := p.sources
	p.mu.Unlock()
	stats := make([]SourceStats, len(sources))
	for i, s := range sources {
		s.mu.Lock()
		stats[i] = SourceStats{
			Name:        s.name,
			Interval:    s.interval,
			Reads:       s.reads,
			Failures:    s.failures,
			Consecutive: s.consecutive,
			LastErr:     s.lastErr,
			LastOK:      s.lastOK,
			ReadTime:    s.readTime,
		}
		s.mu.Unlock()
	}
	return stats
}
