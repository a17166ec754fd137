package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/tlscert"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

// binProc is a running sensorcast binary whose log is kept.
type binProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

func (p *binProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLog waits until re matches a log line written after offset from (a
// length of logs()), and returns its submatches.
func (p *binProc) waitLog(t *testing.T, re *regexp.Regexp, from int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l := p.logs()
		if m := re.FindStringSubmatch(l[min(from, len(l)):]); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("sensorcast exited (%v) before logging %s:\n%s", p.err, re, l)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %s within %v:\n%s", re, within, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive fails t if the process has exited.
func (p *binProc) alive(t *testing.T, when string) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("%s: sensorcast died (%v):\n%s", when, p.err, p.logs())
	default:
	}
}

// startBin runs bin with args; it is stopped with SIGTERM at cleanup,
// which must make it exit cleanly.
func startBin(t *testing.T, bin string, args ...string) (*binProc, string) {
	t.Helper()
	p := &binProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("sensorcast exited with %v after SIGTERM:\n%s", p.err, p.logs())
			}
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("sensorcast did not exit within 10 s of SIGTERM")
		}
	})
	m := p.waitLog(t, addrRE, 0, 20*time.Second)
	return p, m[1]
}

var (
	fingerprintRE = regexp.MustCompile(`sha256="?([^"\s]+)"? spki_sha256="?([^"\s]+)`)
	httpsURLRE    = regexp.MustCompile(`url="?(https://[^"\s]+/\?token=([^"\s]+))`)
)

// writeConfig writes a config with a 50 ms simulated sensor and the [http]
// table given, and returns its path.
func writeConfig(t *testing.T, httpTable string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte("device = \"tls\"\n[[sensor]]\ndriver = \"sim\"\ninterval = \"50ms\"\n\n[http]\n"+httpTable), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// served returns the SHA-256 fingerprint (browser form) of the
// certificate served at addr.
func served(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// wssDial opens the stream over TLS trusting pool, with header, on the
// fast path or (pad: a 5,000-byte header) through net/http, with the
// Host given.
func wssDial(t *testing.T, addr, host string, pool *x509.CertPool, header http.Header, pad bool) (*wstest.Conn, *http.Response, error) {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		return nil, nil, err
	}
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if pad {
		h.Set("X-Pad", strings.Repeat("p", 5000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := wstest.Handshake(ctx, nc, "ws://"+host+"/ws", h)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	t.Cleanup(func() { nc.Close() })
	return c, resp, nil
}

// readings reads n messages of type reading from c.
func readings(t *testing.T, c *wstest.Conn, n int) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for got := 0; got < n; {
		b, err := c.ReadText()
		if err != nil {
			t.Fatalf("after %d readings: %v", got, err)
		}
		if bytes.Contains(b, []byte(`"type":"reading"`)) {
			got++
		}
	}
}

func TestTLSConfig(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[http]\ntls = \"yes\"\n", `test.toml:2: key "http.tls": "yes": want "self-signed" or "off"`},
		{"[http]\ncert_file = \"a.crt\"\n", `test.toml:2: key "http.cert_file": cert_file and key_file go together`},
		{"[http]\nkey_file = \"a.key\"\n", `test.toml:2: key "http.key_file": cert_file and key_file go together`},
		{"[http]\ntls = \"self-signed\"\ncert_file = \"a.crt\"\nkey_file = \"a.key\"\n", `test.toml:2: key "http.tls": "self-signed" with cert_file and key_file`},
	} {
		if _, err := parseConfig("test.toml", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
	for src, want := range map[string]string{
		"":                                "off",
		"[http]\ntls = \"off\"\n":         "off",
		"[http]\ntls = \"self-signed\"\n": "self-signed",
		"[http]\ncert_file = \"a\"\nkey_file = \"b\"\n":             "files",
		"[http]\ntls = \"\"\ncert_file = \"a\"\nkey_file = \"b\"\n": "files",
	} {
		c, err := parseConfig("test.toml", []byte(src))
		if err != nil || c.HTTP.tlsMode() != want {
			t.Errorf("%q: %v %v, want %s", src, c, err, want)
		}
	}
	if got := secureURL("http://pi:8080/?token=x", true); got != "https://pi:8080/?token=x" {
		t.Errorf("secureURL = %s", got)
	}
	if got := secureURL("http://pi:8080/?token=x", false); got != "http://pi:8080/?token=x" {
		t.Errorf("secureURL = %s", got)
	}
}

// TestTLS runs the binary with tls = "self-signed", then with cert_file
// and key_file and a SIGHUP, and reaches it with Go, curl, and Python's
// websockets library, each trusting the certificate.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildSensorcast(t)

	t.Run("self-signed", func(t *testing.T) {
		cfg := writeConfig(t, "tls = \"self-signed\"\ntrust_loopback = false\n")
		state := filepath.Join(t.TempDir(), "state")
		p, addr := startBin(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", state)
		m := p.waitLog(t, fingerprintRE, 0, 5*time.Second)
		fp, spki := m[1], m[2]
		if !strings.Contains(p.logs(), "made a self-signed certificate") {
			t.Errorf("first start does not say it made the certificate:\n%s", p.logs())
		}
		u := p.waitLog(t, httpsURLRE, 0, 5*time.Second)
		tok := u[2]
		if got := served(t, addr); got != fp {
			t.Fatalf("served fingerprint %s, logged %s", got, fp)
		}
		for _, f := range []string{tlscert.CertFile, tlscert.KeyFile} {
			if fi, err := os.Lstat(filepath.Join(state, f)); err != nil || fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
				t.Errorf("%s: %v %v", f, fi, err)
			}
		}
		certPEM, _ := os.ReadFile(filepath.Join(state, tlscert.CertFile))
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(certPEM) {
			t.Fatal("no certificate in the state directory")
		}
		blk, _ := pem.Decode(certPEM)
		leaf, _ := x509.ParseCertificate(blk.Bytes)
		host, _ := os.Hostname()
		for _, name := range []string{host, "localhost", "127.0.0.1"} {
			if err := leaf.VerifyHostname(name); err != nil {
				t.Errorf("certificate: %v", err)
			}
		}
		_, port, _ := net.SplitHostPort(addr)

		// Go, trusting the certificate: the token is needed over TLS too.
		cl := &http.Client{
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		defer cl.CloseIdleConnections()
		get := func(path string, hdr http.Header) (*http.Response, string) {
			req, _ := http.NewRequest("GET", "https://localhost:"+port+path, nil)
			req.Header = hdr
			tr := cl.Transport.(*http.Transport)
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		if resp, body := get("/api/sensors", nil); resp.StatusCode != 401 {
			t.Errorf("no token over TLS: %d %s", resp.StatusCode, body)
		}
		if resp, body := get("/api/sensors", http.Header{"Authorization": {"Bearer " + tok}}); resp.StatusCode != 200 || !strings.Contains(body, `"sim"`) {
			t.Errorf("token over TLS: %d %s", resp.StatusCode, body)
		}
		resp, _ := get("/?token="+tok, nil)
		if c := resp.Header.Get("Set-Cookie"); resp.StatusCode != 303 || !strings.Contains(c, "; Secure") || !strings.Contains(c, "HttpOnly") {
			t.Errorf("?token= over TLS: %d, Set-Cookie %q, want a Secure cookie", resp.StatusCode, c)
		}
		if resp, body := get("/", http.Header{"Authorization": {"Bearer " + tok}}); resp.StatusCode != 200 || !strings.Contains(body, "<html") {
			t.Errorf("page over TLS: %d", resp.StatusCode)
		}

		// The stream over TLS, on both upgrade paths: admitted with the
		// token, refused without it or with a rebinding Host.
		for _, pad := range []bool{false, true} {
			c, resp, err := wssDial(t, addr, "localhost", pool, http.Header{"Authorization": {"Bearer " + tok}}, pad)
			if err != nil {
				t.Fatalf("wss (pad %v): %v %v", pad, err, resp)
			}
			readings(t, c, 3)
			if _, resp, err := wssDial(t, addr, "localhost", pool, nil, pad); err == nil || resp == nil || resp.StatusCode != 401 {
				t.Errorf("wss without the token (pad %v): %v %v", pad, err, resp)
			}
			if _, resp, err := wssDial(t, addr, "evil.example", pool, http.Header{"Authorization": {"Bearer " + tok}}, pad); err == nil || resp == nil || resp.StatusCode != 421 {
				t.Errorf("wss with a rebinding Host (pad %v): %v %v", pad, err, resp)
			}
		}

		// Plain HTTP to the TLS port gets nothing.
		if resp, err := http.Get("http://" + addr + "/api/sensors"); err == nil {
			resp.Body.Close()
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}

		// curl, trusting the certificate file, then pinning its key.
		if curl, err := exec.LookPath("curl"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("curl is missing: .ci/run must install it")
			}
			t.Log("SKIPPED curl: not installed")
		} else {
			resolve := "localhost:" + port + ":127.0.0.1"
			url := "https://localhost:" + port + "/api/sensors"
			out, err := exec.Command(curl, "-sS", "--fail", "--resolve", resolve, "--cacert", filepath.Join(state, tlscert.CertFile),
				"-H", "Authorization: Bearer "+tok, url).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"sim"`) {
				t.Errorf("curl --cacert: %v\n%s", err, out)
			}
			out, err = exec.Command(curl, "-sS", "--fail", "-k", "--pinnedpubkey", "sha256//"+spki, "--resolve", resolve,
				"-H", "Authorization: Bearer "+tok, url).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"sim"`) {
				t.Errorf("curl --pinnedpubkey: %v\n%s", err, out)
			}
			// Without trusting it, curl refuses the certificate.
			cmd := exec.Command(curl, "-sS", "--resolve", resolve, url)
			cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+filepath.Join(t.TempDir(), "none"))
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Errorf("curl without the certificate succeeded:\n%s", out)
			}
		}

		// Python's websockets with an SSL context, on both paths.
		pythonWSS(t, port, filepath.Join(state, tlscert.CertFile), tok)

		// sensorcast token -url prints the https URL.
		var out bytes.Buffer
		stdout = &out
		defer func() { stdout = os.Stdout }()
		if err := run(context.Background(), []string{"token", "-url", "-state", state, "-config", cfg}, io.Discard); err != nil ||
			!strings.HasPrefix(out.String(), "https://") || !strings.Contains(out.String(), "token="+tok) {
			t.Errorf("sensorcast token -url: %q %v", out.String(), err)
		}

		// A second start serves the same certificate.
		p2, addr2 := startBin(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", state)
		if m := p2.waitLog(t, fingerprintRE, 0, 5*time.Second); m[1] != fp || served(t, addr2) != fp {
			t.Errorf("second start: fingerprint %s, want %s", m[1], fp)
		}
		if strings.Contains(p2.logs(), "made a self-signed") {
			t.Errorf("second start made a new certificate:\n%s", p2.logs())
		}
	})

	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		mk := func(name string) (string, string, *tlscert.Source) {
			d := filepath.Join(dir, name)
			s, _, err := tlscert.SelfSigned(d, []string{name, "localhost"}, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return filepath.Join(d, tlscert.CertFile), filepath.Join(d, tlscert.KeyFile), s
		}
		certA, keyA, a := mk("a.example")
		certB, keyB, b := mk("b.example")
		certFile, keyFile := filepath.Join(dir, "live.crt"), filepath.Join(dir, "live.key")
		link := func(cert, key string) {
			os.Remove(certFile)
			os.Remove(keyFile)
			os.Symlink(cert, certFile)
			os.Symlink(key, keyFile)
		}
		link(certA, keyA)
		cfg := writeConfig(t, "cert_file = \""+certFile+"\"\nkey_file = \""+keyFile+"\"\n")
		p, addr := startBin(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "state"))
		if got := served(t, addr); got != a.Fingerprint() {
			t.Fatalf("served %s, want a's %s", got, a.Fingerprint())
		}
		pool := x509.NewCertPool()
		pool.AddCert(a.Leaf())
		old, resp, err := wssDial(t, addr, "localhost", pool, nil, false)
		if err != nil {
			t.Fatalf("wss: %v %v", err, resp)
		}
		readings(t, old, 2)

		// A renewed certificate, then SIGHUP: new handshakes get it, the
		// open stream goes on.
		link(certB, keyB)
		n := len(p.logs())
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog(t, regexp.MustCompile(`TLS certificate reloaded`), n, 10*time.Second)
		if got := served(t, addr); got != b.Fingerprint() {
			t.Fatalf("after SIGHUP served %s, want b's %s", got, b.Fingerprint())
		}
		readings(t, old, 5)

		// A bad pair at SIGHUP: logged, and b stays.
		link(certA, keyB)
		n = len(p.logs())
		p.cmd.Process.Signal(syscall.SIGHUP)
		p.waitLog(t, regexp.MustCompile(`keeping the current TLS certificate`), n, 10*time.Second)
		if got := served(t, addr); got != b.Fingerprint() {
			t.Fatalf("after a bad SIGHUP served %s, want b's %s", got, b.Fingerprint())
		}
		readings(t, old, 2)
		p.alive(t, "after the SIGHUPs")
	})

	t.Run("bad files", func(t *testing.T) {
		cfg := writeConfig(t, "cert_file = \"/nonexistent/x.crt\"\nkey_file = \"/nonexistent/x.key\"\n")
		out, err := exec.Command(bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", t.TempDir()).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "cert_file") {
			t.Errorf("missing cert_file: %v\n%s", err, out)
		}
	})
}

// pythonWSS connects to the stream with Python's websockets library and an
// SSL context that trusts cafile, on both upgrade paths, and expects
// readings on each.
func pythonWSS(t *testing.T, port, cafile, tok string) {
	t.Helper()
	// Debian's python3-websockets serves the system interpreter.
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import websockets (%v): .ci/run must install python3-websockets", py, err)
		}
		t.Logf("SKIPPED Python websockets: %v", err)
		return
	}
	const script = `
import asyncio, json, ssl, sys
import websockets

port, cafile, tok = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    ctx = ssl.create_default_context(cafile=cafile)
    for pad in ("", "p" * 5000):
        headers = {"Authorization": "Bearer " + tok}
        if pad:
            headers["X-Pad"] = pad
        async with websockets.connect("wss://localhost:%s/ws" % port, ssl=ctx,
                                      extra_headers=headers, open_timeout=10) as ws:
            n = 0
            while n < 3:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg.get("type") == "reading":
                    n += 1
            print("ok", len(pad))
    try:
        async with websockets.connect("wss://localhost:%s/ws" % port, ssl=ctx, open_timeout=10):
            print("admitted without a token")
    except websockets.exceptions.InvalidStatusCode as e:
        print("refused", e.status_code)

asyncio.run(main())
`
	out, err := exec.Command(py, "-c", script, port, cafile, tok).CombinedOutput()
	if err != nil || string(out) != "ok 0\nok 5000\nrefused 401\n" {
		t.Errorf("python websockets: %v\n%s", err, out)
	}
}
