package bridge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// paho reads an inbound packet's fixed header and then allocates its whole
// remaining length at once: a broker that sends a retained 200 MB message
// makes the client allocate 200 MB. It has no option to refuse large
// packets, so the bridge opens the connection itself (as paho would) and
// reads it through a limitConn, which follows the MQTT framing and fails
// the read before paho sees the length of a packet over the limit.

// ErrPacketTooBig is the error of a read that met an inbound packet over
// the configured max_packet_size; the connection is closed.
var ErrPacketTooBig = errors.New("mqtt: inbound packet over max_packet_size")

// Bounds of Config.MaxPacketSize. The minimum leaves room for the
// bridge's own discovery configs, which it reads back from the broker.
const (
	DefaultMaxPacketSize = 256 << 10
	MinMaxPacketSize     = 16 << 10
	MaxMaxPacketSize     = 268435455 // the largest remaining length MQTT can encode
)

// oversize describes a refused packet.
type oversize struct {
	kind  byte   // the packet type, 1…15
	size  int64  // its remaining length, as far as decoded (at least)
	topic string // a PUBLISH's topic, when it could be read
}

// packetNames are the MQTT control packet types, for logs.
var packetNames = [16]string{"reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// limitConn is a net.Conn whose Read follows the MQTT framing of the bytes
// it passes on and refuses a packet whose remaining length is over max: it
// returns the bytes before the header's last length byte (so the reader
// never learns the length, and never allocates it), closes the connection
// and fails every later read with ErrPacketTooBig. refused is called once,
// from the reading goroutine.
type limitConn struct {
	net.Conn
	max     int64
	refused func(oversize)

	state  int8  // 0: next byte is a packet type, 1: in the length, 2: in the body
	kind   byte  // the current packet's type
	length int64 // the length decoded so far
	nlen   int   // length bytes read
	body   int64 // body bytes still to pass on
	err    error
}

// Read passes on the connection's bytes, checking each packet's length.
func (c *limitConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	for i := 0; i < n; {
		switch c.state {
		case 2:
			k := min(int64(n-i), c.body)
			i += int(k)
			c.body -= k
			if c.body == 0 {
				c.state = 0
			}
		case 0:
			c.kind = p[i] >> 4
			c.length, c.nlen, c.state = 0, 0, 1
			i++
		case 1:
			b := p[i]
			c.length |= int64(b&0x7f) << (7 * c.nlen)
			c.nlen++
			more := b&0x80 != 0
			if c.length > c.max || (more && c.nlen == 4) {
				// Over the limit (a partial length is a lower bound), or
				// a malformed fifth length byte: refuse the packet.
				return i, c.refuse(p[i+1:n], !more)
			}
			i++
			if !more {
				c.body, c.state = c.length, 2
				if c.body == 0 {
					c.state = 0
				}
			}
		}
	}
	return n, err
}

// refuse records the refusal, reads a PUBLISH's topic for the log when
// it comes at once, closes the connection and returns ErrPacketTooBig.
// rest are the bytes read after the refused length byte; lenDone says
// whether that byte was the length's last.
func (c *limitConn) refuse(rest []byte, lenDone bool) error {
	o := oversize{kind: c.kind, size: c.length}
	if c.kind == 3 && c.length > c.max {
		o.topic = c.readTopic(rest, lenDone)
	}
	c.err = fmt.Errorf("%w: a %s of at least %d bytes, over %d", ErrPacketTooBig, packetNames[c.kind], c.length, c.max)
	c.Conn.Close()
	if c.refused != nil {
		c.refused(o)
	}
	return c.err
}

// readTopic reads a refused PUBLISH's topic (the rest of its length
// field, two length bytes, then at most 64 KiB), starting with the bytes
// already read; "" if it does not come within a second.
func (c *limitConn) readTopic(have []byte, lenDone bool) string {
	c.Conn.SetReadDeadline(time.Now().Add(time.Second))
	defer c.Conn.SetReadDeadline(time.Time{})
	var one [1]byte
	next := func() (byte, bool) {
		if len(have) > 0 {
			b := have[0]
			have = have[1:]
			return b, true
		}
		if _, err := io.ReadFull(c.Conn, one[:]); err != nil {
			return 0, false
		}
		return one[0], true
	}
	for n := c.nlen; !lenDone; n++ {
		b, ok := next()
		if !ok || n == 4 {
			return ""
		}
		lenDone = b&0x80 == 0
	}
	hi, ok1 := next()
	lo, ok2 := next()
	if !ok1 || !ok2 {
		return ""
	}
	t := make([]byte, int(hi)<<8|int(lo))
	k := copy(t, have)
	if _, err := io.ReadFull(c.Conn, t[k:]); err != nil {
		return ""
	}
	return string(t)
}

// openConn opens the connection to the broker as paho's own opener does
// (tcp and mqtt through a proxy from the environment, TLS, WebSocket), and
// wraps it in a limitConn.
func openConn(max int64, refused func(oversize)) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		conn, err := dial(uri, o)
		if err != nil {
			return nil, err
		}
		return &limitConn{Conn: conn, max: max, refused: refused}, nil
	}
}

func dial(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	switch uri.Scheme {
	case "ws", "wss":
		u := *uri
		u.User = nil
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		return paho.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	case "mqtt", "tcp":
		return proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "tcps":
		if os.Getenv("all_proxy") == "" {
			return tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
		}
		conn, err := proxy.FromEnvironment().Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, o.TLSConfig)
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
	return nil, fmt.Errorf("mqtt: unknown scheme %q", uri.Scheme)
}
