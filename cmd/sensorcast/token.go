package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
)

// serviceStateDir is the state directory of the packaged service
// (StateDirectory=sensorcast in its unit), where `sensorcast token` looks
// when run from a shell, without -state or $STATE_DIRECTORY, if it holds
// a token.
const serviceStateDir = "/var/lib/sensorcast"

// newGuard builds the admission rules of cfg's [http] table; with auth
// "token" it loads the token from stateDir, creating it on first start.
func newGuard(cfg *Config, stateDir string, log *slog.Logger) (*access.Guard, error) {
	hc := cfg.HTTP
	o := &access.Options{
		TrustLoopback: hc.TrustLoopback == nil || *hc.TrustLoopback,
		Hosts:         hc.Hosts,
		MaxWSPerIP:    hc.MaxWebSocketsPerIP,
		MaxHTTPPerIP:  hc.MaxConnsPerIP,
		MaxHTTP:       hc.MaxConns,
		Logger:        log.With("component", "access"),
		Secure:        hc.tlsMode() != "off",
	}
	if hc.Auth == "none" {
		log.Warn(`access control is off ([http] auth = "none"): anyone who can reach this port reads every sensor`)
		return access.New(o), nil
	}
	tok, created, err := access.LoadToken(stateDir)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the access token", "file", filepath.Join(stateDir, access.TokenFile))
	}
	o.Token = tok
	return access.New(o), nil
}

// tokenURL is the dashboard's URL with the token, for the listener at
// addr: this machine's name for a wildcard address.
func tokenURL(addr, tok string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
		host = "[" + host + "]"
	}
	return (&url.URL{Scheme: "http", Host: host, Path: "/", RawQuery: "token=" + tok}).String()
}

// reloadOnHUP reads the token file again at each SIGHUP, so that `sensorcast
// token -rotate` takes effect without a restart.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, g *access.Guard, stateDir string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if g.Token() == "" {
			continue // auth = "none"
		}
		tok, err := access.ReadToken(stateDir)
		if err != nil {
			log.Warn("SIGHUP: keeping the current access token", "err", err)
			continue
		}
		if tok != g.Token() {
			g.SetToken(tok)
			log.Info("SIGHUP: access token reloaded; cookies with the old one no longer work")
		}
	}
}

// tokenCmd is `sensorcast token`: it prints the access token (or, with
// -url, the dashboard's URL with it); -rotate replaces it first.
func tokenCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("sensorcast token", flag.ContinueOnError)
	fl.SetOutput(stderr)
	rotate := fl.Bool("rotate", false, "replace the token with a new one (a running sensorcast takes it at SIGHUP or restart)")
	showURL := fl.Bool("url", false, "print the dashboard's URL with the token")
	stateDir := fl.String("state", "", "`directory` holding the token (default as for sensorcast, or "+serviceStateDir+" if it holds one)")
	configPath := fl.String("config", "", "TOML configuration `file`, for the port in -url")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: sensorcast token [-rotate] [-url] [-state dir] [-config file]\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "sensorcast token: unexpected argument %q\n", fl.Arg(0))
		fl.Usage()
		return errUsage
	}
	listen, secure := ":8080", false
	if *configPath != "" {
		c, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		listen, secure = c.Listen, c.HTTP.tlsMode() != "off"
	}
	dir := *stateDir
	if dir == "" {
		dir = tokenStateDir()
	}
	var tok string
	var err error
	if *rotate {
		tok, err = access.RotateToken(dir)
		if err == nil {
			fmt.Fprintln(stderr, "sensorcast token: new token written; a running sensorcast takes it at SIGHUP (systemctl kill -s HUP sensorcast) or restart")
		}
	} else {
		tok, err = access.ReadToken(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no access token in %s yet: sensorcast creates it at its first start (or give -state, or create one with -rotate)", dir)
		}
	}
	if err != nil {
		return err
	}
	if *showURL {
		fmt.Fprintln(stdout, secureURL(tokenURL(listen, tok), secure))
	} else {
		fmt.Fprintln(stdout, tok)
	}
	return nil
}

// tokenStateDir is where `sensorcast token` looks without -state: the
// service's directory when run from a shell that has no state directory
// of its own with a token, else defaultStateDir; the service's without
// any state directory of its own.
func tokenStateDir() string {
	d, err := defaultStateDir()
	if err != nil {
		return serviceStateDir
	}
	if os.Getenv("STATE_DIRECTORY") != "" {
		return d
	}
	if _, err := os.Stat(filepath.Join(d, access.TokenFile)); err == nil {
		return d
	}
	if _, err := os.Stat(filepath.Join(serviceStateDir, access.TokenFile)); err == nil || errors.Is(err, fs.ErrPermission) {
		return serviceStateDir
	}
	return d
}
