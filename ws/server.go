package ws

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// Options configures a Server. A nil *Options means all defaults; NewServer
// copies the struct before filling in defaults, so the caller's value is
// never modified. Zero fields take their defaults.
type Options struct {
	// AllowedOrigins lists extra browser origins allowed to connect, each an
	// exact "scheme://host[:port]" such as "https://pi.local:8443",
	// compared without regard to case. A request with the same host as its
	// Origin is always allowed, as is a request with no Origin (not a
	// browser). Default: none, that is same-origin only. Every entry widens
	// who can read the stream from a victim's browser; never add "*"-like
	// catch-alls.
	AllowedOrigins []string

	// ReadLimit is the largest message accepted from a client, in bytes;
	// larger ones close the connection with 1009. It also sizes the read
	// arrays (ReadLimit+131 bytes). On Linux a TCP connection holds one only
	// while bytes of an unfinished frame or message are buffered, and takes
	// it from a server-wide pool when data arrives, so idle connections hold
	// none; TLS connections and other systems keep one per connection.
	// Default 1024: clients only send small commands.
	ReadLimit int

	// SendQueue is the number of frames each connection may have queued,
	// rounded up to a power of two. When full, a superseded BroadcastKey
	// frame or else the oldest Broadcast frame is dropped (see
	// BroadcastKey). It also sizes each fan-out worker's queue, which grows
	// rather than lose a BroadcastKey frame. Default 8. Larger
	// queues ride out longer client stalls but hold more pool frames; the
	// frame pool holds (2+W)*SendQueue+2 frames for W fan-out workers (one
	// per CPU, at most 8).
	SendQueue int

	// SendBuffer, if positive, sets each TCP connection's kernel send
	// buffer (SO_SNDBUF; Linux doubles it for its bookkeeping). Default 0
	// leaves the system's, autotuned up to megabytes on Linux. A slow
	// client's backlog then stays in the connection's queue, where a newer
	// BroadcastKey frame replaces a superseded one, instead of the kernel's,
	// where nothing does: with a small buffer a slow client sees the latest
	// state, a few seconds old rather than minutes. Writes of large
	// messages (a snapshot) just take more system calls.
	SendBuffer int

	// MaxBroadcast is the largest Broadcast payload in bytes; larger ones
	// are refused and counted in Stats.TooBig. Default 16 KiB. The frame pool
	// allocates (2+W)*SendQueue+2 frames of MaxBroadcast+10 bytes once (see
	// SendQueue): 544 KiB with the defaults on two CPUs, of which only the
	// pages a payload has touched become resident.
	MaxBroadcast int

	// WriteTimeout bounds each batched write to a client. A client that does
	// not drain its TCP window for this long is disconnected. Default 5 s.
	// Longer tolerates worse links but lets a stalled client pin pool frames
	// for longer.
	WriteTimeout time.Duration

	// PingInterval is how often one shared ticker pings every connection;
	// connections that for 2*PingInterval neither sent anything nor took
	// a data frame are closed (a slow client whose pong waits behind the
	// data it has still to read is alive: it takes data). Default 30 s;
	// negative disables pings and the sweep, so half-open connections then
	// linger until a write to them times out.
	PingInterval time.Duration

	// MaxDrops is how many consecutive frames may be dropped from a
	// connection's full ring before it is closed with 1008 "slow consumer".
	// A BroadcastKey frame replaced by a newer one with the same key is not
	// lost and does not count: a client that keeps up with the latest
	// state of every key, however slowly, is never cut off for it.
	// Default 64 (about a minute of 1 Hz ticks); negative disables, leaving
	// only WriteTimeout to cut off slow clients.
	MaxDrops int

	// HandshakeTimeout bounds writing the 101 response. Default 10 s.
	// Reading the request is bounded by http.Server.ReadHeaderTimeout, which
	// the caller should set.
	HandshakeTimeout time.Duration

	// MaxConns caps simultaneous connections; further upgrades get 503.
	// Default 1024. Each idle connection costs about 4.8 KB with the default
	// limits (heap and the reader goroutine's stack; see the package doc).
	MaxConns int

	// Admit, if set, decides whether an upgrade request may go on: access
	// control (a token, a cookie, the Host), per-client limits. It is
	// called exactly once per upgrade request, on both paths: in ServeHTTP
	// before any other check, and on Intercept's fast path once the request
	// is known to be a valid upgrade (r then is the request as
	// http.ReadRequest reads it, with RemoteAddr set). To refuse, it writes
	// the whole response to w (status, headers, body) and returns ok false;
	// ws then closes the connection. To admit, it writes nothing and returns
	// ok true, and may return a release function, which ws calls exactly
	// once when the admitted request ends: the connection is closed, or the
	// upgrade failed after admission (a later check, MaxConns, an aborted
	// handshake). Per-client connection caps are kept this way. It runs on
	// the handshake goroutine; keep it short. Default: admit everything.
	Admit func(w http.ResponseWriter, r *http.Request) (release func(), ok bool)

	// MaxHandshakes caps the connections whose first request Intercept is
	// reading at once (each holds a goroutine and a 4 KiB array for at
	// most HandshakeTimeout); further connections are closed at once and
	// counted in Stats.Rejected and Stats.HandshakesRefused. Default 256.
	// It does not apply to ServeHTTP, where net/http reads the request
	// (bound that with http.Server.ReadHeaderTimeout and a connection cap).
	MaxHandshakes int

	// OnOpen, if set, is called after the handshake and before the
	// connection joins the broadcast set (unless it calls c.Join), so that
	// whatever it sends with c.Send reaches the client before any
	// broadcast. It runs on the handshake goroutine; keep it short.
	OnOpen func(c *Conn)

	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first. The first one the client also offers in Sec-WebSocket-Protocol
	// is agreed and echoed (see Conn.Subprotocol); if there is none, the
	// handshake goes on without a subprotocol. Default: none.
	Subprotocols []string

	// OnMessage, if set, receives each complete text or binary message from
	// a client, with its type; text has been validated as UTF-8. p is valid
	// only during the call (it lies in the connection's read
	// array); copy what you keep. It runs on the connection's reader
	// goroutine: while it runs, that connection reads nothing.
	OnMessage func(c *Conn, typ MessageType, p []byte)

	// OnClose, if set, is called once per opened connection after it is
	// torn down, with the cause: a CloseError (see CloseStatus) or an I/O
	// error, or nil for a close this side asked for that completed cleanly.
	OnClose func(c *Conn, err error)

	// Logger receives handshake rejections and closes at Debug and
	// slow-consumer cut-offs at Warn. Default: discard.
	Logger *slog.Logger
}

// Defaults used by NewServer for zero Options fields.
const (
	DefaultReadLimit        = 1024
	DefaultSendQueue        = 8
	DefaultMaxBroadcast     = 16 << 10
	DefaultWriteTimeout     = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultMaxDrops         = 64
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConns         = 1024
	DefaultMaxHandshakes    = 256
)

func (o *Options) cloneWithDefaults() Options {
	var c Options
	if o != nil {
		c = *o
		c.AllowedOrigins = append([]string(nil), o.AllowedOrigins...)
		c.Subprotocols = append([]string(nil), o.Subprotocols...)
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	q := 1
	for q < c.SendQueue {
		q <<= 1
	}
	c.SendQueue = q
	if c.MaxBroadcast <= 0 {
		c.MaxBroadcast = DefaultMaxBroadcast
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.MaxDrops == 0 {
		c.MaxDrops = DefaultMaxDrops
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// A subprotocol is echoed in the 101 response: drop anything that is
	// not an HTTP token rather than let it inject headers.
	protos := c.Subprotocols[:0]
	for _, p := range c.Subprotocols {
		if isToken(p) {
			protos = append(protos, p)
		} else {
			c.Logger.Warn("ws: ignoring invalid subprotocol name", "subprotocol", p)
		}
	}
	c.Subprotocols = protos
	return c
}

// Stats is a snapshot of a Server's counters. Counters other than Conns are
// totals since NewServer.
type Stats struct {
	Conns      int    // connections open now
	Accepted   uint64 // successful handshakes
	Rejected   uint64 // handshakes answered with an error status or aborted
	Refused    uint64 // of those, refused by Options.Admit
	Shed       uint64 // of those, connections closed unread because MaxHandshakes were being read
	Broadcasts uint64 // Broadcast calls that queued a frame
	Drops      uint64 // frames dropped from full queues, superseded ones included
	Superseded uint64 // of those, BroadcastKey frames replaced by a newer one with the same key
	PoolMisses uint64 // broadcast frames taken from the heap because every pool frame was in use
	TooBig     uint64 // Broadcast calls refused because the payload exceeded MaxBroadcast
	Closed     uint64 // connections torn down
	SlowClosed uint64 // of those, cut off by WriteTimeout or MaxDrops
	TimedOut   uint64 // of those, closed by the keepalive sweep
	FramesSent uint64 // data frames written out whole (broadcasts, Send, Write, OnOpen's); control frames not counted
	BytesSent  uint64 // bytes written to client sockets after the handshake, control frames included
	ReadArrays int    // connections holding a read array now (idle plain TCP connections hold none)
}

// Server accepts WebSocket connections (it is an http.Handler) and
// broadcasts to them. Create it with NewServer; its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	pool *framePool

	// Precompiled control frames shared by every connection.
	pingWire  []byte
	goingAway []byte // close 1001, sent by Shutdown
	slowWire  []byte // close 1008 "slow consumer"

	reserved atomic.Int64 // handshakes in progress plus open connections, for MaxConns

	shards []*shard      // fan-out workers, one per CPU
	rcap   int           // size of a read array: ReadLimit + readSlack
	rbufs  sync.Pool     // free read arrays (*[]byte) of raw connections
	bseq   atomic.Uint64 // sequence number of the last broadcast
	bmu    sync.Mutex    // orders numbering and queueing of concurrent broadcasts

	mu        sync.RWMutex
	conns     []*Conn // every open connection; joined ones receive broadcasts
	joinedN   int     // how many of conns have joined
	nextShard int     // round-robin assignment of new connections to shards
	shutdown  bool
	kaRunning bool          // the keepalive goroutine runs
	kaWake    chan struct{} // wakes it when the last connection leaves
	wg        sync.WaitGroup

	stats struct {
		accepted, rejected, refused, shed, broadcasts, drops, superseded, poolMisses, tooBig, closed, slow, timedOut atomic.Uint64
		framesSent, bytesSent                                                                                        atomic.Uint64
		readArrays                                                                                                   atomic.Int64
	}
}

// NewServer returns a Server configured by o (nil for defaults). It
// allocates the broadcast frame pool at once and starts no goroutines until
// the first connection.
func NewServer(o *Options) *Server {
	s := &Server{opts: o.cloneWithDefaults(), kaWake: make(chan struct{}, 1)}
	s.log = s.opts.Logger
	s.shards = newShards(s)
	s.rcap = s.opts.ReadLimit + readSlack
	s.rbufs.New = func() any {
		b := make([]byte, s.rcap)
		return &b
	}
	// Frames are referenced by the connections' rings and writers (up to
	// 2*SendQueue per connection) and by the shard queues and workers (up
	// to 2*SendQueue per shard, but a worker takes what its queue holds).
	s.pool = newFramePool((2+len(s.shards))*s.opts.SendQueue+2, s.opts.MaxBroadcast)
	var b [maxCloseFrame]byte
	n := frame.Put(b[:], frame.Header{Fin: true, Opcode: frame.OpPing})
	s.pingWire = append([]byte(nil), b[:n]...)
	s.goingAway = append([]byte(nil), b[:putClose(&b, StatusGoingAway, "server shutting down")]...)
	s.slowWire = append([]byte(nil), b[:putClose(&b, StatusPolicyViolation, "slow consumer")]...)
	return s
}

// Broadcast sends payload, one text message, to every connection in the
// broadcast set and returns how many connections that is. The payload is
// framed once into a frame from the fixed pool and shared by all
// connections; it is copied, so the caller may reuse it at once. Broadcast
// never blocks on a client and does not allocate while the pool has a free
// frame: it hands the frame to the fan-out workers (one per CPU) and
// returns. A worker writes the frame at once to each idle connection,
// without blocking, and queues it for a busy one. A Broadcast frame may be
// dropped: a connection whose queue is full drops its oldest such frame,
// which suits a stream where any newer message makes up for a lost one.
// Use BroadcastKey where that is not so. If every pool frame is still in
// use (stalled clients pin them), the frame comes from the heap instead and
// Stats.PoolMisses counts it. The payload must be valid UTF-8 and at most
// MaxBroadcast bytes. After Shutdown it sends nothing and returns 0.
func (s *Server) Broadcast(payload []byte) int {
	return s.broadcast(classAny, 0, payload)
}

// BroadcastKey is Broadcast for messages that must not be lost. A frame
// broadcast with key k ≠ 0 is dropped from a connection's full queue only
// when a newer frame with the same key replaces it there (the newer one
// goes to the back of the queue, so every connection still sees messages
// in broadcast order): with one key per subject, such as a sensor, a client
// that falls behind skips superseded states but always ends with the
// latest one of every subject. A frame with key 0 is never dropped. A
// connection whose full queue holds nothing that may be dropped is closed
// with 1008 "slow consumer" (Stats.SlowClosed), so that it reconnects and
// starts again from a fresh snapshot rather than miss a message silently.
// Frames broadcast with Broadcast and BroadcastKey may be mixed; each keeps
// its own rule.
func (s *Server) BroadcastKey(key uint64, payload []byte) int {
	if key == 0 {
		return s.broadcast(classKept, 0, payload)
	}
	return s.broadcast(classKeyed, key, payload)
}

func (s *Server) broadcast(class dropClass, key uint64, payload []byte) int {
	if len(payload) > s.opts.MaxBroadcast {
		s.stats.tooBig.Add(1)
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.joinedN == 0 || s.shutdown {
		return 0
	}
	f := s.pool.get()
	if f == nil {
		s.stats.poolMisses.Add(1)
		f = &outFrame{buf: make([]byte, headroom+len(payload))}
		f.refs.Store(1)
	}
	f.fill(payload)
	f.class, f.key = class, key
	// Numbering and queueing under one lock keep every shard's queue in
	// sequence order when Broadcast is called concurrently, so that a
	// connection's check against its joinSeq can stop at the first newer
	// frame.
	s.bmu.Lock()
	f.seq = s.bseq.Add(1)
	for _, sh := range s.shards {
		if n := len(sh.conns); n > 0 {
			sh.push(f, n)
		}
	}
	s.bmu.Unlock()
	f.release()
	s.stats.broadcasts.Add(1)
	return s.joinedN
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	n := len(s.conns)
	s.mu.RUnlock()
	return Stats{
		Conns:      n,
		Accepted:   s.stats.accepted.Load(),
		Rejected:   s.stats.rejected.Load(),
		Refused:    s.stats.refused.Load(),
		Shed:       s.stats.shed.Load(),
		Broadcasts: s.stats.broadcasts.Load(),
		Drops:      s.stats.drops.Load(),
		Superseded: s.stats.superseded.Load(),
		PoolMisses: s.stats.poolMisses.Load(),
		TooBig:     s.stats.tooBig.Load(),
		Closed:     s.stats.closed.Load(),
		SlowClosed: s.stats.slow.Load(),
		TimedOut:   s.stats.timedOut.Load(),
		FramesSent: s.stats.framesSent.Load(),
		BytesSent:  s.stats.bytesSent.Load(),
		ReadArrays: int(s.stats.readArrays.Load()),
	}
}

func (s *Server) isShutdown() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.shutdown
}

// open registers a connection whose 101 response is out, runs OnOpen,
// lets it join the broadcast set (unless OnOpen did) and starts its reader.
func (s *Server) open(c *Conn) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		c.dropReadArray()
		s.abortHandshake(c.nc, "server shutting down", c.release)
		return
	}
	c.idx = len(s.conns)
	s.conns = append(s.conns, c)
	s.wg.Add(1) // the reader
	if s.opts.PingInterval > 0 && !s.kaRunning {
		s.kaRunning = true
		s.wg.Add(1)
		go s.keepalive()
	}
	s.mu.Unlock()
	s.stats.accepted.Add(1)
	s.log.Debug("ws: connection opened", "remote", c.nc.RemoteAddr().String())

	if fn := s.opts.OnOpen; fn != nil {
		fn(c)
	}
	c.Join()
	c.unhold()
	go c.readLoop()
}

// remove takes a torn-down connection out of the server.
func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	last := len(s.conns) - 1
	if c.idx <= last && s.conns[c.idx] == c {
		s.conns[c.idx] = s.conns[last]
		s.conns[c.idx].idx = c.idx
		s.conns[last] = nil
		s.conns = s.conns[:last]
	}
	if c.joined {
		c.joined = false
		s.joinedN--
		sh := c.sh
		last := len(sh.conns) - 1
		sh.conns[c.shIdx] = sh.conns[last]
		sh.conns[c.shIdx].shIdx = c.shIdx
		sh.conns[last] = nil
		sh.conns = sh.conns[:last]
	}
	empty := len(s.conns) == 0
	s.reserved.Add(-1) // before unlocking, so that Stats().Conns never runs ahead of MaxConns
	s.mu.Unlock()
	if c.release != nil {
		c.release()
	}
	s.stats.closed.Add(1)
	if empty {
		select {
		case s.kaWake <- struct{}{}:
		default:
		}
	}
}

// keepalive is the one ticker for all connections: every PingInterval it
// queues the shared ping frame to each connection and closes those silent
// for more than 2*PingInterval. It exits when the last connection leaves.
func (s *Server) keepalive() {
	defer s.wg.Done()
	iv := s.opts.PingInterval
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.kaWake:
		}
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.kaRunning = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		cutoff := time.Now().Add(-2 * iv).UnixNano()
		s.mu.RLock()
		for _, c := range s.conns {
			// A connection with a write in progress is left to
			// WriteTimeout: its peer may be taking a large message
			// slowly, with its pong queued behind it.
			if c.lastSeen.Load() < cutoff && !c.writingNow() {
				s.stats.timedOut.Add(1)
				c.closeTCP(fmt.Errorf("ws: keepalive: client silent for more than %v", 2*iv))
				continue
			}
			c.queuePing()
		}
		s.mu.RUnlock()
	}
}

// Shutdown sends a 1001 Going Away close frame to every connection, refuses
// new upgrades with 503, and waits until every connection is gone or ctx is
// done; then it closes the rest at once and returns ctx.Err(). Peers that
// answer the close leave at once, the others within about a second.
//
// http.Server does not track hijacked connections, so register it:
//
//	srv.RegisterOnShutdown(func() { hub.Shutdown(ctx) })
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for _, c := range s.conns {
		c.startClose(0, "", s.goingAway, false,
			fmt.Errorf("ws: shutdown: %w", CloseError{Code: StatusGoingAway, Reason: "server shutting down"}))
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.RLock()
	for _, c := range s.conns {
		c.closeTCP(fmt.Errorf("ws: shutdown: %w", ctx.Err()))
	}
	s.mu.RUnlock()
	return ctx.Err()
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if b <= ' ' || b >= 0x7F || strings.IndexByte("\"(),/:;<=>?@[\\]{}", b) >= 0 {
			return false
		}
	}
	return true
}
