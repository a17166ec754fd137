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
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/fleet"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/dashboard"
	"github.com/sensorcast/sensorcast/ws"
)

// FleetConfig is the [fleet] table, read by `sensorcast fleet`.
type FleetConfig struct {
	// TokenFile holds the token the fleet sends (Authorization: Bearer)
	// to a node's /api/history to backfill its charts; the nodes of one
	// fleet share it ([http] of each node, or "sensorcast token"). Without
	// it the fleet still asks, which a node with auth = "none" answers.
	TokenFile string `toml:"token_file"`
	// Backfill turns the history requests off when false. Default true.
	Backfill *bool `toml:"backfill"`
}

// fleetCmd is `sensorcast fleet`: one dashboard for every node that
// publishes to the broker. It returns nil after a clean shutdown.
func fleetCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sensorcast fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "`address` to serve the fleet's dashboard on (default \":8080\", or the config file's listen)")
	configPath := fs.String("config", "", "TOML configuration `file`: its [mqtt], [http], [history] and [fleet] tables are used")
	mqttURL := fs.String("mqtt", "", "MQTT broker `URL` the nodes publish to; overrides the config's [mqtt] broker")
	stateDir := fs.String("state", "", "`directory` for the access token (default $STATE_DIRECTORY, else ~/.local/state/sensorcast)")
	logFormat := fs.String("log-format", "text", "log line `format`: text or json")
	logLevel := fs.String("log-level", "info", "least `level` logged: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sensorcast fleet: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "sensorcast fleet: %v\n", err)
		return errUsage
	}
	cfg := &Config{Listen: ":8080"}
	if *configPath != "" {
		if cfg, err = loadConfig(*configPath); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	var bc bridge.Config
	if cfg.MQTT != nil {
		bc = *cfg.MQTT
	}
	if *mqttURL != "" {
		bc.Broker = *mqttURL
	}
	if bc.Broker == "" {
		fmt.Fprintln(stderr, "sensorcast fleet: no broker: give -mqtt tcp://broker:1883 or an [mqtt] table")
		return errUsage
	}
	name := cfg.Device
	if name == "" {
		name, _ = os.Hostname()
	}
	sub, err := bc.Subscriber(name)
	if err != nil {
		return err
	}
	if *stateDir == "" {
		if *stateDir, err = defaultStateDir(); err != nil {
			return err
		}
	}
	var bf *fleet.Backfiller
	if cfg.Fleet.Backfill == nil || *cfg.Fleet.Backfill {
		bf = &fleet.Backfiller{}
		if cfg.Fleet.TokenFile != "" {
			b, err := os.ReadFile(cfg.Fleet.TokenFile)
			if err != nil {
				return fmt.Errorf("fleet.token_file: %w", err)
			}
			bf.Token = strings.TrimSpace(string(b))
		}
	}
	guard, err := newGuard(cfg, *stateDir, log)
	if err != nil {
		return err
	}

	var f *fleet.Fleet
	overview := ws.NewServer(&ws.Options{
		Logger:       log.With("component", "ws"),
		Subprotocols: []string{hub.GzipSubprotocol},
		Admit:        guard.Admit,
		MaxConns:     cfg.HTTP.MaxWebSockets,
		SendQueue:    1024,
		OnOpen: func(c *ws.Conn) {
			if err := f.Snapshot(wsClient{c}); err != nil {
				log.Warn("send overview snapshot", "remote", c.RemoteAddr(), "err", err)
			}
		},
	})
	f = fleet.New(&fleet.Options{
		Prefix:   sub.Prefix,
		History:  hub.HistoryOptions{Window: cfg.History.Window, Points: cfg.History.Points},
		Prepare:  wsPrepare,
		Overview: overview,
		Backfill: bf,
		Logger:   log.With("component", "fleet"),
	})
	defer f.Close()
	streams := &deviceStreams{f: f, guard: guard, log: log, maxConns: cfg.HTTP.MaxWebSockets, servers: make(map[string]*ws.Server)}

	clientID := sub.ClientID
	if clientID == "" || (cfg.MQTT != nil && cfg.MQTT.ClientID == "") {
		clientID = "sensorcast-fleet-" + topicSafeID(name)
	}
	conn, err := fleet.Subscribe(f, &fleet.MQTTOptions{
		Broker: sub.Broker, ClientID: clientID, Username: sub.Username, Password: sub.Password,
		TLS: sub.TLS, ReconnectMax: sub.ReconnectMax, Logger: log.With("component", "mqtt"),
	})
	if err != nil {
		return err
	}
	defer conn.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           newFleetMux(f, overview, streams, guard, cfg.HTTP.MaxHistory),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		WriteTimeout:      writeTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         guard.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("sensorcast fleet started", "version", version, "addr", ln.Addr().String(),
		"broker", sub.Broker, "prefix", sub.Prefix)
	if tok := guard.Token(); tok != "" {
		log.Info("open the fleet dashboard at this URL", "url", tokenURL(ln.Addr().String(), tok))
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, guard, *stateDir, log)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), webGrace)
	defer cancel()
	var web sync.WaitGroup
	for _, s := range append(streams.all(), overview) {
		web.Go(func() { s.Shutdown(sctx) })
	}
	web.Wait()
	if herr := httpSrv.Shutdown(sctx); herr != nil {
		httpSrv.Close()
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// topicSafeID keeps letters, digits, '-' and '_' of s.
func topicSafeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// deviceStreams holds one WebSocket server per device that a page has
// drilled down to, made at the first such page: the device's own stream,
// exactly a node's, from the device's hub.
type deviceStreams struct {
	f        *fleet.Fleet
	guard    *access.Guard
	log      *slog.Logger
	maxConns int

	mu      sync.Mutex
	servers map[string]*ws.Server
}

func (d *deviceStreams) server(id string) *ws.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.servers[id]; s != nil {
		return s
	}
	var h *hub.Hub
	s := ws.NewServer(&ws.Options{
		Logger:       d.log.With("component", "ws", "device", id),
		Subprotocols: []string{hub.GzipSubprotocol},
		Admit:        d.guard.Admit,
		MaxConns:     d.maxConns,
		SendQueue:    256,
		OnOpen: func(c *ws.Conn) {
			if err := h.Snapshot(wsClient{c}); err != nil {
				d.log.Warn("send snapshot", "remote", c.RemoteAddr(), "err", err)
			}
		},
	})
	if h = d.f.Attach(id, s); h == nil {
		return nil
	}
	d.servers[id] = s
	return s
}

func (d *deviceStreams) all() []*ws.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*ws.Server, 0, len(d.servers))
	for _, s := range d.servers {
		out = append(out, s)
	}
	return out
}

// newFleetMux routes the fleet's page, streams and API:
//
//	GET /ws                     the overview stream: every device's messages
//	GET /ws?device=ID           one device's stream, as a node's /ws
//	GET /api/devices            every device: online, last seen, failing sensors, info
//	GET /api/sensors?device=ID  and /api/history, /api/history.csv: a node's API, per device
//
// Every request is admitted by g as a node's are.
func newFleetMux(f *fleet.Fleet, overview *ws.Server, streams *deviceStreams, g *access.Guard, maxHistory int) http.Handler {
	if maxHistory <= 0 {
		maxHistory = defaultMaxHistory
	}
	slots := make(chan struct{}, maxHistory)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/devices", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := start(w, r); !ok {
			return
		}
		reply(w, r, "application/json", append(f.AppendDevices(nil), '\n'))
	})
	perDevice := func(serve func(*api, http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h, r2, ok := deviceOf(f, w, r)
			if !ok {
				return
			}
			serve(&api{hub: h, now: time.Now, guard: g, historySlots: slots}, w, r2)
		}
	}
	mux.HandleFunc("/api/sensors", perDevice((*api).sensors))
	mux.HandleFunc("/api/history", perDevice((*api).history))
	mux.HandleFunc("/api/history.csv", perDevice((*api).historyCSV))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such endpoint: try /api/devices, /api/sensors?device=, /api/history?device= or /api/history.csv?device=")
	})
	mux.Handle("/", dashboard.Handler(&dashboard.Options{WSPath: wsPath, Fleet: true}))
	top := http.NewServeMux()
	top.HandleFunc(wsPath, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("device")
		if id == "" {
			overview.ServeHTTP(w, r)
			return
		}
		s := streams.server(id)
		if s == nil {
			// Admission first: which devices exist is no business of a
			// stranger's.
			var nf http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				apiError(w, http.StatusNotFound, fmt.Sprintf("no device %q: see /api/devices", id))
			})
			if g != nil {
				nf = g.Handler(nf)
			}
			nf.ServeHTTP(w, r)
			return
		}
		s.ServeHTTP(w, r)
	})
	var rest http.Handler = mux
	if g != nil {
		rest = g.Handler(mux)
	}
	top.Handle("/", rest)
	return top
}

// deviceOf reads the device parameter, answers 400 or 404 when it is
// missing or unknown, and returns the device's hub and the request without
// the parameter, for the node's API handlers.
func deviceOf(f *fleet.Fleet, w http.ResponseWriter, r *http.Request) (*hub.Hub, *http.Request, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad query: "+err.Error())
		return nil, nil, false
	}
	ids := q["device"]
	switch {
	case len(ids) == 0 || ids[0] == "":
		apiError(w, http.StatusBadRequest, "query parameter \"device\" is required: a device as /api/devices lists them")
		return nil, nil, false
	case len(ids) > 1:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("query parameter \"device\" given %d times", len(ids)))
		return nil, nil, false
	}
	h := f.Hub(ids[0])
	if h == nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no device %q: see /api/devices", ids[0]))
		return nil, nil, false
	}
	q.Del("device")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	return h, r2, true
}
