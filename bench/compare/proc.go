package compare

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

// Servers are the servers compared, ours first; each is a command under
// bench/peers.
var Servers = []string{"sensorcast", "gorilla", "gws", "coder", "gobwas"}

// Build compiles the named servers of bench/peers into dir and returns
// their paths by name. moduleDir is the bench module's directory.
func Build(moduleDir, dir string, names []string) (map[string]string, error) {
	args := []string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./peers/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	bins := make(map[string]string, len(names))
	for _, n := range names {
		bins[n] = filepath.Join(dir, n)
	}
	return bins, nil
}

// Process is a running benchmark server.
type Process struct {
	Name  string
	Addr  string
	cmd   *exec.Cmd
	lines chan string // stdout lines after the address
	done  chan error
	errb  bytes.Buffer
	// profile: the server writes a CPU profile on SIGTERM.
	profile bool
}

// ErrNoStart reports a server that exited or stayed silent before listening.
var ErrNoStart = errors.New("server did not start")

// StartServer runs bin -rate rate and waits for its address line. With a
// rate above 0 the server holds its push loop until StartPush. A
// non-empty profile is passed as -cpuprofile; Stop then ends the server
// with SIGTERM so that it writes the profile.
func StartServer(name, bin string, rate float64, profile string) (*Process, error) {
	p := &Process{Name: name, lines: make(chan string, 16), done: make(chan error, 1), profile: profile != ""}
	args := []string{"-addr", "127.0.0.1:0", "-rate", strconv.FormatFloat(rate, 'f', -1, 64)}
	if rate > 0 {
		args = append(args, "-hold")
	}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = &p.errb
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
				continue
			}
			p.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
		p.done <- p.cmd.Wait()
	}()
	select {
	case p.Addr = <-addr:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("%w: %s: %v: %s", ErrNoStart, name, err, p.errb.String())
	case <-time.After(10 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("%w: %s: no address within 10s", ErrNoStart, name)
	}
}

// Stop ends the server, with SIGTERM when it writes a profile, else with
// SIGKILL, and waits for it.
func (p *Process) Stop() {
	if p.profile {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(10 * time.Second):
		}
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPU returns the user plus system time the server has used so far.
func (p *Process) CPU() (time.Duration, error) { return PidCPU(p.cmd.Process.Pid) }

// PidCPU returns the user plus system time process pid has used so far,
// from /proc/<pid>/stat (10 ms resolution).
func PidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name, field 2, may hold spaces, so
// fields are counted after its closing parenthesis.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	var sum time.Duration
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 40) // 2^40 ticks: 348 years
		if err != nil {
			return 0, fmt.Errorf("stat: utime/stime %q: %w", s, err)
		}
		sum += time.Duration(n) * clockTick
	}
	return sum, nil
}

// machineCPU returns the CPU time all processes of the machine have used
// so far (user, nice and system time of every CPU, plus the time the
// hypervisor stole), from /proc/stat.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineCPU(b)
}

// parseMachineCPU reads the first line of /proc/stat, "cpu  user nice
// system idle iowait irq softirq steal ...", and returns user + nice +
// system + steal. Interrupt time is left out: it is mostly the loopback
// traffic of the run itself, which the processes' own times may not
// include.
func parseMachineCPU(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %.80q", line)
	}
	var sum time.Duration
	for _, i := range []int{1, 2, 3, 8} {
		n, err := strconv.ParseUint(f[i], 10, 40)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: field %d %q: %w", i, f[i], err)
		}
		sum += time.Duration(n) * clockTick
	}
	return sum, nil
}

// selfCPU returns the CPU time this process (the load generator) has used.
func selfCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// RSS returns the server's resident set size in bytes.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseRSS(b)
}

// parseRSS reads the VmRSS line of /proc/<pid>/status.
func parseRSS(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("status: VmRSS line %q", line)
			}
			n, err := strconv.ParseInt(f[0], 10, 44) // 16 EiB in kB
			if err == nil && n < 0 {
				err = errors.New("negative")
			}
			if err != nil {
				return 0, fmt.Errorf("status: VmRSS %q: %w", f[0], err)
			}
			return n << 10, nil
		}
	}
	return 0, errors.New("status: no VmRSS line")
}

// Mem asks the server for a memory report (SIGUSR1) and waits for it.
func (p *Process) Mem() (peer.Mem, error) {
	var m peer.Mem
	err := p.report(syscall.SIGUSR1, "mem ", "memory report", &m)
	return m, err
}

// StartPush starts the server's push loop (SIGHUP): its schedule starts
// now, so that clients connected before see every tick.
func (p *Process) StartPush() error { return p.cmd.Process.Signal(syscall.SIGHUP) }

// Ticks asks the server for its push schedule and the ticks due and sent
// so far (SIGUSR2) and waits for the report.
func (p *Process) Ticks() (peer.Ticks, error) {
	var t peer.Ticks
	err := p.report(syscall.SIGUSR2, "ticks ", "ticks report", &t)
	if err == nil && t.PeriodNS <= 0 {
		err = fmt.Errorf("%s: ticks report with period %d", p.Name, t.PeriodNS)
	}
	return t, err
}

// report sends sig and decodes the JSON of the first line after prefix.
func (p *Process) report(sig syscall.Signal, prefix, what string, v any) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-p.lines:
			if s, ok := strings.CutPrefix(line, prefix); ok {
				if err := json.Unmarshal([]byte(s), v); err != nil {
					return fmt.Errorf("%s: %s %q: %w", p.Name, what, s, err)
				}
				return nil
			}
		case <-timeout:
			return fmt.Errorf("%s: no %s within 10s", p.Name, what)
		}
	}
}
