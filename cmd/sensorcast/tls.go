package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/tlscert"
)

// newTLS returns the certificate source of cfg's [http] table, or nil to
// serve plain HTTP. A self-signed certificate is made in stateDir on
// first start; its SHA-256 fingerprint and key pin are logged at every
// start, so that a browser's warning can be checked against them.
func newTLS(cfg *Config, stateDir string, log *slog.Logger) (*tlscert.Source, error) {
	hc := cfg.HTTP
	switch hc.tlsMode() {
	case "files":
		src, err := tlscert.Files(hc.CertFile, hc.KeyFile)
		if err != nil {
			return nil, err
		}
		logCert(log, "serving HTTPS with the certificate of [http] cert_file (reloaded at SIGHUP)", src, "cert_file", hc.CertFile)
		return src, nil
	case "self-signed":
		host, _ := os.Hostname()
		names, addrs := tlscert.Names(host, hc.Hosts)
		src, changed, err := tlscert.SelfSigned(stateDir, names, addrs, time.Now())
		if err != nil {
			return nil, err
		}
		msg := "serving HTTPS with the self-signed certificate kept in the state directory: check a browser's warning against its fingerprint"
		if changed {
			msg = "made a self-signed certificate for HTTPS: check a browser's warning against its fingerprint"
		}
		logCert(log, msg, src, "file", stateDir+"/"+tlscert.CertFile)
		return src, nil
	}
	return nil, nil
}

// logCert logs the certificate being served.
func logCert(log *slog.Logger, msg string, src *tlscert.Source, args ...any) {
	leaf := src.Leaf()
	ips := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		ips[i] = ip.String()
	}
	log.Info(msg, append(args,
		"sha256", src.Fingerprint(), "spki_sha256", src.SPKIHash(),
		"names", strings.Join(append(leaf.DNSNames, ips...), ","),
		"expires", leaf.NotAfter.Format(time.DateOnly))...)
}

// tlsListener wraps ln in TLS when src is not nil. It goes under
// ws.Intercept, which then reads the decrypted request heads (a TLS
// handshake counts as a handshake in progress, bounded by the WebSocket
// server's HandshakeTimeout and MaxHandshakes); the connections Intercept
// hands to net/http are decrypted already, so net/http serves them as
// plain HTTP/1.1 (a request's TLS field is nil).
func tlsListener(ln net.Listener, src *tlscert.Source) net.Listener {
	if src == nil {
		return ln
	}
	return tls.NewListener(ln, src.Config())
}

// secureURL turns tokenURL's http:// URL into https:// when serving TLS.
func secureURL(u string, secure bool) string {
	if secure {
		if rest, ok := strings.CutPrefix(u, "http://"); ok {
			return "https://" + rest
		}
	}
	return u
}

// reloadTLSOnHUP reads cert_file and key_file again at each SIGHUP (a
// renewed certificate); a failed reload keeps the current one. Open
// connections keep theirs.
func reloadTLSOnHUP(ctx context.Context, hup <-chan os.Signal, src *tlscert.Source, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		before := src.Fingerprint()
		if err := src.Reload(); err != nil {
			log.Warn("SIGHUP: keeping the current TLS certificate", "err", err)
			continue
		}
		if src.Fingerprint() != before {
			logCert(log, "SIGHUP: TLS certificate reloaded; open connections keep the old one", src)
		}
	}
}
