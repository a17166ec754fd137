// Package tlscert is the serving certificate of sensorcast's HTTPS: either
// the certificate and key files the [http] table names (cert_file,
// key_file), read again by Reload (at SIGHUP) while open connections keep
// theirs, or a self-signed ECDSA P-256 certificate made on first start and
// kept in the state directory.
//
// A Source hands its current certificate to each TLS handshake
// (tls.Config.GetCertificate), so a reload never touches a connection
// already made.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
)

// Files of the self-signed certificate in the state directory, both mode
// 0600 and never followed through a symbolic link.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Validity is how long a self-signed certificate is valid: 825 days, the
// most Apple's systems accept for a TLS server certificate. A certificate
// within Renew of its end is made again at start, with the same key, so a
// client that trusts the key (an SPKI pin) keeps trusting it.
const (
	Validity = 825 * 24 * time.Hour
	Renew    = 30 * 24 * time.Hour
)

// maxFile bounds a certificate or key file read (a chain of a few
// certificates is a few KiB).
const maxFile = 1 << 20

// Source holds the serving certificate. Its methods are safe for
// concurrent use.
type Source struct {
	cur atomic.Pointer[tls.Certificate]

	// certFile and keyFile are the files Reload reads again; dir is the
	// state directory of a self-signed certificate ("" for files).
	certFile, keyFile string
	dir               string
}

// Files loads the PEM certificate chain at certFile and the key at
// keyFile. The key file must not be readable by group or others (as
// Mosquitto requires of its own); both may be symbolic links (as
// certificate tools keep them).
func Files(certFile, keyFile string) (*Source, error) {
	s := &Source{certFile: certFile, keyFile: keyFile}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again and, if they make a valid certificate and
// key, serves them to the handshakes that follow; on error the current
// certificate stays. A self-signed Source reads its state files again.
func (s *Source) Reload() error {
	if s.dir != "" {
		c, err := readSelfSigned(s.dir)
		if err != nil {
			return err
		}
		s.cur.Store(c)
		return nil
	}
	certPEM, err := readLimited(s.certFile)
	if err != nil {
		return fmt.Errorf("tls: cert_file: %w", err)
	}
	fi, err := os.Stat(s.keyFile)
	if err != nil {
		return fmt.Errorf("tls: key_file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("tls: key_file %s: mode %04o lets group or others read or change it; run chmod 600 %s (owned by the user sensorcast runs as)", s.keyFile, perm, s.keyFile)
	}
	keyPEM, err := readLimited(s.keyFile)
	if err != nil {
		return fmt.Errorf("tls: key_file: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tls: %s and %s: %w", s.certFile, s.keyFile, err)
	}
	s.cur.Store(&c)
	return nil
}

// readLimited reads the file at path, refusing one over maxFile bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxFile+1)
	n, _ := f.Read(b)
	for m := n; m > 0 && n <= maxFile; {
		m, _ = f.Read(b[n:])
		n += m
	}
	if n > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a certificate or key", path, maxFile)
	}
	return b[:n], nil
}

// SelfSigned returns the self-signed certificate kept in dir, making a key
// and a certificate the first time (dir is created with mode 0700). The
// certificate names every one of names (DNS names) and addrs; it is made
// again, with the same key, when it is within Renew of its end or does
// not name names[0] (the hostname, after a rename). changed reports that
// a certificate was written.
func SelfSigned(dir string, names []string, addrs []net.IP, now time.Time) (s *Source, changed bool, err error) {
	keyPath := filepath.Join(dir, KeyFile)
	key, err := readKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		k, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, false, fmt.Errorf("tls: %w", gerr)
		}
		werr := access.WritePrivate(dir, KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(k)}), false)
		if werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, false, fmt.Errorf("tls: write %s: %w", keyPath, werr)
		}
		key, err = readKey(keyPath) // another start may have won the race
	}
	if err != nil {
		return nil, false, err
	}
	// A certificate that is missing, damaged, for another key, ending
	// soon or not naming this host is made again, with the same key; a
	// file that is refused (a symbolic link, a mode open to others) is an
	// error to fix.
	certPEM, err := access.ReadPrivate(filepath.Join(dir, CertFile), maxFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("tls: %w", err)
	}
	if err == nil {
		c, perr := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(key)}))
		if perr == nil && now.Add(Renew).Before(c.Leaf.NotAfter) && (len(names) == 0 || c.Leaf.VerifyHostname(names[0]) == nil) {
			s := &Source{dir: dir}
			s.cur.Store(&c)
			return s, false, nil
		}
	}
	der, err := issue(key, names, addrs, now)
	if err != nil {
		return nil, false, err
	}
	if err := access.WritePrivate(dir, CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), true); err != nil {
		return nil, false, fmt.Errorf("tls: write %s: %w", filepath.Join(dir, CertFile), err)
	}
	c, err := readSelfSigned(dir)
	if err != nil {
		return nil, false, err
	}
	s = &Source{dir: dir}
	s.cur.Store(c)
	return s, true, nil
}

// mustPKCS8 encodes an ECDSA key, which cannot fail.
func mustPKCS8(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return der
}

// readKey reads the ECDSA key of a self-signed certificate.
func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := access.ReadPrivate(path, maxFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("tls: %s holds no PEM private key (delete it to make a new one; clients that trusted the old certificate must trust the new one)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tls: %s: not an ECDSA key", path)
	}
	return ek, nil
}

// readSelfSigned reads the certificate and key kept in dir.
func readSelfSigned(dir string) (*tls.Certificate, error) {
	certPEM, err := access.ReadPrivate(filepath.Join(dir, CertFile), maxFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := access.ReadPrivate(filepath.Join(dir, KeyFile), maxFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", dir, err)
	}
	return &c, nil
}

// issue makes a self-signed server certificate for key naming names and
// addrs, valid from an hour before now (clocks of a Pi without a
// real-time clock) for Validity.
func issue(key *ecdsa.PrivateKey, names []string, addrs []net.IP, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cn := "sensorcast"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sensorcast (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              slices.Compact(slices.Clone(names)),
		IPAddresses:           addrs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return der, nil
}

// Names returns the DNS names and addresses a self-signed certificate of
// this machine names: hostname, hostname.local, localhost, the extra
// names, and the machine's addresses (loopback included, link-local ones
// left out: they need a zone, which a URL cannot carry in a certificate
// check).
func Names(hostname string, extra []string) ([]string, []net.IP) {
	var names []string
	add := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !slices.Contains(names, n) && net.ParseIP(n) == nil {
			names = append(names, n)
		}
	}
	hostname = strings.ToLower(strings.TrimSuffix(hostname, "."))
	add(hostname)
	if hostname != "" && !strings.Contains(hostname, ".") {
		add(hostname + ".local")
	}
	add("localhost")
	for _, n := range extra {
		add(n)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsLoopback() {
				continue
			}
			ip := ipn.IP
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			ips = append(ips, ip)
		}
	}
	return names, ips
}

// Leaf returns the certificate being served.
func (s *Source) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

// Fingerprint returns the SHA-256 fingerprint of the certificate being
// served, as browsers show it: upper-case hex pairs separated by colons.
func (s *Source) Fingerprint() string {
	sum := sha256.Sum256(s.cur.Load().Leaf.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// SPKIHash returns the base64 SHA-256 of the certificate's public key
// (its SubjectPublicKeyInfo): the pin that curl's --pinnedpubkey
// ("sha256//" + it) and Chromium's --ignore-certificate-errors-spki-list
// take. It survives a renewal of a self-signed certificate.
func (s *Source) SPKIHash() string {
	sum := sha256.Sum256(s.cur.Load().Leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Config returns the server's TLS configuration: TLS 1.2 or later,
// HTTP/1.1 only (sensorcast serves no HTTP/2), and the current
// certificate at each handshake.
func (s *Source) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load(), nil
		},
	}
}
