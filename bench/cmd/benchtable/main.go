// Command benchtable builds sensorcast's benchmark server and the peer
// servers of bench/peers, measures them one after another with the raw-TCP
// load generator and prints the side-by-side table (make bench). Run it
// from the bench module's directory:
//
//	go run ./cmd/benchtable [-idle 2000] [-window 4s] [-runs 1] ...
//
// With -ceiling N (1000 by default, 0 skips it) it also sweeps each
// server's broadcast rate with N clients from -ceiling-from up by
// -ceiling-factor, then bisects, and reports the highest rate held
// (compare.Ceiling) and the figures of the highest step tried; each step's
// verdict is logged on standard error.
//
// With -e2e (the default) it also builds the real sensorcast binary, runs
// it with a simulated sensor and reports idle RSS and the latency from a
// reading's timestamp to its frame on a client socket.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := compare.Config{Log: stderr}
	fs.IntVar(&cfg.IdleConns, "idle", 2000, "idle connections held per server")
	push := fs.String("push", "100,1000", "client counts of the push runs at -rate")
	fs.Float64Var(&cfg.PushRate, "rate", 50, "broadcasts per second of the push runs")
	fs.IntVar(&cfg.HeavyClients, "heavy", 1000, "clients of the heavy push run (0 skips it)")
	fs.Float64Var(&cfg.HeavyRate, "heavy-rate", 200, "broadcasts per second of the heavy push run")
	fs.IntVar(&cfg.Ceiling.Clients, "ceiling", 1000, "clients of the ceiling sweep (0 skips it)")
	fs.Float64Var(&cfg.Ceiling.From, "ceiling-from", 100, "first broadcast rate of the ceiling sweep, Hz")
	fs.Float64Var(&cfg.Ceiling.To, "ceiling-to", 3000, "highest broadcast rate of the ceiling sweep, Hz")
	fs.Float64Var(&cfg.Ceiling.Factor, "ceiling-factor", 1.5, "rate factor between the ceiling sweep's steps")
	fs.IntVar(&cfg.Ceiling.Bisect, "ceiling-bisect", 2, "bisection steps after the sweep's first rate not held")
	fs.DurationVar(&cfg.Ceiling.Warmup, "ceiling-warmup", 500*time.Millisecond, "load before each ceiling step's window")
	fs.DurationVar(&cfg.Ceiling.Window, "ceiling-window", 2*time.Second, "measured time of each ceiling step")
	fs.DurationVar(&cfg.Ceiling.LagBound, "ceiling-lag", 100*time.Millisecond, "highest p99 lag of a rate held")
	fs.IntVar(&cfg.Ceiling.Retries, "ceiling-retries", 2, "repeats of a ceiling step that other processes disturbed")
	fs.IntVar(&cfg.EchoConns, "echo", 64, "pipelined echo connections")
	fs.IntVar(&cfg.EchoWindow, "echo-window", 16, "echo messages in flight per connection")
	fs.IntVar(&cfg.EchoSize, "echo-size", 120, "echo payload bytes")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before each measured window")
	fs.DurationVar(&cfg.Window, "window", 4*time.Second, "measured time of each push and echo run")
	runs := fs.Int("runs", 1, "repeat the whole comparison this many times")
	servers := fs.String("servers", strings.Join(compare.Servers, ","), "servers to compare, ours first")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write a CPU profile of every push and echo run into this directory")
	e2e := fs.Bool("e2e", true, "also measure the real sensorcast binary end to end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for s := range strings.SplitSeq(*push, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("-push: bad client count %q", s)
		}
		cfg.PushClients = append(cfg.PushClients, n)
	}
	switch {
	case cfg.IdleConns < 1 || cfg.IdleConns > 10000, cfg.HeavyClients < 0 || cfg.HeavyClients > 10000:
		return errors.New("connection counts must be between 1 and 10000")
	case cfg.PushRate <= 0 || cfg.PushRate > 10000 || cfg.HeavyRate <= 0 || cfg.HeavyRate > 10000:
		return errors.New("rates must be between 0 and 10000 Hz")
	case cfg.EchoConns < 1 || cfg.EchoConns > 1000 || cfg.EchoWindow < 1 || cfg.EchoSize < 1 || cfg.EchoSize > 4096:
		return errors.New("-echo, -echo-window and -echo-size out of range")
	case *runs < 1 || *runs > 20:
		return errors.New("-runs must be between 1 and 20")
	case cfg.Window <= 0 || cfg.Window > time.Minute:
		return errors.New("-window must be between 0 and 1m")
	}
	if err := cfg.Ceiling.Check(); err != nil {
		return fmt.Errorf("-ceiling flags: %w", err)
	}
	cfg.Servers = strings.Split(*servers, ",")
	dir, err := os.MkdirTemp("", "benchtable")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	cfg.Bins, err = compare.Build(wd, dir, cfg.Servers)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s/%s, %d CPUs\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	var all []*compare.Result
	for i := range *runs {
		res, err := compare.Run(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %d of %d\n\n", i+1, *runs)
		res.Print(stdout, cfg.Servers)
		fmt.Fprintln(stdout)
		all = append(all, res)
	}
	if len(all) > 1 {
		compare.Summarize(all, cfg.Servers).Print(stdout, cfg.Servers)
		fmt.Fprintln(stdout)
	}
	if *e2e {
		bin := filepath.Join(dir, "sensorcast-bin")
		if err := compare.BuildSensorcast(filepath.Join(wd, ".."), bin); err != nil {
			return err
		}
		r, err := compare.EndToEnd(bin, dir, 100, 20*time.Millisecond, cfg.Window)
		if err != nil {
			return err
		}
		r.Print(stdout)
	}
	return nil
}
