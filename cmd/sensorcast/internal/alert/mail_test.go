package alert

import (
	"mime"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianPython is Debian's own Python, which has python3-aiosmtpd.
const debianPython = "/usr/bin/python3"

// smtpServer starts Debian's aiosmtpd on loopback, keeping each message
// it receives in a Maildir; it returns the address and the Maildir.
func smtpServer(t *testing.T) (addr, maildir string) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-aiosmtpd is missing; CI must run the e-mail test (.ci/run installs it): %v", err)
		}
		t.Skipf("python3-aiosmtpd is missing: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	maildir = filepath.Join(t.TempDir(), "mail")
	cmd := exec.Command(debianPython, "-m", "aiosmtpd", "-n", "-l", addr, "-c", "aiosmtpd.handlers.Mailbox", maildir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, maildir
		}
		if i > 500 {
			t.Fatalf("aiosmtpd not listening on %s after 10 s: %s", addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMailWithAiosmtpd(t *testing.T) {
	addr, maildir := smtpServer(t)
	n := runNotifier(t, &NotifierOptions{Device: "greenhouse-pi", DashboardURL: "http://greenhouse-pi:8080/", RetryMin: 10 * time.Millisecond})
	to := url.QueryEscape("me@example.net,you@example.net")
	n.Enqueue(frostEvent, []string{"smtp://" + addr + "/?from=pi@example.net&to=" + to})
	for i := 0; n.Stats().Sent == 0; i++ {
		if i > 1000 {
			t.Fatalf("not sent: %+v", n.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if len(files) != 1 {
		t.Fatalf("%d messages in the Maildir, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	msg := string(b)
	head, body, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	var subject string
	for _, l := range strings.Split(head, "\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject, _ = new(mime.WordDecoder).DecodeHeader(s)
		}
	}
	if subject != "[sensorcast] frost firing on greenhouse-pi" {
		t.Errorf("subject %q in\n%s", subject, msg)
	}
	for _, want := range []string{"From: sensorcast <pi@example.net>", "To: me@example.net, you@example.net", "X-RcptTo: me@example.net, you@example.net"} {
		if !strings.Contains(head, want) {
			t.Errorf("no %q in the head:\n%s", want, head)
		}
	}
	if !strings.HasPrefix(body, "frost firing on greenhouse-pi: greenhouse.temperature 1.5 °C (greenhouse.temperature < 2)") ||
		!strings.Contains(body, "Dashboard: http://greenhouse-pi:8080/") {
		t.Errorf("body:\n%s", body)
	}
}

func TestMailURLErrors(t *testing.T) {
	for in, want := range map[string]string{
		"smtp://host/?to=a@example.net":                      `from=""`,
		"smtp://host/?from=a@example.net":                    `to=""`,
		"smtp://host/?from=a@example.net&to=nobody":          `to="nobody"`,
		"smtp://host/?from=a@example.net&to=b@x&starttls=hm": `starttls="hm"`,
	} {
		if err := CheckURL(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckURL(%q) = %v, want %q", in, err, want)
		}
	}
	if err := CheckURL("smtp://u:p@mail.example.net:587/?from=pi@example.net&to=me@example.net"); err != nil {
		t.Error(err)
	}
}
