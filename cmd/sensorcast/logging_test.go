package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogFlags(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "sensor", "sim")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "shown" || line["level"] != "WARN" || line["sensor"] != "sim" {
		t.Errorf("json at warn: %q (%v)", buf.String(), err)
	}
	for _, args := range [][]string{{"-log-format", "xml"}, {"-log-level", "loud"}, {"-log-level", "info+2"}, {"-log-level", ""}} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &stderr); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("%v: %v, %q", args, err, stderr.String())
		}
	}

	// The binary's own lines, as JSON.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[[sensor]]\ndriver = \"sim\"\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "s"), "-log-format", "json"}, logs)
	}()
	for i := 0; !strings.Contains(logs.String(), `"msg":"sensorcast started"`); i++ {
		if i == 1000 {
			t.Fatalf("no JSON start line:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON line: %s", l)
		}
	}
}
