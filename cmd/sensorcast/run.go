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
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors"
	"github.com/sensorcast/sensorcast/ws"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// stdout receives the output of -version; a variable so tests can capture it.
var stdout io.Writer = os.Stdout

// errUsage reports bad command-line flags; the flag package has already
// printed why.
var errUsage = errors.New("usage")

// Limits of the HTTP server, sized for a Pi Zero: a request head must
// arrive within readHeaderTimeout and fit in maxHeaderBytes (net/http
// answers 431 beyond; it reads up to 4 KiB more before it notices), an
// idle keep-alive connection is closed after idleTimeout, and a response
// must be written within writeTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 60 * time.Second
	writeTimeout      = 30 * time.Second
	maxHeaderBytes    = 16 << 10
)

// shutdownGrace bounds the whole shutdown, within the 2 s a supervisor is
// promised: closing every WebSocket with 1001 Going Away and stopping the
// HTTP server (at once, while the sensors stop: a read stuck on a slow bus
// holds up neither; see sensors.PollerOptions.StopWait), then closing the
// MQTT bridge in what is left. webGrace is the part the web side may take.
const (
	shutdownGrace = 1800 * time.Millisecond
	webGrace      = 1200 * time.Millisecond
)

// run is the whole program: main only turns its error into an exit code. It
// returns nil after a clean shutdown, when ctx is cancelled.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "scan" {
		return scan(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "fleet" {
		return fleetCmd(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "token" {
		return tokenCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sensorcast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "`address` to serve the dashboard and WebSocket on (default \":8080\", or the config file's listen)")
	configPath := fs.String("config", "", "TOML configuration `file` (default: simulated and host sensors)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	mqttURL := fs.String("mqtt", "", "MQTT broker `URL` to publish to (tcp://, ssl://, mqtts://, ws://); overrides the config's [mqtt] broker")
	stateDir := fs.String("state", "", "`directory` for the access token and the MQTT bridge's on-disk queue (default $STATE_DIRECTORY, else ~/.local/state/sensorcast)")
	historyWindow := fs.Duration("history-window", 0, "how far back the dashboard's charts reach (default 1h, or the config's [history] window)")
	historyPoints := fs.Int("history-points", 0, "most points kept per value; denser readings are averaged (default 3600, or the config's [history] points)")
	logFormat := fs.String("log-format", "text", "log line `format`: text (key=value) or json (one object a line)")
	logLevel := fs.String("log-level", "info", "least `level` logged: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sensorcast: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	if *showVersion {
		fmt.Fprintf(stdout, "sensorcast %s\n", version)
		return nil
	}

	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "sensorcast: %v\n", err)
		return errUsage
	}
	cfg := defaultConfig()
	if *configPath != "" {
		c, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		cfg = c
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *historyWindow != 0 {
		cfg.History.Window = *historyWindow
	}
	if *historyPoints != 0 {
		cfg.History.Points = *historyPoints
	}
	if _, err := cfg.History.check(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if cfg.Device == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("device name: no \"device\" in the config and %w", err)
		}
		cfg.Device = host
	}

	if *stateDir == "" {
		if *stateDir, err = defaultStateDir(); err != nil {
			return err
		}
	}
	guard, err := newGuard(cfg, *stateDir, log)
	if err != nil {
		return err
	}
	certs, err := newTLS(cfg, *stateDir, log)
	if err != nil {
		return err
	}

	sources, err := openSources(cfg, *stateDir, log)
	if err != nil {
		return err
	}
	if len(sources) == 0 {
		return errors.New("no sensor could be opened")
	}

	// Each new WebSocket client first gets the hub's snapshot and joins the
	// broadcast set at the state it shows; the hub is built below, before
	// the listener opens, so h is set by the time any client can connect.
	var h *hub.Hub
	wsSrv := ws.NewServer(&ws.Options{
		Logger:       log.With("component", "ws"),
		Subprotocols: []string{hub.GzipSubprotocol},
		Admit:        guard.Admit,
		MaxConns:     cfg.HTTP.MaxWebSockets,
		// Readings are keyed by sensor, statuses never dropped: room for
		// every sensor's latest reading and a burst of status changes.
		SendQueue: max(ws.DefaultSendQueue, 2*len(sources)+8),
		// A slow client's backlog stays in its queue, where a newer
		// reading of a sensor replaces the older one, not in the kernel
		// (megabytes, minutes behind on a phone that reads slowly).
		SendBuffer: 64 << 10,
		OnOpen: func(c *ws.Conn) {
			if err := h.Snapshot(wsClient{c}); err != nil {
				log.Warn("send snapshot", "remote", c.RemoteAddr(), "err", err)
			}
		},
	})
	infos := make([]hub.SensorInfo, len(sources))
	for i, s := range sources {
		infos[i] = hub.SensorInfo{Name: s.src.Name(), Interval: s.interval, MaxGap: s.maxGap}
	}
	br, err := startBridge(cfg, *mqttURL, *stateDir, *configPath, infos, log)
	if err != nil {
		return err
	}
	if br != nil {
		defer br.Close() // on the error paths below; a no-op after shutdown
	}
	alerts := newAlerting(cfg, infos, *stateDir, log)
	h = hub.New(&hub.Options{
		Device:  cfg.Device,
		Version: version,
		Sensors: infos,
		Prepare: wsPrepare,
		Frames:  wsSrv,
		Sinks:   alerts.sinks(hubSinks(br)),
		History: hub.HistoryOptions{Window: cfg.History.Window, Points: cfg.History.Points},
	})
	alerts.start(h, alertOutputs(br)...)
	defer alerts.close() // after the sensors stop: nothing feeds it then
	poller := sensors.NewPoller(&sensors.PollerOptions{
		Device:    cfg.Device,
		Logger:    log.With("component", "sensors"),
		OnReading: h.Publish,
		OnStatus:  h.SetStatus,
	})
	for _, s := range sources {
		if err := poller.Add(s.src, s.interval); err != nil {
			return err
		}
	}

	obs := &observer{start: time.Now(), ws: wsSrv, hub: h, poller: poller, guard: guard, alerts: alerts}
	if br != nil {
		obs.bridge = br
	}
	if obs.scrape, err = cfg.Metrics.loadScrapeToken(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           obs.handler(newMux(wsSrv, h, guard, cfg.HTTP.MaxHistory, apiRoute{"/api/alerts", alerts.api}), guard.Handler),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		// Every response but the WebSocket's is written at once; the
		// hijacked WebSockets set their own deadlines.
		WriteTimeout:   writeTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      guard.ConnState,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Start-up garbage (config parsing, driver set-up, the compressor that
	// gzipped the dashboard's files: about 1 MB) goes back to the OS now:
	// the runtime would keep it for reuse below its 4 MB minimum heap goal,
	// resident for the whole life of an idle node. One collection of a heap
	// under 1 MB, once.
	debug.FreeOSMemory()

	pollCtx, stopPolling := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { poller.Run(pollCtx) })
	serveErr := make(chan error, 1)
	// WebSocket upgrades for wsPath are taken from the socket before
	// net/http allocates its per-connection buffers (see ws.Intercept);
	// everything else goes to httpSrv.
	// With TLS, Intercept reads from the TLS connections: the
	// decrypted heads, on both paths.
	go func() { serveErr <- httpSrv.Serve(wsSrv.Intercept(tlsListener(ln, certs), wsPath)) }()
	obs.serving.Store(true)
	log.Info("sensorcast started", "version", version, "device", cfg.Device,
		"addr", ln.Addr().String(), "sensors", len(sources))
	if tok := guard.Token(); tok != "" {
		log.Info("open the dashboard at this URL (it sets a cookie; scripts send Authorization: Bearer <token>)",
			"url", secureURL(tokenURL(ln.Addr().String(), tok), certs != nil))
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, guard, *stateDir, log)
	if certs != nil {
		tlsHup := make(chan os.Signal, 1)
		signal.Notify(tlsHup, syscall.SIGHUP)
		defer signal.Stop(tlsHup)
		go reloadTLSOnHUP(ctx, tlsHup, certs, log.With("component", "tls"))
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}

	deadline := time.Now().Add(shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), webGrace)
	defer cancel()
	// Browsers first (1001 Going Away), while the sensors stop; then the
	// broker, which may be slow to answer.
	var web sync.WaitGroup
	web.Go(func() {
		if werr := wsSrv.Shutdown(sctx); werr != nil {
			log.Warn("websocket shutdown", "err", werr)
		}
		if herr := httpSrv.Shutdown(sctx); herr != nil {
			log.Warn("http shutdown", "err", herr)
			httpSrv.Close()
		}
	})
	stopPolling()
	wg.Wait() // bounded by the poller's StopWait; it logs Halt errors
	web.Wait()
	if br != nil {
		// Publishes offline; undelivered readings stay on disk.
		closed := make(chan struct{})
		go func() {
			br.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(time.Until(deadline)):
			log.Warn("mqtt bridge not closed in time; readings queued since its last sync may be sent again at the next start",
				"waited", shutdownGrace)
		}
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}
