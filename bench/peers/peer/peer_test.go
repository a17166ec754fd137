package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := ParseFlags("x", []string{"-addr", "127.0.0.1:1", "-rate", "200"}, io.Discard)
	if err != nil || cfg.Addr != "127.0.0.1:1" || cfg.Rate != 200 {
		t.Fatalf("ParseFlags = %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"-rate", "-1"}, {"-rate", "1e6"}, {"extra"}, {"-nope"}} {
		var stderr bytes.Buffer
		if _, err := ParseFlags("x", args, &stderr); !errors.Is(err, ErrUsage) || stderr.Len() == 0 {
			t.Errorf("ParseFlags(%q) = %v, stderr %q; want ErrUsage and a message", args, err, stderr.String())
		}
	}
	if _, err := ParseFlags("x", []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestPusher(t *testing.T) {
	var p Pusher
	now := time.UnixMilli(1795721607120)
	p.Next(now)
	b := p.Next(now)
	var m struct {
		Type string `json:"type"`
		Seq  uint64 `json:"seq"`
		TS   int64  `json:"ts"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "push" || m.Seq != 2 || m.TS != 1795721607120 {
		t.Fatalf("%s: %+v %v", b, m, err)
	}
	if len(b) < 110 || len(b) > 130 {
		t.Fatalf("push message of %d bytes, want about 120", len(b))
	}
	if n := testing.AllocsPerRun(100, func() { p.Next(now) }); n != 0 {
		t.Fatalf("Next allocates %v times", n)
	}
}

func TestPushLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		PushLoop(ctx, 1000, func(b []byte) {
			select {
			case got <- append([]byte(nil), b...):
			default:
			}
		})
		close(done)
	}()
	if b := <-got; !bytes.Contains(b, []byte(`"seq":1,`)) {
		t.Fatalf("first push %s", b)
	}
	cancel()
	<-done
	PushLoop(context.Background(), 0, func([]byte) { t.Fatal("rate 0 broadcast") })
}

func TestReadMem(t *testing.T) {
	if m := ReadMem(); m.HeapAlloc == 0 || m.StackInuse == 0 || m.Goroutines < 1 {
		t.Fatalf("ReadMem = %+v", m)
	}
}
