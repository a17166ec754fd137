package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-push", "x"}, {"-push", "0"}, {"-idle", "0"}, {"-rate", "0"}, {"-heavy-rate", "1e9"},
		{"-echo", "0"}, {"-echo-size", "5000"}, {"-runs", "0"}, {"-window", "2m"}, {"-nope"},
		{"-ceiling", "-1"}, {"-ceiling-from", "0"}, {"-ceiling-to", "50"}, {"-ceiling-factor", "1"},
		{"-ceiling-bisect", "11"}, {"-ceiling-window", "0"}, {"-ceiling-lag", "0"}, {"-ceiling-retries", "-1"}, {"-ceiling-warmup", "-1s"},
	} {
		err := run(args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	if err := run([]string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	err := run([]string{"-servers", "sensorcast,nosuch", "-e2e=false"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown server: %v", err)
	}
}
