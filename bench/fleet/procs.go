package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process: the broker, the fleet or mosquitto_sub.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop ends the process with SIGTERM, then SIGKILL after 5 s, and waits.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startProc starts cmd, keeps its stderr and stdout (at most 1 MiB of
// lines), and calls line for every line until it returns false.
func startProc(name string, cmd *exec.Cmd, line func(string) bool) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = w
	}
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	w.Close()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		watch := line != nil
		for sc.Scan() {
			p.mu.Lock()
			if p.log.Len() < 1<<20 {
				p.log.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
			if watch {
				watch = line(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, r)
		r.Close()
		_ = cmd.Wait()
	}()
	return p, nil
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Mosquitto is the broker's program (the Debian package's path).
var Mosquitto = "/usr/sbin/mosquitto"

// MosquittoSub is mosquitto_sub, the floor's consumer.
var MosquittoSub = "/usr/bin/mosquitto_sub"

// brokerConf is the broker's configuration: the one the project's tests
// use (bridge/mosquittotest), without persistence, which a benchmark of
// live readings does not exercise.
const brokerConf = `listener %d 127.0.0.1
%sallow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
`

// startBroker runs mosquitto on a free loopback port with its
// configuration in dir and waits until it answers MQTT. The free port is
// closed before mosquitto binds it, so another process may take it
// meanwhile: then a new port is tried.
func startBroker(dir string) (*proc, string, error) {
	for attempt := 1; ; attempt++ {
		p, addr, err := startBrokerOnce(dir)
		if err == nil || !strings.Contains(err.Error(), "Address already in use") || attempt == 3 {
			return p, addr, err
		}
	}
}

func startBrokerOnce(dir string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	userLine := ""
	if u, err := user.Current(); err == nil {
		// As root, mosquitto would otherwise switch to its own user.
		userLine = "user " + u.Username + "\n"
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, brokerConf, port, userLine), 0o600); err != nil {
		return nil, "", err
	}
	p, err := startProc("mosquitto", exec.Command(Mosquitto, "-c", conf), nil)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		err := mqttReady(addr)
		if err == nil {
			return p, addr, nil
		}
		if i == 100 || p.exited() {
			p.stop()
			return nil, "", fmt.Errorf("mosquitto does not answer MQTT on %s: %v\n%s", addr, err, p.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mqttConnect is an MQTT 3.1.1 CONNECT: clean session, keepalive 10 s,
// client ID "ready".
var mqttConnect = []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 5, 'r', 'e', 'a', 'd', 'y'}

// mqttReady reports whether an MQTT broker answers on addr: a CONNECT gets
// a CONNACK. A bare TCP connection would prove nothing: until mosquitto
// listens, a dial from the ephemeral range can connect to itself (and read
// its own CONNECT back), or reach another process that took the port.
func mqttReady(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(mqttConnect); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return err
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return fmt.Errorf("not an MQTT CONNACK: % x", ack)
	}
	c.Write([]byte{0xe0, 0}) // DISCONNECT
	return nil
}

// ErrNoStart reports a fleet that exited or stayed silent before serving.
var ErrNoStart = errors.New("sensorcast fleet did not start")

var fleetStarted = regexp.MustCompile(`msg="sensorcast fleet started".* addr=(127\.0\.0\.1:\d+)`)

// fleetConf lets the benchmark's clients, all on 127.0.0.1, past the
// per-address cap of WebSockets (16 by default: 50 browsers would come
// from 50 addresses).
const fleetConf = "[http]\nmax_websockets_per_ip = %d\nmax_websockets = %d\n"

// startFleet runs `bin fleet` against the broker and returns it with the
// address it serves on.
func startFleet(bin, dir, broker, prefix string, clients int) (*proc, string, error) {
	conf := filepath.Join(dir, "fleet.toml")
	toml := fmt.Appendf(nil, fleetConf+"\n[mqtt]\nbroker = %q\nprefix = %q\n",
		clients+16, max(1024, clients+16), "tcp://"+broker, prefix)
	if err := os.WriteFile(conf, toml, 0o644); err != nil {
		return nil, "", err
	}
	addrc := make(chan string, 1)
	cmd := exec.Command(bin, "fleet", "-config", conf, "-mqtt", "tcp://"+broker, "-listen", "127.0.0.1:0",
		"-state", filepath.Join(dir, "state"))
	p, err := startProc("fleet", cmd, func(l string) bool {
		if m := fleetStarted.FindStringSubmatch(l); m != nil {
			addrc <- m[1]
			return false
		}
		return true
	})
	if err != nil {
		return nil, "", err
	}
	select {
	case a := <-addrc:
		return p, a, nil
	case <-p.done:
	case <-time.After(20 * time.Second):
	}
	p.stop()
	return nil, "", fmt.Errorf("%w: %s", ErrNoStart, p.logText())
}
