// Command fleetload measures `sensorcast fleet` under N simulated nodes
// publishing through a real Mosquitto (package bench/fleet): the headline
// load with its floor (the same load into mosquitto_sub > /dev/null), then
// steps of N upwards until the fleet falls behind. Run it from the bench
// module's directory:
//
//	go run ./cmd/fleetload [-nodes 1000] [-steps 2000,4000,8000] [-clients 50] [-sensors 5]
//
// Without -bin it builds the checkout's binary with `make build`. Each
// step starts a broker and a fleet of its own and lasts warm-up + window +
// a few seconds; the run stops at the first step that falls behind.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
	"github.com/sensorcast/sensorcast/bench/fleet"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fleetload:", err)
		}
		os.Exit(2)
	}
}

// errUsage reports bad command-line arguments.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "", "the sensorcast `binary` (default: make build of -root)")
	root := fs.String("root", "..", "the main module's `directory`")
	nodes := fs.Int("nodes", 1000, "nodes of the headline step, measured with its floor")
	stepsFlag := fs.String("steps", "2000,4000,8000", "further `list` of node counts, ascending, run until the fleet falls behind; empty for none")
	floor := fs.Bool("floor", true, "measure the floor (mosquitto_sub > /dev/null) at the headline load")
	keep := fs.String("keep", "", "`directory` to keep each step's logs in (default: a temporary one, removed)")
	var o fleet.Options
	fs.IntVar(&o.Sensors, "sensors", 5, "sensors per node")
	fs.DurationVar(&o.Interval, "interval", time.Second, "between two readings of a sensor")
	fs.IntVar(&o.Clients, "clients", 50, "WebSocket clients on the fleet's /ws")
	fs.IntVar(&o.Conns, "conns", 8, "publisher MQTT connections (-1: one per node)")
	qos := fs.Int("qos", 1, "QoS of the readings (a node's default is 1)")
	fs.DurationVar(&o.Warmup, "warmup", 10*time.Second, "after the readings start, before the window")
	fs.DurationVar(&o.Window, "window", 20*time.Second, "measured window")
	fs.StringVar(&o.Perf, "perf", "", "`directory`: perf record -g the fleet during the window of the first step that falls behind (else the last)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	steps, err := parseSteps(*stepsFlag)
	if err != nil || fs.NArg() > 0 || *nodes < 1 || *qos < 0 || *qos > 1 {
		fmt.Fprintf(stderr, "fleetload: bad -steps (%v), -nodes, -qos or argument %q\n", err, fs.Args())
		return errUsage
	}
	o.QoS = byte(*qos)
	o.Log = stderr
	perfDir := o.Perf
	o.Perf = ""

	dir := *keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fleetload"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	if *bin == "" {
		*bin = filepath.Join(dir, "sensorcast")
		fmt.Fprintf(stderr, "fleetload: make build in %s\n", *root)
		if err := compare.BuildSensorcast(*root, *bin); err != nil {
			return err
		}
	}
	o.Bin = *bin

	var results []*fleet.Result
	step := func(mode fleet.Mode, n int, perf bool) (*fleet.Result, error) {
		so := o
		so.Mode, so.Nodes = mode, n
		d := filepath.Join(dir, fmt.Sprintf("%s-%d", mode, n))
		if perf {
			so.Perf = perfDir
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		r, err := fleet.Run(d, so)
		if err != nil {
			return nil, fmt.Errorf("%s, %d nodes: %w", mode, n, err)
		}
		results = append(results, r)
		fmt.Fprintf(stderr, "fleetload: %s\n", row(r))
		return r, nil
	}
	head, err := step(fleet.ModeFleet, *nodes, perfDir != "" && len(steps) == 0)
	if err != nil {
		return err
	}
	if *floor {
		if _, err := step(fleet.ModeFloor, *nodes, false); err != nil {
			return err
		}
	}
	last := head
	for i, n := range steps {
		if last.Behind {
			break
		}
		if last, err = step(fleet.ModeFleet, n, perfDir != "" && i == len(steps)-1); err != nil {
			return err
		}
	}
	if perfDir != "" && last.Behind && len(steps) > 0 && !strings.Contains(last.Why, "perf") {
		// Profile the first step that fell behind, once more.
		if _, err := step(fleet.ModeFleet, last.Options.Nodes, true); err != nil {
			return err
		}
	}
	report(stdout, results, o, *bin)
	return nil
}

func parseSteps(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("step %q: want ascending positive node counts", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 0, 64) }

func us(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) }

// row is one line of the table.
func row(r *fleet.Result) string {
	o := r.Options
	rate := float64(o.Nodes*o.Sensors) / o.Interval.Seconds()
	win := o.Window
	verdict := "keeps up"
	if r.Behind {
		verdict = "**behind**: " + r.Why
	}
	rssDev, rss := "–", "–"
	if o.Mode == fleet.ModeFleet {
		rssDev = strconv.FormatFloat(float64(r.RSSPerDevice())/1024, 'f', 1, 64)
		rss = fmt.Sprintf("%.0f → %.0f", float64(r.RSS0)/(1<<20), float64(r.RSS)/(1<<20))
	}
	growth := time.Duration(0)
	if n := len(r.Trend); n >= 4 {
		growth = r.Trend[n-1] - r.Trend[0]
	}
	return fmt.Sprintf("| %s | %d | %.0f | %d | %.4f | %s / %s / %s | %s | %s (%.0f %%) | %s (%.0f %%) | %.0f %% | %s | %s | %s / %s | %s |",
		o.Mode, o.Nodes, rate, r.Receivers, r.Delivered(),
		ms(r.Latency.Quantile(0.5)), ms(r.Latency.Quantile(0.99)), ms(r.Latency.Max()), ms(growth),
		us(r.PerMessage(r.CPU)), 100*r.CPU.Seconds()/win.Seconds(),
		us(r.PerMessage(r.BrokerCPU)), 100*r.BrokerCPU.Seconds()/win.Seconds(),
		100*r.SelfCPU.Seconds()/win.Seconds(),
		rss, rssDev, ms(r.Late.Quantile(0.99)), ms(r.Late.Max()), verdict)
}

func report(w io.Writer, results []*fleet.Result, o fleet.Options, bin string) {
	fmt.Fprintf(w, "%d sensors per node every %v, QoS %d, %d publisher connections, %d WebSocket clients on /ws, warm-up %v, window %v; binary %s\n\n",
		o.Sensors, o.Interval, o.QoS, o.Conns, o.Clients, o.Warmup, o.Window, bin)
	fmt.Fprintln(w, "| consumer | nodes | msg/s | receivers | delivered | latency p50 / p99 / max (ms) | mean latency last − first s (ms) | consumer CPU µs/msg (% of a core) | broker CPU µs/msg (% of a core) | load generator CPU | fleet RSS MiB | RSS KiB/device | publisher late p99 / max (ms) | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Fprintln(w, row(r))
	}
}
