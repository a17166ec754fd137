package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

func TestFlags(t *testing.T) {
	bad := [][]string{
		{"-rate", "-1"}, {"-read-limit", "0"}, {"-max-echo-conns", "0"}, {"-handshake-timeout", "0s"}, {"-ping", "0s"},
		{"-nope"}, {"extra"},
	}
	for _, args := range bad {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); !errors.Is(err, errUsage) {
			t.Errorf("run %q = %v, want errUsage", args, err)
		}
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if err := run(context.Background(), []string{"-addr", "127.0.0.1:99999"}, io.Discard); err == nil {
		t.Error("bad -addr accepted")
	}
	cfg, err := parseFlags([]string{"-origins", " https://a.example, ,http://b:8080"}, io.Discard)
	if err != nil || strings.Join(cfg.origins, "|") != "https://a.example|http://b:8080" {
		t.Errorf("origins %q, %v", cfg.origins, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun runs the command's run on a free port: it logs its address,
// echoes, logs the client's close code and reason, and stops on cancel.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-rate", "50"}, &log) }()
	addrRE := regexp.MustCompile(`msg="wsecho listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	for range 500 {
		if m := addrRE.FindStringSubmatch(log.String()); m != nil {
			addr = m[1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		cancel()
		t.Fatalf("no address logged:\n%s", log.String())
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	c, _, err := wstest.Dial(dctx, "ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteText("hello"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ReadText(); err != nil || string(p) != "hello" {
		t.Fatalf("echo %q, %v", p, err)
	}
	if err := c.Close(4001, "done here"); err != nil {
		t.Fatal(err)
	}
	if code, reason, _ := c.CloseCode(); code != 4001 || reason != "done here" {
		t.Fatalf("server echoed close %d %q", code, reason)
	}
	want := `msg="wsecho: connection closed" remote=` // then the address, code and reason
	for range 500 {
		if strings.Contains(log.String(), "code=4001 reason=\"done here\"") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := log.String(); !strings.Contains(s, want) || !strings.Contains(s, "code=4001 reason=\"done here\"") {
		t.Fatalf("close not logged:\n%s", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(log.String(), "wsecho stopped") {
		t.Fatal("no stop logged")
	}
}
