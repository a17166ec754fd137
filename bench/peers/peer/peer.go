// Package peer is the harness shared by the benchmark servers in
// bench/peers: the same flags, the same push payload, the same push ticker
// and the same memory report for every WebSocket library, so that the only
// difference between two servers is the library doing the WebSocket work.
//
// A server built on it listens on -addr (port 0 picks a free one) and prints
//
//	listening 127.0.0.1:PORT
//
// on standard output. On SIGUSR1 it runs a garbage collection and prints one
// line
//
//	mem {"heap_alloc":…,"stack_inuse":…,"goroutines":…}
//
// and, when it pushes (-rate above 0), on SIGUSR2 one line with its push
// schedule and the ticks due and sent so far (type Ticks)
//
//	ticks {"start_ns":…,"period_ns":…,"due":…,"sent":…}
//
// With -hold the push loop waits for SIGHUP. On SIGINT or SIGTERM it
// exits, writing the CPU profile asked for with -cpuprofile. Path /push is
// the push job (a ~120-byte JSON text message broadcast at -rate Hz,
// numbered by its tick of the schedule and stamped with the tick's due
// time, see Loop); every other path is the echo job.
package peer

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is what the common flags set.
type Config struct {
	Addr string  // listen address
	Rate float64 // broadcasts per second on /push; 0 disables them
	// Hold delays the push loop (and its schedule) until SIGHUP, so that
	// clients can connect before the first tick falls due.
	Hold bool
	// CPUProfile is a file for a pprof CPU profile of the whole run,
	// written on SIGINT or SIGTERM; empty: none.
	CPUProfile string
}

// ErrUsage reports bad flags; the flag package has already printed why.
var ErrUsage = errors.New("usage error")

// ParseFlags parses the common flags of every benchmark server.
func ParseFlags(name string, args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	fs.Float64Var(&cfg.Rate, "rate", 10, "broadcasts per second on /push (0 disables them)")
	fs.BoolVar(&cfg.Hold, "hold", false, "start the push loop on SIGHUP instead of at once")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file on SIGTERM")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, ErrUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return cfg, ErrUsage
	}
	if cfg.Rate < 0 || cfg.Rate > 100000 {
		fmt.Fprintf(stderr, "%s: -rate must be between 0 and 100000\n", name)
		return cfg, ErrUsage
	}
	return cfg, nil
}

// Pusher builds the push messages; its buffer is reused, so a payload is
// valid until the next call of Next or At.
type Pusher struct {
	seq uint64
	buf [256]byte
}

// pushPad brings a push message to about 120 bytes, as in cmd/wsecho.
const pushPad = "sensorcast-wsecho-push-padding-0123456789-abcdefghijklmnopqrstuvwxyz"

// Next encodes the next push message, the same bytes cmd/wsecho sends:
// {"type":"push","seq":N,"ts":UNIX_MS,"pad":"..."}, with N one more than
// the last message's.
func (p *Pusher) Next(now time.Time) []byte { return p.At(p.seq+1, now) }

// At encodes the push message with sequence number seq and timestamp ts
// (milliseconds of the Unix time, truncated); the next call of Next
// continues from seq.
func (p *Pusher) At(seq uint64, ts time.Time) []byte {
	p.seq = seq
	b := append(p.buf[:0], `{"type":"push","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts.UnixMilli(), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, pushPad...)
	b = append(b, `"}`...)
	return b
}

// Ticks is the push loop's schedule and how far it got: tick N is due at
// StartNS + N×PeriodNS (Unix nanoseconds) and is broadcast as the message
// with "seq":N and that due time as "ts". Sent falls behind Due while
// broadcasting does not keep up with the rate (see Loop.Run).
type Ticks struct {
	StartNS  int64  `json:"start_ns"`
	PeriodNS int64  `json:"period_ns"`
	Due      uint64 `json:"due"`  // ticks due so far: the highest due N
	Sent     uint64 `json:"sent"` // broadcasts made so far
}

// Loop is the push ticker: a fixed schedule of ticks at a rate, each
// broadcast with its own sequence number and due time.
type Loop struct {
	start  atomic.Pointer[time.Time] // set by Run
	period time.Duration
	sent   atomic.Uint64
}

// NewLoop returns a loop at rate broadcasts per second (rate > 0). Its
// schedule starts when Run does: tick 1 is due one period later.
func NewLoop(rate float64) *Loop {
	return &Loop{period: max(time.Duration(float64(time.Second)/rate), 1)}
}

// Run calls broadcast with the push message of every tick, in order, as it
// falls due, until ctx is done. No tick is skipped: when a broadcast
// returns after later ticks fell due (or the loop was not scheduled in
// time), they are broadcast at once, one after another, each with its own
// due time in "ts". A server whose broadcasts cannot keep up with the rate
// therefore falls ever further behind its schedule, which shows as lag at
// the clients, instead of silently skipping ticks as a time.Ticker would.
// Run must be called once.
func (l *Loop) Run(ctx context.Context, broadcast func([]byte)) {
	start := time.Now()
	l.start.Store(&start)
	var p Pusher
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for n := uint64(1); ; n++ {
		due := start.Add(time.Duration(n) * l.period)
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		broadcast(p.At(n, due))
		l.sent.Add(1)
	}
}

// Ticks reports the schedule and the ticks due and sent so far; it may be
// called while Run runs. Before Run, StartNS, Due and Sent are 0.
func (l *Loop) Ticks() Ticks {
	t := Ticks{PeriodNS: int64(l.period), Sent: l.sent.Load()}
	if start := l.start.Load(); start != nil {
		t.StartNS = start.UnixNano()
		t.Due = uint64(time.Since(*start) / l.period)
	}
	return t
}

// PushLoop runs a Loop at rate until ctx is done. A rate of 0 returns at
// once.
func PushLoop(ctx context.Context, rate float64, broadcast func([]byte)) {
	if rate <= 0 {
		return
	}
	NewLoop(rate).Run(ctx, broadcast)
}

// Mem is the memory report printed on SIGUSR1, taken after a collection.
type Mem struct {
	HeapAlloc  uint64 `json:"heap_alloc"`  // bytes of live heap objects
	StackInuse uint64 `json:"stack_inuse"` // bytes of goroutine stacks
	Sys        uint64 `json:"sys"`         // bytes obtained from the OS
	Goroutines int    `json:"goroutines"`
}

// ReadMem collects garbage and reports the live heap and stacks.
func ReadMem() Mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Mem{HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine()}
}

// Main runs a benchmark server: it parses the flags, listens, prints the
// address, starts the push loop with broadcast, hands the listener to serve
// and answers SIGUSR1 with a memory report, until SIGINT or SIGTERM. serve
// must return once ln is closed. It returns the process exit code.
func Main(name string, serve func(ln net.Listener) error, broadcast func([]byte)) int {
	cfg, err := ParseFlags(name, os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: cpu profile: %v\n", name, err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("listening %s\n", ln.Addr())
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			b, _ := json.Marshal(ReadMem())
			fmt.Printf("mem %s\n", b)
		}
	}()
	if cfg.Rate > 0 {
		loop := NewLoop(cfg.Rate)
		usr2 := make(chan os.Signal, 1)
		signal.Notify(usr2, syscall.SIGUSR2)
		go func() {
			for range usr2 {
				b, _ := json.Marshal(loop.Ticks())
				fmt.Printf("ticks %s\n", b)
			}
		}()
		if cfg.Hold {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			go func() {
				select {
				case <-hup:
					loop.Run(ctx, broadcast)
				case <-ctx.Done():
				}
			}()
		} else {
			go loop.Run(ctx, broadcast)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ln) }()
	select {
	case <-ctx.Done():
		ln.Close()
		return 0
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
}
