package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	names, addrs := Names("pi", []string{"sensors.example"})
	addrs = append(addrs, net.ParseIP("192.0.2.7").To4())
	s, changed, err := SelfSigned(dir, names, addrs, t0)
	if err != nil || !changed {
		t.Fatalf("SelfSigned = %v, %v", changed, err)
	}
	if m := mode(t, dir); m.Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", m)
	}
	for _, f := range []string{CertFile, KeyFile} {
		if m := mode(t, filepath.Join(dir, f)); m.Perm() != 0o600 || !m.IsRegular() {
			t.Errorf("%s mode %v, want a regular file 0600", f, m)
		}
	}
	leaf := s.Leaf()
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	for _, h := range []string{"pi", "pi.local", "localhost", "sensors.example", "127.0.0.1", "::1", "192.0.2.7"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not name %s: %v", h, err)
		}
	}
	if err := leaf.VerifyHostname("evil.example"); err == nil {
		t.Error("certificate names evil.example")
	}
	if leaf.NotAfter.Sub(t0) != Validity || leaf.IsCA || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("NotAfter %v IsCA %v ExtKeyUsage %v", leaf.NotAfter, leaf.IsCA, leaf.ExtKeyUsage)
	}
	fp, pin := s.Fingerprint(), s.SPKIHash()
	if len(fp) != 32*3-1 || strings.Count(fp, ":") != 31 || len(pin) != 44 {
		t.Errorf("fingerprint %q, SPKI hash %q", fp, pin)
	}

	// Second start: the same certificate.
	s2, changed, err := SelfSigned(dir, names, addrs, t0.Add(24*time.Hour))
	if err != nil || changed || s2.Fingerprint() != fp {
		t.Fatalf("second start: changed %v, err %v, fingerprint %s want %s", changed, err, s2.Fingerprint(), fp)
	}
	// Near its end: made again with the same key.
	s3, changed, err := SelfSigned(dir, names, addrs, t0.Add(Validity-Renew+time.Hour))
	if err != nil || !changed || s3.Fingerprint() == fp || s3.SPKIHash() != pin {
		t.Fatalf("renewal: changed %v, err %v, fingerprint changed %v, pin kept %v", changed, err, s3.Fingerprint() != fp, s3.SPKIHash() == pin)
	}
	// Renamed host: made again, naming the new name, same key.
	names2, _ := Names("pi2", nil)
	s4, changed, err := SelfSigned(dir, names2, addrs, t0.Add(48*time.Hour))
	if err != nil || !changed || s4.Leaf().VerifyHostname("pi2.local") != nil || s4.SPKIHash() != pin {
		t.Fatalf("rename: changed %v, err %v, names %v", changed, err, s4.Leaf().DNSNames)
	}
	// A damaged certificate is made again.
	os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o600)
	s5, changed, err := SelfSigned(dir, names2, addrs, t0)
	if err != nil || !changed || s5.SPKIHash() != pin {
		t.Fatalf("damaged certificate: changed %v, err %v", changed, err)
	}
}

func TestSelfSignedRefusals(t *testing.T) {
	names, addrs := Names("pi", nil)
	t.Run("key readable by others", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := SelfSigned(dir, names, addrs, t0); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, KeyFile), 0o644)
		_, _, err := SelfSigned(dir, names, addrs, t0)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v, want the chmod advice", err)
		}
	})
	t.Run("certificate is a symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := SelfSigned(dir, names, addrs, t0); err != nil {
			t.Fatal(err)
		}
		other := filepath.Join(t.TempDir(), "other.crt")
		os.Rename(filepath.Join(dir, CertFile), other)
		os.Symlink(other, filepath.Join(dir, CertFile))
		if _, _, err := SelfSigned(dir, names, addrs, t0); err == nil {
			t.Fatal("a symbolic link was followed")
		}
	})
	t.Run("key is a symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		other := filepath.Join(t.TempDir(), "k")
		os.WriteFile(other, nil, 0o600)
		os.Symlink(other, filepath.Join(dir, KeyFile))
		if _, _, err := SelfSigned(dir, names, addrs, t0); err == nil {
			t.Fatal("a symbolic link was followed")
		}
	})
	t.Run("damaged key", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key"), 0o600)
		_, _, err := SelfSigned(dir, names, addrs, t0)
		if err == nil || !strings.Contains(err.Error(), "no PEM private key") {
			t.Fatalf("err = %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, KeyFile)); string(b) != "not a key" {
			t.Error("the damaged key was overwritten")
		}
	})
	t.Run("state directory not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes anywhere")
		}
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if _, _, err := SelfSigned(dir, names, addrs, t0); err == nil {
			t.Fatal("no error")
		}
	})
}

// pair writes a self-signed certificate for name and its key as PEM files
// in dir.
func pair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	s, _, err := SelfSigned(t.TempDir(), []string{name}, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	c := s.cur.Load()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(c.PrivateKey.(*ecdsa.PrivateKey))}), 0o600)
	return certFile, keyFile
}

// serve accepts TLS connections with cfg and echoes what they send.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c *tls.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo %q, %v", b, err)
	}
}

func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := pair(t, dir, "a.example")
	certB, keyB := pair(t, dir, "b.example")
	certFile, keyFile := filepath.Join(dir, "live.crt"), filepath.Join(dir, "live.key")
	// Symbolic links, as certificate tools keep them, are followed.
	os.Symlink(certA, certFile)
	os.Symlink(keyA, keyFile)
	s, err := Files(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s.Config())
	old := dial(t, addr)
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "a.example" {
		t.Fatalf("served %s", cn)
	}
	if p := old.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		t.Errorf("ALPN %q", p)
	}

	// Replaced files: new handshakes get the new certificate, the open
	// connection goes on.
	os.Remove(certFile)
	os.Remove(keyFile)
	os.Symlink(certB, certFile)
	os.Symlink(keyB, keyFile)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn := dial(t, addr).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "b.example" {
		t.Fatalf("after reload served %s", cn)
	}
	echo(t, old)

	// Bad files: Reload fails and the current certificate stays.
	os.Remove(keyFile)
	os.Symlink(keyA, keyFile) // a's key with b's certificate
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched pair: %v", err)
	}
	os.Chmod(keyB, 0o640)
	os.Remove(keyFile)
	os.Symlink(keyB, keyFile)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("key readable by group: %v", err)
	}
	os.Chmod(keyB, 0o600)
	os.WriteFile(certB, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644)
	if err := s.Reload(); err == nil {
		t.Fatal("a damaged certificate was taken")
	}
	if cn := dial(t, addr).ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "b.example" {
		t.Fatalf("after failed reloads served %s", cn)
	}
}

func TestFilesErrors(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := pair(t, dir, "a.example")
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxFile+10), 0o600)
	for _, tc := range []struct{ cert, key, want string }{
		{filepath.Join(dir, "missing"), keyA, "cert_file"},
		{certA, filepath.Join(dir, "missing"), "key_file"},
		{certA, big, "larger than"},
		{keyA, keyA, "certificate PEM"},
	} {
		if _, err := Files(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Files(%s, %s) = %v, want an error with %q", tc.cert, tc.key, err, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	names, ips := Names("Pi.", []string{"a.example", "pi.local", "192.0.2.1"})
	want := []string{"pi", "pi.local", "localhost", "a.example"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("names %v, want %v", names, want)
	}
	if len(ips) < 2 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) || !ips[1].Equal(net.IPv6loopback) {
		t.Errorf("addresses %v, want the loopback ones first", ips)
	}
	for _, ip := range ips {
		if ip.IsLinkLocalUnicast() {
			t.Errorf("link-local %v named", ip)
		}
	}
}
