package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The notification URLs, checked by CheckURL and sent by Notifier:
//
//	http://host/path, https://host/path   a JSON POST (see Message)
//	ntfy://[user:pass@]host[:port]/topic  an ntfy message (HTTPS; ?scheme=http for plain HTTP)
//	gotify://host[:port][/path]/token     a Gotify message (HTTPS; ?disabletls=yes for plain HTTP)
//	smtp://[user:pass@]host[:port]/?from=a@example.net&to=b@example.net[,c@…]
//	                                      an e-mail (port 25 by default; 465 is TLS from the start,
//	                                      any other port uses STARTTLS when offered, unless ?starttls=no)
//
// The ntfy, Gotify and smtp forms are those of shoutrrr, so a URL written
// for another tool works here too.

// Message is the JSON body POSTed to an http(s) URL.
type Message struct {
	Rule      string   `json:"rule"`
	State     string   `json:"state"` // "firing" or "resolved"
	Device    string   `json:"device"`
	Sensor    string   `json:"sensor"`
	When      string   `json:"when"`
	Value     *float64 `json:"value"` // the value that crossed (or cleared); null for health rules
	ValueName string   `json:"value_name,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	Since     string   `json:"since"` // RFC 3339, when the episode began
	Time      string   `json:"time"`  // RFC 3339, this transition
	Dashboard string   `json:"dashboard,omitempty"`
	Text      string   `json:"text"` // a line for a person
}

// message builds the Message of ev.
func (n *Notifier) message(ev *Event) Message {
	m := Message{Rule: ev.Rule, State: ev.State(), Device: n.o.Device, Sensor: ev.Sensor, When: ev.When,
		ValueName: ev.Value, Unit: ev.Unit, Since: ev.Since.UTC().Format(time.RFC3339Nano),
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Dashboard: n.o.DashboardURL}
	if ev.Has {
		v := float64(ev.Milli) / 1000
		m.Value = &v
	}
	m.Text = text(&m)
	return m
}

// text is the human line of m, e.g. "frost firing on greenhouse-pi:
// greenhouse.temperature 1.5 °C (greenhouse.temperature < 2)".
func text(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s on %s: ", m.Rule, m.State, m.Device)
	if m.Value != nil {
		fmt.Fprintf(&b, "%s.%s %s", m.Sensor, m.ValueName, strconv.FormatFloat(*m.Value, 'f', -1, 64))
		if m.Unit != "" {
			b.WriteString(" " + m.Unit)
		}
		fmt.Fprintf(&b, " (%s)", m.When)
	} else {
		b.WriteString(m.When)
	}
	return b.String()
}

// permanentError is a refusal that sending again will not change (an
// HTTP 4xx other than 408 and 429).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// CheckURL reports whether raw is a notification URL that a Notifier can
// send to; the error says what is wrong and what is accepted.
func CheckURL(raw string) error {
	_, err := target(raw)
	return err
}

// request is where and how a message goes.
type request struct {
	kind   string // "json", "ntfy", "gotify", "smtp"
	url    string
	user   *url.Userinfo
	header http.Header
	mail   *mailTarget // smtp only
}

const schemes = "http://, https://, ntfy://, gotify:// or smtp://"

func target(raw string) (*request, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("notification URL: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("notification URL %q: no host (want %s)", redact(raw), schemes)
	}
	q := u.Query()
	switch u.Scheme {
	case "http", "https":
		return &request{kind: "json", url: raw}, nil
	case "ntfy":
		topic := strings.Trim(u.Path, "/")
		if topic == "" || strings.Contains(topic, "/") {
			return nil, fmt.Errorf("notification URL %q: want ntfy://[user:pass@]host/topic", redact(raw))
		}
		scheme := "https"
		if s := q.Get("scheme"); s != "" {
			if s != "http" && s != "https" {
				return nil, fmt.Errorf("notification URL %q: scheme=%q: want http or https", redact(raw), s)
			}
			scheme = s
		}
		return &request{kind: "ntfy", url: scheme + "://" + u.Host + "/" + url.PathEscape(topic), user: u.User}, nil
	case "gotify":
		p := strings.Trim(u.Path, "/")
		i := strings.LastIndexByte(p, '/')
		token, base := p[i+1:], p[:max(i, 0)]
		if token == "" {
			return nil, fmt.Errorf("notification URL %q: want gotify://host[/path]/token", redact(raw))
		}
		scheme := "https"
		switch q.Get("disabletls") {
		case "yes", "true", "1":
			scheme = "http"
		case "", "no", "false", "0":
		default:
			return nil, fmt.Errorf("notification URL %q: disabletls=%q: want yes or no", redact(raw), q.Get("disabletls"))
		}
		if base != "" {
			base = "/" + base
		}
		h := http.Header{"X-Gotify-Key": {token}}
		return &request{kind: "gotify", url: scheme + "://" + u.Host + base + "/message", header: h}, nil
	case "smtp":
		mt, err := mailTo(u)
		if err != nil {
			return nil, fmt.Errorf("notification URL %q: %w", redact(raw), err)
		}
		return &request{kind: "smtp", mail: mt}, nil
	}
	return nil, fmt.Errorf("notification URL %q: scheme %q not supported (want %s)", redact(raw), u.Scheme, schemes)
}

// send delivers ev to raw once.
func (n *Notifier) send(ctx context.Context, raw string, ev *Event) error {
	t, err := target(raw)
	if err != nil {
		return &permanentError{err}
	}
	m := n.message(ev)
	if t.kind == "smtp" {
		if err := n.sendMail(ctx, t.mail, &m); err != nil {
			return fmt.Errorf("mail to %s: %w", redact(raw), err)
		}
		return nil
	}
	var (
		body  []byte
		ctype string
	)
	switch t.kind {
	case "json":
		body, _ = json.Marshal(m)
		ctype = "application/json"
	case "ntfy":
		body, ctype = []byte(m.Text), "text/plain; charset=utf-8"
	case "gotify":
		prio := 5
		if !ev.Firing {
			prio = 2
		}
		body, _ = json.Marshal(map[string]any{"title": m.Rule + " " + m.State, "message": m.Text, "priority": prio})
		ctype = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "sensorcast")
	for k, v := range t.header {
		req.Header[k] = v
	}
	if t.kind == "ntfy" {
		req.Header.Set("Title", m.Rule+" "+m.State)
		if ev.Firing {
			req.Header.Set("Tags", "warning")
			req.Header.Set("Priority", "high")
		} else {
			req.Header.Set("Tags", "white_check_mark")
		}
		if m.Dashboard != "" {
			req.Header.Set("Click", m.Dashboard)
		}
		if t.user != nil {
			pass, _ := t.user.Password()
			req.SetBasicAuth(t.user.Username(), pass)
		}
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, which may hold a token
		}
		return fmt.Errorf("post to %s: %w", redact(raw), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("post to %s: %s", redact(raw), resp.Status)
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &permanentError{err}
	}
	return err
}

// redact returns raw without its password, query and, for gotify, token:
// fit for a log line.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.Scheme == "gotify" {
		if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
			u.Path = u.Path[:i+1] + "REDACTED"
		}
	}
	return u.String()
}
