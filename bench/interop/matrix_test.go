package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	coderws "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// The interop matrix: every client below exchanges text and binary
// messages of each of these sizes with the real wsecho binary, pings it
// (the browser, whose API cannot ping, instead answers the server's
// keepalive pings while idle), and closes with 1000 and a reason of its own
// that both sides check: the client in the server's close frame, the test
// in wsecho's log.
var sizes = []int{0, 125, 126, 65535, 65536, 1 << 20}

func textOf(n int) string {
	return strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", n/36+1)[:n]
}

func binaryOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// echoServer is a running wsecho process.
type echoServer struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	log  lines
}

var listeningLine = regexp.MustCompile(`msg="wsecho listening" addr=(127\.0\.0\.1:\d+)`)

// startEcho builds wsecho with the race detector (a race in the server then
// fails the test through its exit code) and runs it on a free port.
func startEcho(t *testing.T, args ...string) *echoServer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsecho")
	build := exec.Command("go", "build", "-race", "-o", bin, "./cmd/wsecho")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := &echoServer{done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-rate", "0"}, args...)...)
	s.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait(); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.log.Write([]byte(sc.Text() + "\n"))
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("wsecho exited with %v (a data race exits 66)", err)
			}
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			t.Error("wsecho did not exit within 10 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("wsecho log:\n%s", s.log.String())
		}
	})
	select {
	case s.addr = <-addr:
	case err := <-s.done:
		t.Fatalf("wsecho exited before listening: %v\n%s", err, s.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("wsecho did not log its address within 30 s\n%s", s.log.String())
	}
	return s
}

// checkServerSawClose waits for wsecho to log the client's close code and
// reason.
func (s *echoServer) checkServerSawClose(t *testing.T, reason string) {
	t.Helper()
	want := fmt.Sprintf("code=1000 reason=%q", reason)
	if err := waitFor(func() bool { return strings.Contains(s.log.String(), want) }, 10*time.Second); err != nil {
		t.Errorf("wsecho did not log %s: %v", want, err)
	}
}

func TestInteropMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsecho and runs external clients")
	}
	// The page for Chromium comes from its own origin, allow-listed.
	page, err := os.ReadFile(filepath.Join("testdata", "browser.html"))
	if err != nil {
		t.Fatal(err)
	}
	pageSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(pageSrv.Close) // after the parallel subtests
	// Pings every 500 ms: a client that did not answer them would be cut
	// off after a second of silence.
	srv := startEcho(t, "-ping", "500ms", "-origins", pageSrv.URL)
	url := "ws://" + srv.addr + "/echo"

	t.Run("gorilla", func(t *testing.T) { t.Parallel(); gorillaClient(t, srv, url) })
	t.Run("coder", func(t *testing.T) { t.Parallel(); coderClient(t, srv, url) })
	t.Run("python-websockets", func(t *testing.T) { t.Parallel(); pythonClient(t, srv, url) })
	t.Run("node-ws", func(t *testing.T) { t.Parallel(); nodeClient(t, srv, url) })
	t.Run("chromium", func(t *testing.T) { t.Parallel(); chromiumClient(t, srv, url, pageSrv.URL) })
}

func gorillaClient(t *testing.T, srv *echoServer, url string) {
	const reason = "bye from gorilla"
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for _, n := range sizes {
		for _, m := range []struct {
			typ int
			p   []byte
		}{{websocket.TextMessage, []byte(textOf(n))}, {websocket.BinaryMessage, binaryOf(n)}} {
			if err := c.WriteMessage(m.typ, m.p); err != nil {
				t.Fatal(err)
			}
			typ, p, err := c.ReadMessage()
			if err != nil || typ != m.typ || !bytes.Equal(p, m.p) {
				t.Fatalf("echo of type %d, %d bytes: got type %d, %d bytes, %v", m.typ, n, typ, len(p), err)
			}
		}
	}
	pongs := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pongs <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("gorilla-ping"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The pong is handled inside ReadMessage; an echo comes after it.
	if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "after ping" {
		t.Fatalf("after ping: %q, %v", p, err)
	}
	select {
	case p := <-pongs:
		if p != "gorilla-ping" {
			t.Fatalf("pong %q", p)
		}
	default:
		t.Fatal("no pong before the next echo")
	}
	if err := c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, reason)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || ce.Text != reason {
		t.Fatalf("server close: %v", err)
	}
	srv.checkServerSawClose(t, reason)
}

func coderClient(t *testing.T, srv *echoServer, url string) {
	const reason = "bye from coder"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := coderws.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	for _, n := range sizes {
		for _, m := range []struct {
			typ coderws.MessageType
			p   []byte
		}{{coderws.MessageText, []byte(textOf(n))}, {coderws.MessageBinary, binaryOf(n)}} {
			if err := c.Write(ctx, m.typ, m.p); err != nil {
				t.Fatal(err)
			}
			typ, p, err := c.Read(ctx)
			if err != nil || typ != m.typ || !bytes.Equal(p, m.p) {
				t.Fatalf("echo of %v, %d bytes: got %v, %d bytes, %v", m.typ, n, typ, len(p), err)
			}
		}
	}
	// Ping waits for its pong, which only a concurrent Read can take in.
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(ctx) }()
	for range 100 { // until the Ping's frame is surely out, echo something
		if err := c.Write(ctx, coderws.MessageText, []byte("during ping")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.Read(ctx); err != nil || string(p) != "during ping" {
			t.Fatalf("during ping: %q, %v", p, err)
		}
		select {
		case err := <-pinged:
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			goto pinged
		default:
		}
	}
	t.Fatal("no pong")
pinged:
	// coder's Close returns an error unless the server's close carries the
	// same code; the reason is checked on the server's side.
	if err := c.Close(coderws.StatusNormalClosure, reason); err != nil {
		t.Fatalf("Close: %v", err)
	}
	srv.checkServerSawClose(t, reason)
}

func pythonClient(t *testing.T, srv *echoServer, url string) {
	const reason = "bye from python"
	python := "/usr/bin/python3" // Debian's, which python3-websockets serves
	if _, err := os.Stat(python); err != nil {
		python = needTool(t, "python3")
	}
	if err := exec.Command(python, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import websockets (Debian package python3-websockets): %v", python, err)
		}
		t.Skipf("%s cannot import websockets: %v", python, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, filepath.Join("testdata", "echo_client.py"), url, reason).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	srv.checkServerSawClose(t, reason)
}

// npmCI installs the pinned Node packages if node_modules is missing.
var npmOnce struct {
	sync.Once
	err error
	out []byte
}

func nodeClient(t *testing.T, srv *echoServer, url string) {
	const reason = "bye from node"
	node := needTool(t, "node")
	dir := filepath.Join(".", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		npm := needTool(t, "npm")
		npmOnce.Do(func() {
			cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
			cmd.Dir = dir
			npmOnce.out, npmOnce.err = cmd.CombinedOutput()
		})
		if npmOnce.err != nil {
			t.Fatalf("npm ci: %v\n%s", npmOnce.err, npmOnce.out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", url, reason)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	srv.checkServerSawClose(t, reason)
}

func chromiumClient(t *testing.T, srv *echoServer, url, pageURL string) {
	const reason = "bye from chromium"
	chromium := needTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()
	// Idle for 2.5 s: four keepalive pings that the browser must answer.
	expr := fmt.Sprintf("run(%q, %q, 2500)", url, reason)
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("chromium: navigate: %v", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	var got struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
		Clean  bool   `json:"clean"`
	}
	if err := json.Unmarshal([]byte(res), &got); err != nil {
		t.Fatalf("result %q: %v", res, err)
	}
	if !got.OK || got.Code != 1000 || got.Reason != reason || !got.Clean {
		t.Fatalf("chromium saw %+v", got)
	}
	srv.checkServerSawClose(t, reason)
}
