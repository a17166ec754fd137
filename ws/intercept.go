package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxInterceptHead is the largest request head Intercept reads itself; a
// longer one (many cookies) goes to net/http, which handles any size.
const maxInterceptHead = 4096

// Intercept returns a listener for an http.Server that serves s at path:
// a connection whose first request is a valid WebSocket upgrade for path is
// upgraded straight from the socket, and every other connection (any other
// request, an upgrade this fast path does not take, a client that sends
// nothing within HandshakeTimeout) is handed to the http.Server through the
// returned listener's Accept, with the bytes already read replayed first.
//
// The result is the same as routing path to s in the http.Server's
// handler, which must still be done (for upgrades that arrive on a
// connection net/http already serves, and for the error responses of
// rejected upgrades), without net/http's per-connection state: net/http
// allocates about 8 KiB of buffers for every connection it serves, which
// a hijacked WebSocket connection leaves as garbage, and for thousands of
// clients that garbage keeps the process's resident memory well above the
// live heap. Intercept reads the request head into a pooled 4 KiB array and
// parses it from one copy of the head, without net/http's request parser
// and its garbage; any request it does not recognise as a plain upgrade
// (see parseUpgradeHead) goes to net/http as it came.
//
// Closing the returned listener closes ln and the connections still being
// read. Intercept starts one goroutine that accepts from ln, and one per
// connection while its first request is read.
func (s *Server) Intercept(ln net.Listener, path string) net.Listener {
	l := &interceptor{
		s:       s,
		ln:      ln,
		prefix:  []byte("GET " + path),
		path:    path,
		handoff: make(chan accepted),
		done:    make(chan struct{}),
		reading: make(map[net.Conn]struct{}),
	}
	go l.acceptLoop()
	return l
}

// accepted is a connection (or an accept error) for the http.Server.
type accepted struct {
	c   net.Conn
	err error
}

type interceptor struct {
	s       *Server
	ln      net.Listener
	prefix  []byte // "GET " + path
	path    string
	handoff chan accepted
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	reading map[net.Conn]struct{} // connections whose first request is being read
	closed  bool
}

var headPool = sync.Pool{New: func() any { b := make([]byte, maxInterceptHead); return &b }}

// Accept returns the next connection for the http.Server.
func (l *interceptor) Accept() (net.Conn, error) {
	select {
	case a := <-l.handoff:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the underlying listener and the connections whose first
// request is still being read.
func (l *interceptor) Close() error {
	err := l.ln.Close()
	l.once.Do(func() { close(l.done) })
	l.mu.Lock()
	l.closed = true
	for c := range l.reading {
		_ = c.Close()
	}
	l.mu.Unlock()
	return err
}

// Addr returns the underlying listener's address.
func (l *interceptor) Addr() net.Addr { return l.ln.Addr() }

func (l *interceptor) acceptLoop() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case l.handoff <- accepted{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		if len(l.reading) >= l.s.opts.MaxHandshakes {
			l.mu.Unlock()
			_ = c.Close()
			l.s.stats.rejected.Add(1)
			l.s.stats.shed.Add(1)
			l.s.log.Debug("ws: connection shed: too many handshakes in progress", "remote", c.RemoteAddr().String())
			continue
		}
		l.reading[c] = struct{}{}
		l.mu.Unlock()
		go l.serve(c)
	}
}

// serve reads nc's first request head and either upgrades it or hands nc
// to the http.Server.
func (l *interceptor) serve(nc net.Conn) {
	bp := headPool.Get().(*[]byte)
	buf := *bp
	n, head, err := l.readHead(nc, buf)
	l.mu.Lock()
	delete(l.reading, nc)
	closed := l.closed
	l.mu.Unlock()
	switch {
	case closed:
		_ = nc.Close()
	case head > 0 && l.upgrade(nc, buf[:head], buf[head:n]):
	case err != nil && n == 0 && !isTimeout(err):
		_ = nc.Close() // gone before sending anything
	default:
		_ = nc.SetReadDeadline(time.Time{})
		var replay []byte
		if n > 0 {
			replay = append([]byte(nil), buf[:n]...)
		}
		select {
		case l.handoff <- accepted{c: &replayConn{Conn: nc, replay: replay}}:
		case <-l.done:
			_ = nc.Close()
		}
	}
	headPool.Put(bp)
}

// readHead reads into buf until the request head ends, the bytes read can
// no longer be "GET path", the array is full, or the read fails. It
// returns the bytes read and the length of the head (0 if it was not read
// whole).
func (l *interceptor) readHead(nc net.Conn, buf []byte) (n, head int, err error) {
	_ = nc.SetReadDeadline(time.Now().Add(l.s.opts.HandshakeTimeout))
	for {
		var m int
		m, err = nc.Read(buf[n:])
		n += m
		if head = headEnd(buf[:n], l.prefix); head != 0 || err != nil || n == len(buf) {
			if head < 0 {
				head = 0
			}
			return n, head, err
		}
	}
}

// headEnd reports how a request that starts with b stands: the length of
// its head if b holds it all and it may be "GET path" (prefix), -1 if it
// cannot be, 0 if more bytes are needed.
func headEnd(b, prefix []byte) int {
	k := min(len(b), len(prefix))
	if !bytes.Equal(b[:k], prefix[:k]) {
		return -1
	}
	if len(b) > len(prefix) && b[len(prefix)] != ' ' && b[len(prefix)] != '?' {
		return -1
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

// upgrade parses head and completes the handshake if it is an upgrade the
// fast path takes; leftover is what the client sent after the head. It
// reports whether it took the connection; if not, net/http will parse the
// request and answer it.
func (l *interceptor) upgrade(nc net.Conn, head, leftover []byte) bool {
	h, ok := parseUpgradeHead(string(head), l.path)
	if !ok {
		return false
	}
	key, ok := l.s.checkHead(&h)
	if !ok || l.s.isShutdown() || len(leftover) > l.s.rcap {
		return false
	}
	var release func()
	if admit := l.s.opts.Admit; admit != nil {
		// From here on the fast path answers every outcome itself, so
		// that Admit sees this request once.
		r, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(head), len(head)))
		if err != nil {
			return false // parseUpgradeHead took it, so this does not happen; net/http answers
		}
		r.RemoteAddr = nc.RemoteAddr().String()
		w := &rawResponse{h: make(http.Header)}
		rel, ok := admit(w, r)
		if !ok {
			l.s.stats.rejected.Add(1)
			l.s.stats.refused.Add(1)
			l.s.log.Debug("ws: handshake refused by Admit", "remote", r.RemoteAddr)
			w.send(nc, l.s.opts.HandshakeTimeout)
			return true
		}
		release = rel
		if l.s.reserved.Add(1) > int64(l.s.opts.MaxConns) {
			l.s.reserved.Add(-1)
			if release != nil {
				release()
			}
			l.s.stats.rejected.Add(1)
			l.s.log.Debug("ws: handshake rejected", "remote", r.RemoteAddr, "status", http.StatusServiceUnavailable, "reason", "ws: too many connections")
			w.h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("ws: too many connections\n"))
			w.send(nc, l.s.opts.HandshakeTimeout)
			return true
		}
	} else if l.s.reserved.Add(1) > int64(l.s.opts.MaxConns) {
		l.s.reserved.Add(-1)
		return false // ServeHTTP answers 503
	}
	var sub string
	if h.seen&seenProtocol != 0 {
		sub = l.s.pickSubprotocol(h.protocol)
	}
	l.s.finishUpgrade(nc, sub, key, leftover, release)
	return true
}

// maxRawBody bounds the body of a response Admit writes on the fast path.
const maxRawBody = 4096

// rawResponse is the http.ResponseWriter Admit gets on Intercept's fast
// path: it keeps the response, which send then writes to the socket with
// Connection: close.
type rawResponse struct {
	h      http.Header
	status int
	body   []byte
}

func (w *rawResponse) Header() http.Header { return w.h }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	n := min(len(p), maxRawBody-len(w.body))
	w.body = append(w.body, p[:n]...)
	if n < len(p) {
		return n, errors.New("ws: response body too long for a refused handshake")
	}
	return n, nil
}

// send writes the response (403 if Admit set no status) and closes nc.
func (w *rawResponse) send(nc net.Conn, timeout time.Duration) {
	if w.status == 0 {
		w.status = http.StatusForbidden
	}
	resp := &http.Response{
		StatusCode:    w.status,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.h,
		ContentLength: int64(len(w.body)),
		Body:          io.NopCloser(bytes.NewReader(w.body)),
		Close:         true,
	}
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	_ = resp.Write(nc)
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.Close()
}

// replayConn is a connection handed to the http.Server: its first reads
// return the bytes Intercept read already.
type replayConn struct {
	net.Conn
	replay []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite shuts down the writing side, as net/http does before closing
// a connection after an error response, when the connection supports it.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
