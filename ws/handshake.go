package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// keyGUID is the fixed suffix of RFC 6455 §4.2.2 step 5.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// ServeHTTP performs the opening handshake (RFC 6455 §4.2) and, on success,
// hijacks the connection and starts its reader goroutine.
//
// It answers 405 to methods other than GET, 400 to a request that is not an
// HTTP/1.1 upgrade to websocket or lacks exactly one valid
// Sec-WebSocket-Key, 426 (with Sec-WebSocket-Version: 13) to other protocol
// versions, 403 to a foreign Origin, and 503 during Shutdown or above
// MaxConns. Options.Admit, if set, is asked first and may answer instead. Extensions and subprotocols offered by the client are declined by
// not echoing them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var release func()
	if admit := s.opts.Admit; admit != nil {
		rel, ok := admit(w, r)
		if !ok {
			s.stats.rejected.Add(1)
			s.stats.refused.Add(1)
			s.log.Debug("ws: handshake refused by Admit", "remote", r.RemoteAddr)
			return
		}
		release = rel
	}
	key, status, msg := checkUpgrade(r)
	if status == http.StatusOK && !s.originAllowed(r) {
		status, msg = http.StatusForbidden, "ws: origin not allowed"
	}
	if status == http.StatusOK {
		if s.isShutdown() {
			status, msg = http.StatusServiceUnavailable, "ws: server shutting down"
		} else if s.reserved.Add(1) > int64(s.opts.MaxConns) {
			s.reserved.Add(-1)
			status, msg = http.StatusServiceUnavailable, "ws: too many connections"
		}
	}
	if status != http.StatusOK {
		if release != nil {
			release()
		}
		s.stats.rejected.Add(1)
		switch status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", http.MethodGet)
		case http.StatusUpgradeRequired:
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		s.log.Debug("ws: handshake rejected", "remote", r.RemoteAddr, "status", status, "reason", msg)
		http.Error(w, msg, status)
		return
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.reserved.Add(-1)
		if release != nil {
			release()
		}
		s.stats.rejected.Add(1)
		s.log.Debug("ws: hijack failed", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "ws: cannot hijack the connection", http.StatusInternalServerError)
		return
	}
	if rc, ok := nc.(*replayConn); ok && len(rc.replay) == 0 {
		// A connection Intercept handed to net/http, its replayed bytes
		// read: use the socket itself, whose writev (net.Buffers) and
		// raw access the wrapper would hide.
		nc = rc.Conn
	}
	var leftover []byte
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent after its request (its first frames) may
		// already sit in net/http's bufio.Reader (golang/go#32314).
		leftover, _ = brw.Reader.Peek(n)
	}
	s.finishUpgrade(nc, s.pickSubprotocol(r.Header.Values("Sec-WebSocket-Protocol")...), key, leftover, release)
}

// finishUpgrade takes over nc once its upgrade request has been accepted
// (and a MaxConns slot reserved), with key its Sec-WebSocket-Key and
// subprotocol the one chosen ("" for none): it moves leftover, the bytes
// the client sent after its request, into the read array, writes the 101
// response and opens the connection.
func (s *Server) finishUpgrade(nc net.Conn, subprotocol, key string, leftover []byte, release func()) {
	c := s.newConn(nc)
	c.release = release
	c.subprotocol = subprotocol
	if n := len(leftover); n > 0 {
		if n > s.rcap {
			c.dropReadArray()
			s.abortHandshake(nc, "too many bytes before the handshake completed", release)
			return
		}
		c.takeReadBuf()
		c.w = copy(c.rbuf, leftover)
	}

	// net/http may have left its own deadlines on the connection.
	_ = nc.SetReadDeadline(time.Time{})
	_ = nc.SetWriteDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	var accept [28]byte
	acceptKey(&accept, key)
	var buf [256]byte
	resp := append(buf[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = append(resp, accept[:]...)
	if c.subprotocol != "" {
		resp = append(resp, "\r\nSec-WebSocket-Protocol: "...)
		resp = append(resp, c.subprotocol...)
	}
	resp = append(resp, "\r\n\r\n"...)
	if _, err := nc.Write(resp); err != nil {
		c.dropReadArray()
		s.abortHandshake(nc, "write 101 response: "+err.Error(), release)
		return
	}
	_ = nc.SetWriteDeadline(time.Time{})
	s.open(c)
}

// abortHandshake drops a hijacked connection before it joined the server.
func (s *Server) abortHandshake(nc interface{ Close() error }, why string, release func()) {
	_ = nc.Close()
	s.reserved.Add(-1)
	if release != nil {
		release()
	}
	s.stats.rejected.Add(1)
	s.log.Debug("ws: handshake aborted", "reason", why)
}

// checkUpgrade validates the upgrade request and returns the client's key,
// or an HTTP status other than 200 and a message.
func checkUpgrade(r *http.Request) (key string, status int, msg string) {
	if r.Method != http.MethodGet {
		return "", http.StatusMethodNotAllowed, "ws: method not allowed"
	}
	if r.ProtoMajor != 1 || !r.ProtoAtLeast(1, 1) {
		return "", http.StatusBadRequest, "ws: HTTP/1.1 required"
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "", http.StatusBadRequest, "ws: missing Connection: upgrade"
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "", http.StatusBadRequest, "ws: missing Upgrade: websocket"
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", http.StatusUpgradeRequired, "ws: unsupported Sec-WebSocket-Version"
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 || !validKey(keys[0]) {
		return "", http.StatusBadRequest, "ws: invalid Sec-WebSocket-Key"
	}
	return keys[0], http.StatusOK, ""
}

// validKey reports whether k is the base64 encoding of 16 bytes.
func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	var in [24]byte
	var out [18]byte
	copy(in[:], k)
	n, err := base64.StdEncoding.Strict().Decode(out[:], in[:])
	return err == nil && n == 16
}

// acceptKey computes Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptKey(dst *[28]byte, key string) {
	var b [24 + len(keyGUID)]byte
	n := copy(b[:], key)
	n += copy(b[n:], keyGUID)
	sum := sha1.Sum(b[:n])
	base64.StdEncoding.Encode(dst[:], sum[:])
}

// pickSubprotocol returns the first of Options.Subprotocols that the
// client offers (tokens compare case-sensitively, RFC 6455 §4.2.2), or "".
func (s *Server) pickSubprotocol(offered ...string) string {
	if len(s.opts.Subprotocols) == 0 {
		return ""
	}
	for _, want := range s.opts.Subprotocols {
		for _, v := range offered {
			for t := range strings.SplitSeq(v, ",") {
				if strings.Trim(t, " \t") == want {
					return want
				}
			}
		}
	}
	return ""
}

// headerHasToken reports whether any value of header name contains token
// in its comma-separated list, compared without regard to case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		if tokenListHas(v, token) {
			return true
		}
	}
	return false
}

// tokenListHas reports whether the comma-separated list v contains token,
// compared without regard to case.
func tokenListHas(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}

// originAllowed applies the Origin policy: no Origin (not a browser) is
// allowed; otherwise the Origin must be listed in AllowedOrigins or name the
// same host as the request (case-insensitive).
//
// http.CrossOriginProtection does not help here: it always lets GET through,
// and the WebSocket upgrade is a GET.
func (s *Server) originAllowed(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return true
	case 1:
	default:
		return false
	}
	return s.originOK(origins[0], r.Host)
}

// originOK reports whether the Origin o is allowed for a request to host.
func (s *Server) originOK(o, host string) bool {
	for _, a := range s.opts.AllowedOrigins {
		if strings.EqualFold(a, o) {
			return true
		}
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
