package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sensorcast/sensorcast/ws"
)

// errUsage reports bad flags; the flag package has already printed why.
var errUsage = errors.New("usage error")

// config is what the flags set.
type config struct {
	addr             string
	rate             float64 // pushes per second on /push
	origins          []string
	readLimit        int // largest echoed message
	maxEchoConns     int // each echo connection holds a read array of readLimit bytes
	maxPushConns     int
	handshakeTimeout time.Duration
	pingInterval     time.Duration // keepalive pings; silent clients are cut off after two
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("wsecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:9001", "listen address (host:port; port 0 picks a free one)")
	fs.Float64Var(&cfg.rate, "rate", 10, "broadcasts per second on /push (0 disables them)")
	origins := fs.String("origins", "", "comma-separated extra allowed browser origins (scheme://host[:port])")
	fs.IntVar(&cfg.readLimit, "read-limit", 16<<20, "largest message echoed, in bytes")
	fs.IntVar(&cfg.maxEchoConns, "max-echo-conns", 32, "simultaneous echo connections (each holds a read array of -read-limit bytes)")
	fs.IntVar(&cfg.maxPushConns, "max-push-conns", 10000, "simultaneous /push connections")
	fs.DurationVar(&cfg.pingInterval, "ping", 30*time.Second, "keepalive ping interval; clients silent for two intervals are disconnected")
	fs.DurationVar(&cfg.handshakeTimeout, "handshake-timeout", 5*time.Second, "time allowed for a client to send its upgrade request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "wsecho: unexpected arguments %q\n", fs.Args())
		return cfg, errUsage
	}
	switch {
	case cfg.rate < 0 || cfg.rate > 100000:
		fmt.Fprintln(stderr, "wsecho: -rate must be between 0 and 100000")
		return cfg, errUsage
	case cfg.readLimit < 1 || cfg.readLimit > 64<<20:
		fmt.Fprintln(stderr, "wsecho: -read-limit must be between 1 and 64 MiB")
		return cfg, errUsage
	case cfg.maxEchoConns < 1 || cfg.maxPushConns < 1:
		fmt.Fprintln(stderr, "wsecho: connection limits must be positive")
		return cfg, errUsage
	case cfg.pingInterval <= 0:
		fmt.Fprintln(stderr, "wsecho: -ping must be positive")
		return cfg, errUsage
	case cfg.handshakeTimeout <= 0:
		fmt.Fprintln(stderr, "wsecho: -handshake-timeout must be positive")
		return cfg, errUsage
	}
	for o := range strings.SplitSeq(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.origins = append(cfg.origins, o)
		}
	}
	return cfg, nil
}

// run serves until ctx is cancelled, then shuts down within five seconds.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("wsecho listening", "addr", ln.Addr().String(), "rate", cfg.rate)
	return serve(ctx, ln, cfg, log)
}

// serve runs the echo and push servers on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, cfg config, log *slog.Logger) error {
	a := newApp(cfg, log)
	hs := &http.Server{
		Handler:           a.mux,
		ReadHeaderTimeout: cfg.handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	pushCtx, stopPush := context.WithCancel(ctx)
	defer stopPush()
	if cfg.rate > 0 {
		wg.Go(func() { a.pushLoop(pushCtx, cfg.rate) })
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		stopPush()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stopPush()
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	err = errors.Join(err, a.echo.Shutdown(sctx), a.push.Shutdown(sctx))
	<-errc
	log.Info("wsecho stopped")
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// app holds the two WebSocket servers.
type app struct {
	echo, push *ws.Server
	mux        *http.ServeMux
	log        *slog.Logger
	seq        uint64
	buf        [256]byte // the push payload, reused
}

func newApp(cfg config, log *slog.Logger) *app {
	a := &app{log: log, mux: http.NewServeMux()}
	a.echo = ws.NewServer(&ws.Options{
		AllowedOrigins:   cfg.origins,
		ReadLimit:        cfg.readLimit,
		SendQueue:        16,
		MaxBroadcast:     1, // never broadcasts: keep its frame pool tiny
		MaxConns:         cfg.maxEchoConns,
		HandshakeTimeout: cfg.handshakeTimeout,
		PingInterval:     cfg.pingInterval,
		WriteTimeout:     30 * time.Second, // a 16 MiB echo to a slow reader
		Logger:           log,
		OnMessage:        echo,
		OnClose:          a.closed,
	})
	a.push = ws.NewServer(&ws.Options{
		AllowedOrigins:   cfg.origins,
		MaxConns:         cfg.maxPushConns,
		HandshakeTimeout: cfg.handshakeTimeout,
		PingInterval:     cfg.pingInterval,
		Logger:           log,
	})
	a.mux.Handle("/push", a.push)
	a.mux.Handle("/", a.echo)
	return a
}

// echo sends each message back as it came. Write waits while the
// connection's queue is full, so a fast client is slowed down, not cut off.
func echo(c *ws.Conn, typ ws.MessageType, p []byte) {
	_ = c.Write(typ, p) // fails only once the connection is closing
}

// closed logs how an echo connection ended: the client's close code and
// reason, or the error.
func (a *app) closed(c *ws.Conn, err error) {
	var ce ws.CloseError
	if errors.As(err, &ce) {
		a.log.Info("wsecho: connection closed", "remote", c.RemoteAddr().String(), "code", int(ce.Code), "reason", ce.Reason)
		return
	}
	a.log.Info("wsecho: connection closed", "remote", c.RemoteAddr().String(), "err", err)
}

// pushLoop broadcasts one message every 1/rate seconds until ctx is done.
func (a *app) pushLoop(ctx context.Context, rate float64) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.push.Broadcast(a.nextPush(now))
		}
	}
}

// pushPad brings a push message to about 120 bytes.
const pushPad = "sensorcast-wsecho-push-padding-0123456789-abcdefghijklmnopqrstuvwxyz"

// nextPush encodes the next push message into a.buf without allocating:
// {"type":"push","seq":N,"ts":UNIX_MS,"pad":"..."}.
func (a *app) nextPush(now time.Time) []byte {
	a.seq++
	b := append(a.buf[:0], `{"type":"push","seq":`...)
	b = strconv.AppendUint(b, a.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, pushPad...)
	b = append(b, `"}`...)
	return b
}
