package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
)

// QueueFile is the name of the notifier's queue in NotifierOptions.StateDir.
const QueueFile = "alerts-queue.json"

// Defaults of NotifierOptions.
const (
	DefaultMaxQueue = 256
	DefaultRetryMin = 5 * time.Second
	DefaultRetryMax = 10 * time.Minute
	DefaultGiveUp   = 24 * time.Hour
	DefaultTimeout  = 10 * time.Second
)

// NotifierOptions configures a Notifier. Zero values take the defaults.
type NotifierOptions struct {
	Device string // the node's name, in every message
	// DashboardURL is the dashboard's address, in every message ("" for
	// none).
	DashboardURL string
	// StateDir keeps the undelivered messages (QueueFile, mode 0600), so
	// that none is lost across a restart. "" keeps them in memory only.
	StateDir string
	// MaxQueue bounds the undelivered messages; beyond it the oldest is
	// dropped (logged and counted). Default DefaultMaxQueue.
	MaxQueue int
	// RetryMin and RetryMax bound the backoff between attempts of one
	// message: RetryMin, doubling up to RetryMax. Default 5 s and 10 min.
	RetryMin, RetryMax time.Duration
	// GiveUp is how long a message is retried before it is dropped
	// (logged and counted). Default 24 h.
	GiveUp time.Duration
	// Client sends the HTTP requests. Default: a client with a
	// DefaultTimeout timeout.
	Client *http.Client
	Logger *slog.Logger // default: slog.Default()
}

// delivery is one message to one URL.
type delivery struct {
	ID       uint64    `json:"id"`
	URL      string    `json:"url"`
	Event    Event     `json:"event"`
	Attempts int       `json:"attempts"`
	First    time.Time `json:"first"`
	Next     time.Time `json:"next"`
	LastErr  string    `json:"last_error,omitempty"`
}

// NotifierStats are a Notifier's counts since start.
type NotifierStats struct {
	Sent    uint64 // messages delivered
	Failed  uint64 // attempts that failed (each retry counts)
	Dropped uint64 // messages given up: queue full, too old or refused for good
	Queued  int    // messages waiting now
}

// Notifier delivers events to notification URLs (see send.go for the
// schemes): in order per URL, each message retried with backoff until it
// is delivered once, kept on disk until then. Safe for concurrent use.
type Notifier struct {
	o   NotifierOptions
	log *slog.Logger

	mu     sync.Mutex
	queue  []*delivery // in order of ID
	nextID uint64
	stats  NotifierStats
	wake   chan struct{}
}

// NewNotifier returns a notifier with the messages left in o.StateDir's
// queue by a previous run. A queue file that cannot be read is logged and
// set aside, never a reason not to start.
func NewNotifier(o *NotifierOptions) *Notifier {
	n := &Notifier{o: *o, log: o.Logger, wake: make(chan struct{}, 1)}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.o.MaxQueue <= 0 {
		n.o.MaxQueue = DefaultMaxQueue
	}
	if n.o.RetryMin <= 0 {
		n.o.RetryMin = DefaultRetryMin
	}
	if n.o.RetryMax < n.o.RetryMin {
		n.o.RetryMax = max(DefaultRetryMax, n.o.RetryMin)
	}
	if n.o.GiveUp <= 0 {
		n.o.GiveUp = DefaultGiveUp
	}
	if n.o.Client == nil {
		n.o.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if n.o.StateDir != "" {
		n.load()
	}
	return n
}

func (n *Notifier) load() {
	path := filepath.Join(n.o.StateDir, QueueFile)
	b, err := access.ReadPrivate(path, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var q []*delivery
	if err == nil {
		err = json.Unmarshal(b, &q)
	}
	if err != nil {
		n.log.Warn("alert notifications of the previous run not restored", "file", path, "err", err)
		return
	}
	if len(q) > n.o.MaxQueue {
		n.stats.Dropped += uint64(len(q) - n.o.MaxQueue)
		q = q[len(q)-n.o.MaxQueue:]
	}
	n.queue = q
	for _, d := range q {
		n.nextID = max(n.nextID, d.ID)
	}
	if len(q) > 0 {
		n.log.Info("alert notifications still to deliver", "count", len(q))
	}
}

// persist writes the queue. n.mu must be held; the file is small (at most
// MaxQueue messages) and written only when the queue changes.
func (n *Notifier) persist() {
	if n.o.StateDir == "" {
		return
	}
	b, _ := json.Marshal(n.queue) // strings, numbers, times: cannot fail
	if err := access.WritePrivate(n.o.StateDir, QueueFile, b, true); err != nil {
		n.log.Error("alert notification queue not kept: a restart would lose undelivered messages", "err", err)
	}
}

// Enqueue queues ev for each URL in urls and returns at once.
func (n *Notifier) Enqueue(ev Event, urls []string) {
	if len(urls) == 0 {
		return
	}
	now := time.Now()
	n.mu.Lock()
	for _, u := range urls {
		n.nextID++
		n.queue = append(n.queue, &delivery{ID: n.nextID, URL: u, Event: ev, First: now, Next: now})
	}
	if over := len(n.queue) - n.o.MaxQueue; over > 0 {
		for _, d := range n.queue[:over] {
			n.log.Warn("alert notification dropped: queue full", "rule", d.Event.Rule, "state", d.Event.State(), "to", redact(d.URL))
		}
		n.stats.Dropped += uint64(over)
		n.queue = append([]*delivery(nil), n.queue[over:]...)
	}
	n.persist()
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Stats returns the notifier's counts.
func (n *Notifier) Stats() NotifierStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.stats
	st.Queued = len(n.queue)
	return st
}

// due returns the deliveries to attempt now (the first of each URL, if
// its time has come) and when the next one will be due.
func (n *Notifier) due(now time.Time) (ds []*delivery, next time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := make(map[string]bool)
	for _, d := range n.queue {
		if seen[d.URL] {
			continue // a URL's messages go in order: the first blocks the rest
		}
		seen[d.URL] = true
		if !d.Next.After(now) {
			ds = append(ds, d)
		} else if next.IsZero() || d.Next.Before(next) {
			next = d.Next
		}
	}
	return ds, next
}

// Run delivers the queued messages until ctx is done.
func (n *Notifier) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		ds, next := n.due(time.Now())
		for _, d := range ds {
			if ctx.Err() != nil {
				return
			}
			n.attempt(ctx, d)
		}
		if len(ds) > 0 {
			continue // those may have unblocked others
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// attempt sends d once and updates the queue.
func (n *Notifier) attempt(ctx context.Context, d *delivery) {
	err := n.send(ctx, d.URL, &d.Event)
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if ctx.Err() != nil && err != nil {
		return // shutting down: left queued, tried again at the next start
	}
	d.Attempts++
	var perm *permanentError
	switch {
	case err == nil:
		n.stats.Sent++
		if d.Attempts > 1 {
			n.log.Info("alert notification delivered", "rule", d.Event.Rule, "state", d.Event.State(), "to", redact(d.URL), "attempts", d.Attempts)
		}
	case errors.As(err, &perm):
		n.stats.Failed++
		n.stats.Dropped++
		n.log.Error("alert notification refused: not sent again (check the URL)", "rule", d.Event.Rule, "to", redact(d.URL), "err", err)
	case now.Sub(d.First) >= n.o.GiveUp:
		n.stats.Failed++
		n.stats.Dropped++
		n.log.Error("alert notification given up", "rule", d.Event.Rule, "to", redact(d.URL), "attempts", d.Attempts, "err", err)
	default:
		n.stats.Failed++
		back := n.o.RetryMin << min(d.Attempts-1, 20)
		if back > n.o.RetryMax || back <= 0 {
			back = n.o.RetryMax
		}
		d.Next, d.LastErr = now.Add(back), err.Error()
		if d.Attempts == 1 {
			n.log.Warn("alert notification failed: retrying with backoff", "rule", d.Event.Rule, "to", redact(d.URL), "err", err)
		}
		n.persist()
		return
	}
	for i, q := range n.queue {
		if q == d {
			n.queue = append(n.queue[:i], n.queue[i+1:]...)
			break
		}
	}
	n.persist()
}
