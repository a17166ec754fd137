package access

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TokenFile is the name of the token's file in the state directory.
const TokenFile = "token"

// Bounds of a token read from its file (one written by hand included).
const (
	minTokenLen = 16
	maxTokenLen = 256
)

// NewToken returns a random token: 24 bytes from crypto/rand, 32
// characters of unpadded base64url, which need no escaping in a URL.
func NewToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkToken reports why t cannot be a token, or nil.
func checkToken(t string) error {
	if len(t) < minTokenLen || len(t) > maxTokenLen {
		return fmt.Errorf("%d characters, want %d to %d", len(t), minTokenLen, maxTokenLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return fmt.Errorf("character %q at %d: only letters, digits and - _ . ~ may appear", c, i)
		}
	}
	return nil
}

// ReadToken reads the token kept in dir. It refuses a file that is a
// symbolic link, is readable or writable by group or others (as Mosquitto
// refuses such a password file), or does not hold a valid token; the
// error says how to fix it. A missing file is an error wrapping
// fs.ErrNotExist.
func ReadToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	b, err := ReadPrivate(path, maxTokenLen+2)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("read token: %s: %w (fix it, or replace it with sensorcast token -rotate)", path, err)
	}
	return t, nil
}

// ReadPrivate reads at most limit bytes of the state file at path (more
// are ignored). It refuses a symbolic link (the file is opened without
// following one), anything but a regular file, and a file that group or
// others may read or change; the error says how to fix it. A missing file
// is an error wrapping fs.ErrNotExist.
func ReadPrivate(path string, limit int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %#o: it must be readable by its owner only (chmod 600 %s)", path, perm, path)
	}
	b := make([]byte, limit)
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}

// LoadToken returns the token kept in dir, creating dir (mode 0700) and a
// new token (mode 0600) when there is none yet; created reports that.
func LoadToken(dir string) (token string, created bool, err error) {
	t, err := ReadToken(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return t, false, err
	}
	t, err = WriteToken(dir, NewToken(), false)
	return t, err == nil, err
}

// RotateToken replaces the token kept in dir with a new one and returns it.
func RotateToken(dir string) (string, error) {
	return WriteToken(dir, NewToken(), true)
}

// WriteToken stores t in dir with mode 0600, creating dir with mode 0700.
// It writes a temporary file and renames it over the old one, so a reader
// sees the old token or the new one, whole. Without replace it fails if a
// token file exists.
func WriteToken(dir, t string, replace bool) (string, error) {
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	if err := WritePrivate(dir, TokenFile, []byte(t+"\n"), replace); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return t, nil
}

// WritePrivate stores data as the state file name in dir with mode 0600,
// creating dir with mode 0700. It writes a temporary file and renames it
// over the old one, so a reader sees the old content or the new one,
// whole; the rename replaces a symbolic link rather than following it.
// Without replace it fails (fs.ErrExist) if the file exists, so that two
// first starts at once keep one file.
func WritePrivate(dir, name string, data []byte, replace bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if os.Geteuid() == 0 {
		// root rotating the service's token: the file stays the
		// directory owner's (the service user's), or the service could
		// not read it.
		if di, err := os.Stat(dir); err == nil {
			if st, ok := di.Sys().(*syscall.Stat_t); ok {
				_ = tmp.Chown(int(st.Uid), int(st.Gid))
			}
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !replace {
		// Link fails if the file exists.
		return os.Link(tmp.Name(), path)
	}
	return os.Rename(tmp.Name(), path)
}
