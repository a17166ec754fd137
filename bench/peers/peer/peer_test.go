package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := ParseFlags("x", []string{"-addr", "127.0.0.1:1", "-rate", "200", "-hold"}, io.Discard)
	if err != nil || cfg.Addr != "127.0.0.1:1" || cfg.Rate != 200 || !cfg.Hold {
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

// TestLoopCatchesUp: in fake time, a broadcast that overruns three periods
// leaves ticks due and not sent; they go out at once afterwards, none
// skipped, each with its own due time as ts.
func TestLoopCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		l := NewLoop(100) // 10 ms
		if tk := l.Ticks(); tk.Due != 0 || tk.StartNS != 0 || tk.PeriodNS != int64(10*time.Millisecond) {
			t.Errorf("Ticks before Run = %+v", tk)
		}
		start := time.Now()
		type msg struct {
			Seq  uint64 `json:"seq"`
			TS   int64  `json:"ts"`
			Sent time.Duration
		}
		var got []msg
		done := make(chan struct{})
		go func() {
			l.Run(ctx, func(b []byte) {
				m := msg{Sent: time.Since(start)}
				if err := json.Unmarshal(b, &m); err != nil {
					t.Errorf("%s: %v", b, err)
				}
				got = append(got, m)
				if m.Seq == 2 {
					time.Sleep(35 * time.Millisecond) // ticks 3..5 fall due
				}
			})
			close(done)
		}()
		time.Sleep(52 * time.Millisecond)
		behind := l.Ticks()
		time.Sleep(43 * time.Millisecond)
		synctest.Wait()
		after := l.Ticks()
		cancel()
		<-done
		if behind.Due != 5 || behind.Sent != 1 {
			t.Errorf("Ticks during the overrun = %+v; want 5 due, 1 sent", behind)
		}
		if after.Due != 9 || after.Sent != 9 || after.PeriodNS != int64(10*time.Millisecond) || after.StartNS != start.UnixNano() {
			t.Errorf("Ticks = %+v; want 9 due, 9 sent", after)
		}
		if len(got) != 9 {
			t.Fatalf("%d broadcasts, want 9: %+v", len(got), got)
		}
		for i, m := range got {
			due := time.Duration(i+1) * 10 * time.Millisecond
			if m.Seq != uint64(i+1) || m.TS != start.Add(due).UnixMilli() {
				t.Errorf("broadcast %d: seq %d ts %d; want seq %d, its due time", i, m.Seq, m.TS, i+1)
			}
			sent := due
			if i+1 >= 3 && i+1 <= 5 {
				sent = 55 * time.Millisecond // the overrun's end
			}
			if m.Sent != sent {
				t.Errorf("seq %d sent at %v, want %v", m.Seq, m.Sent, sent)
			}
		}
	})
}

func TestPusherAt(t *testing.T) {
	var p Pusher
	ts := time.UnixMilli(1795721607120)
	if b := p.At(41, ts); !bytes.Contains(b, []byte(`"seq":41,"ts":1795721607120,`)) {
		t.Fatalf("At: %s", b)
	}
	if b := p.Next(ts); !bytes.Contains(b, []byte(`"seq":42,`)) {
		t.Fatalf("Next after At(41): %s", b)
	}
}
