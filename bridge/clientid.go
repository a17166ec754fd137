package bridge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// machineIDFiles are where systemd and D-Bus keep the machine's ID.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// clientIDFile is the fallback client ID's file name in StateDir.
const clientIDFile = "mqtt-client-id"

// defaultClientID is the client ID of an install without client_id:
// "sensorcast-" and 12 hex digits (23 bytes, the most MQTT 3.1 allows).
// They are an HMAC-SHA256 of "sensorcast mqtt client id" keyed with the
// machine ID (the machine ID itself is never sent, as systemd asks of
// application IDs), or, on a machine without one, random digits kept in
// stateDir. Two Pis still both named raspberrypi then get different IDs
// and do not take turns on the broker. Without a machine ID or a
// stateDir, the ID is random for this run.
func defaultClientID(machineIDs []string, stateDir string) (string, error) {
	for _, f := range machineIDs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if _, err := hex.DecodeString(id); err != nil || len(id) != 32 || strings.Trim(id, "0") == "" {
			continue // "uninitialized", empty or zero: not this machine's
		}
		mac := hmac.New(sha256.New, []byte(id))
		mac.Write([]byte("sensorcast mqtt client id"))
		return "sensorcast-" + hex.EncodeToString(mac.Sum(nil))[:12], nil
	}
	if stateDir == "" {
		return randomClientID(), nil
	}
	path := filepath.Join(stateDir, clientIDFile)
	b, err := readNoFollow(path, 64)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !strings.HasPrefix(id, "sensorcast-") || len(id) != 23 {
			return "", fmt.Errorf("mqtt: %s: %q is not a client ID this program wrote (delete the file to get a new one)", path, id)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("mqtt: client ID: %w", err)
	}
	id := randomClientID()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", fmt.Errorf("mqtt: client ID: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", fmt.Errorf("mqtt: client ID: %w", err)
	}
	_, err = f.WriteString(id + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("mqtt: client ID: %w", err)
	}
	return id, nil
}

func randomClientID() string {
	var b [6]byte
	rand.Read(b[:])
	return "sensorcast-" + hex.EncodeToString(b[:])
}

// readNoFollow reads at most limit bytes of a regular file, refusing a
// symbolic link in its last element.
func readNoFollow(path string, limit int64) ([]byte, error) {
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
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
