// Package mosquittotest runs a real Mosquitto broker for tests, on a free
// loopback port with its own configuration, persistence directory and,
// optionally, TLS certificates and a password file made by the test.
//
// A missing mosquitto skips the test, except when the environment has
// CI=true: there it fails it, so a broken CI image cannot pass silently.
package mosquittotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths of the Debian package's programs.
var (
	Mosquitto       = "/usr/sbin/mosquitto"
	MosquittoPasswd = "/usr/bin/mosquitto_passwd"
	MosquittoPub    = "/usr/bin/mosquitto_pub"
)

// Require skips t when program is missing, or fails it under CI=true.
func Require(t testing.TB, program string) {
	t.Helper()
	if _, err := os.Stat(program); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v (install the Debian package mosquitto)", program, err)
		}
		t.Skipf("%s not installed: %v", program, err)
	}
}

// Options configures a Broker. A nil *Options gives an anonymous plain TCP
// broker.
type Options struct {
	// Users, when set, turns anonymous access off and allows these
	// user → password pairs (written with mosquitto_passwd).
	Users map[string]string
	// TLS serves TLS with a certificate of PKI (made by NewPKI) instead of
	// plain TCP; with RequireClientCert, clients must present one it signed.
	TLS               *PKI
	RequireClientCert bool
	// Extra is appended to the configuration as it is: for instance a
	// bridge to another broker (a connection section, which must come
	// last, since the options after it are the bridge's).
	Extra string
}

// Broker is a running mosquitto.
type Broker struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port or ssl://127.0.0.1:port
	Dir  string // configuration, persistence and log

	t    testing.TB
	conf string
	log  *os.File

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a broker; it is stopped when the test ends.
func Start(t testing.TB, o *Options) *Broker {
	t.Helper()
	Require(t, Mosquitto)
	if o == nil {
		o = &Options{}
	}
	dir := t.TempDir()
	b := &Broker{t: t, Dir: dir, conf: filepath.Join(dir, "mosquitto.conf")}
	scheme := "tcp"
	var c strings.Builder
	if u, err := user.Current(); err == nil {
		// As root, mosquitto would otherwise switch to its own user and
		// could not read the test's files.
		fmt.Fprintf(&c, "user %s\n", u.Username)
	}
	c.WriteString("persistence true\npersistence_location " + dir + "/\nautosave_interval 1\n")
	c.WriteString("max_queued_messages 100000\nmax_inflight_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	if o.Users != nil {
		Require(t, MosquittoPasswd)
		pw := filepath.Join(dir, "passwd")
		for u, p := range o.Users {
			args := []string{"-b", pw, u, p}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command(MosquittoPasswd, args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
			}
		}
		os.Chmod(pw, 0o600)
		c.WriteString("allow_anonymous false\npassword_file " + pw + "\n")
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if o.TLS != nil {
		scheme = "ssl"
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", o.TLS.CAFile, o.TLS.ServerCert, o.TLS.ServerKey)
		if o.RequireClientCert {
			c.WriteString("require_certificate true\n")
		}
	}
	if o.Extra != "" {
		c.WriteString(strings.TrimSuffix(o.Extra, "\n") + "\n")
	}
	lf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.log = lf
	t.Cleanup(func() {
		b.Stop()
		lf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(lf.Name())
			t.Logf("mosquitto log:\n%s", log)
		}
	})
	// The free port is closed before mosquitto binds it, so another
	// process may take it meanwhile: then mosquitto cannot listen, and a
	// new port is tried.
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		b.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		b.URL = scheme + "://" + b.Addr
		conf := fmt.Sprintf("listener %d 127.0.0.1\n", port) + c.String()
		if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		err := b.start()
		if err == nil {
			return b
		}
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("mosquittotest: port %d was taken meanwhile; another one", port)
	}
}

// errAddrInUse is start's error when mosquitto cannot listen on its port.
var errAddrInUse = errors.New("address already in use")

// startWait bounds how long a broker may take to start listening.
const startWait = 30 * time.Second

// Restart starts the broker again after Stop or Kill, on the same port
// with the same configuration and persisted sessions.
func (b *Broker) Restart() {
	b.t.Helper()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

// start starts mosquitto and returns once its log says it is running,
// which it says after opening its listener. (A TCP connection to the port
// proves nothing: until mosquitto listens, a dial from the ephemeral range
// can connect to itself, or reach another process that took the port.)
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("mosquittotest: start of a running broker")
	}
	fi, err := b.log.Stat()
	if err != nil {
		return err
	}
	from := fi.Size() // this run's log starts here
	cmd := exec.Command(Mosquitto, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.cmd, b.exited = cmd, exited
	deadline := time.Now().Add(startWait)
	for {
		log := b.logFrom(from)
		select {
		case <-exited:
			b.cmd = nil
			log = b.logFrom(from)
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("mosquitto on %s: %w:\n%s", b.Addr, errAddrInUse, log)
			}
			return fmt.Errorf("mosquitto on %s exited at start:\n%s", b.Addr, log)
		default:
		}
		if strings.Contains(log, " running\n") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mosquitto on %s not running after %v:\n%s", b.Addr, startWait, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logFrom returns the broker's log from offset from on.
func (b *Broker) logFrom(from int64) string {
	all, _ := os.ReadFile(b.log.Name())
	if int64(len(all)) < from {
		return ""
	}
	return string(all[from:])
}

// Stop stops the broker cleanly (SIGTERM): it saves its sessions and
// queued messages, as on a planned restart. It is a no-op when stopped.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill stops the broker at once (SIGKILL), as on a crash.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PKI is a certificate authority made for one test, with a server
// certificate for 127.0.0.1 and localhost and a client certificate, all as
// PEM files.
type PKI struct {
	CAFile                 string
	ServerCert, ServerKey  string
	ClientCert, ClientKey  string
	OtherCAFile            string // a second CA that signed nothing here
	ServerName, ClientName string
}

// NewPKI writes a fresh PKI into a temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{ServerName: "localhost", ClientName: "sensorcast-test"}
	caKey, ca := newCA(t, "sensorcast test CA")
	p.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	_, other := newCA(t, "unrelated CA")
	p.OtherCAFile = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	p.ServerCert, p.ServerKey = leaf(t, dir, "server", ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: p.ServerName},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCert, p.ClientKey = leaf(t, dir, "client", ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: p.ClientName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func serialNumber(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newCA(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func leaf(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serialNumber(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: typ, Bytes: der})
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
