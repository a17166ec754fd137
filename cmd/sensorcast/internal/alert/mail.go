package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// mailTarget is an smtp:// notification URL, checked.
type mailTarget struct {
	host, port string
	user, pass string
	from       string
	to         []string
	starttls   bool // use STARTTLS when the server offers it
	implicit   bool // TLS from the start (port 465)
}

// mailTo checks an smtp:// URL.
func mailTo(u *url.URL) (*mailTarget, error) {
	q := u.Query()
	t := &mailTarget{host: u.Hostname(), port: u.Port(), starttls: true}
	if t.port == "" {
		t.port = "25"
	}
	t.implicit = t.port == "465"
	if u.User != nil {
		t.user = u.User.Username()
		t.pass, _ = u.User.Password()
	}
	switch q.Get("starttls") {
	case "", "yes", "true", "1":
	case "no", "false", "0":
		t.starttls = false
	default:
		return nil, fmt.Errorf("starttls=%q: want yes or no", q.Get("starttls"))
	}
	from, err := mail.ParseAddress(q.Get("from"))
	if err != nil {
		return nil, fmt.Errorf("from=%q: want an e-mail address (smtp://host/?from=a@example.net&to=b@example.net)", q.Get("from"))
	}
	t.from = from.Address
	for _, a := range strings.Split(q.Get("to"), ",") {
		to, err := mail.ParseAddress(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("to=%q: want e-mail addresses separated by commas", q.Get("to"))
		}
		t.to = append(t.to, to.Address)
	}
	return t, nil
}

// sendMail sends m as an e-mail. A 5xx answer is a permanent refusal.
func (n *Notifier) sendMail(ctx context.Context, t *mailTarget, m *Message) error {
	timeout := DefaultTimeout
	if n.o.Client != nil && n.o.Client.Timeout > 0 {
		timeout = n.o.Client.Timeout
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.host, t.port))
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	tc := &tls.Config{ServerName: t.host}
	if t.implicit {
		conn = tls.Client(conn, tc)
	}
	c, err := smtp.NewClient(conn, t.host)
	if err != nil {
		conn.Close()
		return smtpErr(err)
	}
	defer c.Close()
	if err := c.Hello("sensorcast"); err != nil {
		return smtpErr(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && t.starttls && !t.implicit {
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if t.user != "" {
		// PlainAuth refuses to send the password without TLS, except to
		// localhost.
		if err := c.Auth(smtp.PlainAuth("", t.user, t.pass, t.host)); err != nil {
			return smtpErr(err)
		}
	}
	if err := c.Mail(t.from); err != nil {
		return smtpErr(err)
	}
	for _, to := range t.to {
		if err := c.Rcpt(to); err != nil {
			return smtpErr(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(err)
	}
	if _, err := w.Write(mailBody(t, m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return smtpErr(err)
	}
	return smtpErr(c.Quit())
}

// smtpErr marks a 5xx answer permanent.
func smtpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &permanentError{err}
	}
	return err
}

// mailBody is the message: headers, then the line and the details.
func mailBody(t *mailTarget, m *Message) []byte {
	var b strings.Builder
	subject := "[sensorcast] " + m.Rule + " " + m.State + " on " + m.Device
	fmt.Fprintf(&b, "From: sensorcast <%s>\r\n", t.from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(t.to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(m.Text + "\r\n\r\n")
	fmt.Fprintf(&b, "Rule: %s\r\nState: %s\r\nCondition: %s\r\nSince: %s\r\nTime: %s\r\n", m.Rule, m.State, m.When, m.Since, m.Time)
	if m.Dashboard != "" {
		fmt.Fprintf(&b, "Dashboard: %s\r\n", m.Dashboard)
	}
	return []byte(b.String())
}
