package compare

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/bench/loadgen"
)

// BuildSensorcast builds the real binary exactly as it ships, with the
// main module's `make build` (static, stripped, the release build tags and
// compiler flags, the dashboard's assets embedded), and moves it to out.
func BuildSensorcast(rootDir, out string) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), "build") // same file system as out: Rename works
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("make", "-s", "build", "BINDIR="+dir)
	cmd.Dir = rootDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make build: %w\n%s", err, b)
	}
	return os.Rename(filepath.Join(dir, "sensorcast"), out)
}

// E2E is the end-to-end result of the real binary.
type E2E struct {
	Clients     int
	Interval    time.Duration
	IdleRSS     int64 // bytes, simulated sensor running, no client
	LoadedRSS   int64 // bytes, with the clients connected
	Readings    int   // readings received by all clients in the window
	P50, P99    time.Duration
	Max         time.Duration
	NegativeAge int // readings received "before" their ts: clock granularity
}

var startedLine = regexp.MustCompile(`msg="sensorcast started".* addr=(127\.0\.0\.1:\d+)`)

// EndToEnd runs bin with one simulated sensor read every interval, holds
// clients on /ws for window and measures, for each reading frame, its
// receive time minus the reading's ts (Unix ms, so the figures have a
// millisecond's granularity).
func EndToEnd(bin, dir string, clients int, interval, window time.Duration) (*E2E, error) {
	conf := filepath.Join(dir, "e2e.toml")
	toml := fmt.Sprintf("device = \"bench\"\n\n[[sensor]]\ndriver = \"sim\"\ninterval = %q\n", interval.String())
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", conf, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrc := make(chan string, 1)
	var logb bytes.Buffer
	var logmu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logmu.Lock()
			logb.WriteString(sc.Text() + "\n")
			logmu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(20 * time.Second):
		logmu.Lock()
		defer logmu.Unlock()
		return nil, fmt.Errorf("%w: sensorcast: %s", ErrNoStart, logb.String())
	}
	p := &Process{Name: "sensorcast", cmd: cmd}
	time.Sleep(2 * time.Second)
	r := &E2E{Clients: clients, Interval: interval}
	if r.IdleRSS, err = p.RSS(); err != nil {
		return nil, err
	}
	conns, err := loadgen.DialN(addr, "/ws", clients)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		ages []time.Duration
		wg   sync.WaitGroup
		errs = make([]error, clients)
	)
	start := time.Now().Add(time.Second) // past the hello and history messages
	end := start.Add(window)
	for i, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 8<<20) // the history message can be large
			var mine []time.Duration
			neg := 0
			for {
				op, payload, err := c.ReadFrame(buf)
				now := time.Now()
				if err != nil {
					errs[i] = err
					break
				}
				if now.After(end) {
					break
				}
				if op != loadgen.OpText || now.Before(start) || !bytes.HasPrefix(payload, []byte(`{"type":"reading"`)) {
					continue
				}
				ts, ok := jsonInt(payload, `"ts":`)
				if !ok {
					errs[i] = fmt.Errorf("reading without ts: %q", payload)
					break
				}
				age := now.Sub(time.UnixMilli(ts))
				if age < 0 {
					neg++
				}
				mine = append(mine, age)
			}
			mu.Lock()
			ages = append(ages, mine...)
			r.NegativeAge += neg
			mu.Unlock()
		})
	}
	time.Sleep(time.Until(start.Add(window / 2)))
	if r.LoadedRSS, err = p.RSS(); err != nil {
		return nil, err
	}
	wg.Wait()
	loadgen.CloseAll(conns)
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	if len(ages) == 0 {
		return nil, fmt.Errorf("sensorcast: %w", ErrNoTraffic)
	}
	r.Readings = len(ages)
	r.P50, r.P99 = loadgen.Percentile(ages, 50), loadgen.Percentile(ages, 99)
	r.Max = ages[len(ages)-1]
	return r, nil
}

// jsonInt extracts the integer after key.
func jsonInt(p []byte, key string) (int64, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	k := j
	for k < len(p) && (p[k] == '-' || p[k] >= '0' && p[k] <= '9') {
		k++
	}
	n, err := strconv.ParseInt(string(p[j:k]), 10, 64)
	return n, err == nil
}

// Print writes the end-to-end result.
func (r *E2E) Print(w io.Writer) {
	fmt.Fprintf(w, "end to end, real sensorcast binary, sim sensor every %v, %d clients on /ws:\n", r.Interval, r.Clients)
	fmt.Fprintf(w, "  idle RSS %.1f MiB, with clients %.1f MiB\n", float64(r.IdleRSS)/(1<<20), float64(r.LoadedRSS)/(1<<20))
	fmt.Fprintf(w, "  reading ts → frame received: p50 %v, p99 %v, max %v over %d frames (ts has 1 ms granularity; %d below 0)\n",
		r.P50, r.P99, r.Max, r.Readings, r.NegativeAge)
}
