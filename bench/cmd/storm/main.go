// Command storm measures a reconnect storm (package storm) against one or
// two sensorcast binaries and prints a table with, for two, the ratio
// after/before of each figure, measured in the same run. Run it from the
// bench module's directory:
//
//	go run ./cmd/storm -before OLD_BINARY -after NEW_BINARY [-runs 3] [-clients 100] [-storms 10]
//
// Without -before and -after it builds the checkout's binary with
// `make build` and measures that one. With -runs N the binaries are
// measured N times, alternately first and second, and a last table gives
// each figure's median and the median and range of the per-run ratios.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sensorcast/sensorcast/bench/compare"
	"github.com/sensorcast/sensorcast/bench/storm"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "storm:", err)
		}
		os.Exit(2)
	}
}

// errUsage reports bad command-line arguments.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	before := fs.String("before", "", "the sensorcast `binary` before the change")
	after := fs.String("after", "", "the sensorcast `binary` after the change")
	root := fs.String("root", "..", "the main module's `directory`, built with make build when neither -before nor -after is given")
	runs := fs.Int("runs", 1, "times each binary is measured")
	var o storm.Options
	fs.IntVar(&o.Clients, "clients", 100, "connections opened at once per storm")
	fs.IntVar(&o.Storms, "storms", 10, "storms per kind of client")
	fs.DurationVar(&o.Pause, "pause", time.Second, "pause after each storm")
	fs.DurationVar(&o.Interval, "interval", 10*time.Millisecond, "sim's interval (host's is twice it)")
	fs.IntVar(&o.Points, "points", 3600, "-history-points of the binaries")
	fs.DurationVar(&o.Window, "window", 0, "-history-window of the binaries (default points × interval)")
	plain := fs.Bool("plain", true, "also storm with plain-text clients (no subprotocol offered)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 || *runs < 1 {
		fmt.Fprintf(stderr, "storm: unexpected argument %q or -runs below 1\n", fs.Args())
		return errUsage
	}
	o.Log = stderr
	o.Kinds = []storm.Kind{storm.Dashboard}
	if *plain {
		o.Kinds = append(o.Kinds, storm.Plain)
	}
	dir, err := os.MkdirTemp("", "storm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var names, bins []string
	for _, b := range []struct{ name, path string }{{"before", *before}, {"after", *after}} {
		if b.path == "" {
			continue
		}
		if _, err := os.Stat(b.path); err != nil {
			return fmt.Errorf("-%s: %w", b.name, err)
		}
		names, bins = append(names, b.name), append(bins, b.path)
	}
	if len(bins) == 0 {
		bin := filepath.Join(dir, "sensorcast")
		fmt.Fprintf(stderr, "storm: make build in %s\n", *root)
		if err := compare.BuildSensorcast(*root, bin); err != nil {
			return err
		}
		names, bins = []string{"checkout"}, []string{bin}
	}
	results, err := measure(names, bins, dir, *runs, o)
	if err != nil {
		return err
	}
	report(stdout, names, results, o)
	return nil
}

// measure runs every binary runs times, alternating which goes first, and
// returns the results per run in the order of names.
func measure(names, bins []string, dir string, runs int, o storm.Options) ([][]*storm.Result, error) {
	var all [][]*storm.Result
	for r := range runs {
		res := make([]*storm.Result, len(bins))
		for j := range bins {
			i := j
			if r%2 == 1 {
				i = len(bins) - 1 - j
			}
			d := filepath.Join(dir, fmt.Sprintf("%s-%d", names[i], r))
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
			out, err := storm.Run(names[i], bins[i], d, o)
			if err != nil {
				return nil, err
			}
			res[i] = out
		}
		all = append(all, res)
	}
	return all, nil
}

func report(w io.Writer, names []string, results [][]*storm.Result, o storm.Options) {
	o = results[0][0].Options
	fmt.Fprintf(w, "reconnect storm: %d clients at once × %d storms per kind (%v pause), sim every %v, host every %v, history %v / %d points\n\n",
		o.Clients, o.Storms, o.Pause, o.Interval, 2*o.Interval, o.Window, o.Points)
	var rows [][]storm.Row
	for i, res := range results {
		rs := storm.Rows(res)
		rows = append(rows, rs)
		fmt.Fprintf(w, "run %d of %d:\n\n", i+1, len(results))
		storm.Print(w, names, rs)
		for _, r := range res {
			for _, l := range r.Logs {
				fmt.Fprintf(w, "%s log: %s\n", r.Name, l)
			}
		}
		fmt.Fprintln(w)
	}
	if len(results) > 1 {
		storm.PrintSummary(w, names, storm.Summary(rows), len(results))
	}
}
