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
// and on SIGINT or SIGTERM it exits, writing the CPU profile asked for with
// -cpuprofile. Path /push is the push job (a ~120-byte
// JSON text message with a sequence number broadcast at -rate Hz); every
// other path is the echo job.
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
	"syscall"
	"time"
)

// Config is what the common flags set.
type Config struct {
	Addr string  // listen address
	Rate float64 // broadcasts per second on /push; 0 disables them
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
// valid until the next call of Next.
type Pusher struct {
	seq uint64
	buf [256]byte
}

// pushPad brings a push message to about 120 bytes, as in cmd/wsecho.
const pushPad = "sensorcast-wsecho-push-padding-0123456789-abcdefghijklmnopqrstuvwxyz"

// Next encodes the next push message, the same bytes cmd/wsecho sends:
// {"type":"push","seq":N,"ts":UNIX_MS,"pad":"..."}.
func (p *Pusher) Next(now time.Time) []byte {
	p.seq++
	b := append(p.buf[:0], `{"type":"push","seq":`...)
	b = strconv.AppendUint(b, p.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, pushPad...)
	b = append(b, `"}`...)
	return b
}

// PushLoop calls broadcast with the next push message every 1/rate seconds
// until ctx is done. A rate of 0 returns at once.
func PushLoop(ctx context.Context, rate float64, broadcast func([]byte)) {
	if rate <= 0 {
		return
	}
	var p Pusher
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			broadcast(p.Next(now))
		}
	}
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
	go PushLoop(ctx, cfg.Rate, broadcast)
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
