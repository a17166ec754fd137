package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	old := stdout
	stdout = &out
	defer func() { stdout = old }()
	if err := run(context.Background(), []string{"-version"}, &errOut); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "sensorcast "+version+"\n"; got != want {
		t.Errorf("-version printed %q, want %q", got, want)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-listen"}} {
		var errOut bytes.Buffer
		err := run(context.Background(), args, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
		if !strings.Contains(errOut.String(), "-listen") {
			t.Errorf("run(%q) printed no usage: %q", args, errOut.String())
		}
	}
	if err := run(context.Background(), []string{"-h"}, new(bytes.Buffer)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run(-h) = %v, want flag.ErrHelp", err)
	}
}

// A bad config file stops sensorcast before it listens or opens a sensor.
func TestBadConfigStopsBeforeStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte("[[sensor]]\ndriver = \"sim\"\nintervall = \"1s\"\n"), 0o644)
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"-config", path, "-listen", "127.0.0.1:0"}, &errOut)
	if err == nil || !strings.Contains(err.Error(), path+":3: unknown key \"sensor.intervall\"") {
		t.Fatalf("run = %v, want the file, line and key", err)
	}
	if strings.Contains(errOut.String(), "started") {
		t.Errorf("started despite the bad config: %s", errOut.String())
	}
}
