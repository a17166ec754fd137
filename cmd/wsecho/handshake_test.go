package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

// request builds an upgrade request; lines replace or drop (empty value)
// the default header lines by name.
func request(method string, lines ...string) string {
	hdr := []string{"Host: HOST", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + goodKey, "Sec-WebSocket-Version: 13"}
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		replaced := false
		for i, h := range hdr {
			if hn, _, _ := strings.Cut(h, ":"); strings.EqualFold(hn, name) && !replaced {
				hdr[i], replaced = l, true
			}
		}
		if !replaced {
			hdr = append(hdr, l)
		}
	}
	var b strings.Builder
	b.WriteString(method + " / HTTP/1.1\r\n")
	for _, h := range hdr {
		if n, v, _ := strings.Cut(h, ":"); strings.TrimSpace(v) != "" || !strings.Contains(h, ":") {
			b.WriteString(n + ":" + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func TestHandshakeConformance(t *testing.T) {
	addr := startEcho(t, func(c *config) { c.origins = []string{"https://dash.example"} })
	tests := []struct {
		name   string
		req    string
		status int
		check  func(t *testing.T, r *http.Response)
	}{
		{"valid", request("GET"), 101, func(t *testing.T, r *http.Response) {
			if got := r.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Errorf("Sec-WebSocket-Accept %q", got)
			}
		}},
		{"POST", request("POST"), 405, nil},
		{"HEAD", request("HEAD"), 405, nil},
		{"missing key", request("GET", "Sec-WebSocket-Key: "), 400, nil},
		{"key of 15 bytes", request("GET", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), 400, nil},
		{"key not base64", request("GET", "Sec-WebSocket-Key: ########################"), 400, nil},
		{"missing Upgrade", request("GET", "Upgrade: "), 400, nil},
		{"missing Connection token", request("GET", "Connection: keep-alive"), 400, nil},
		{"version 8", request("GET", "Sec-WebSocket-Version: 8"), 426, func(t *testing.T, r *http.Response) {
			if r.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Error("426 without Sec-WebSocket-Version: 13")
			}
		}},
		{"missing version", request("GET", "Sec-WebSocket-Version: "), 426, nil},
		{"names and tokens in any case", "GET / HTTP/1.1\r\nhost: HOST\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-key: " + goodKey + "\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n", 101, nil},
		{"deflate declined", request("GET", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"), 101, func(t *testing.T, r *http.Response) {
			if v := r.Header.Values("Sec-WebSocket-Extensions"); len(v) != 0 {
				t.Errorf("extensions accepted: %q", v)
			}
		}},
		{"subprotocol not offered by the server", request("GET", "Sec-WebSocket-Protocol: chat"), 101, func(t *testing.T, r *http.Response) {
			if v := r.Header.Values("Sec-WebSocket-Protocol"); len(v) != 0 {
				t.Errorf("subprotocol chosen: %q", v)
			}
		}},
		{"same origin", request("GET", "Origin: http://HOST"), 101, nil},
		{"allow-listed origin", request("GET", "Origin: https://dash.example"), 101, nil},
		{"foreign origin", request("GET", "Origin: https://evil.example"), 403, nil},
	}
	for _, split := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if split {
				name += " (1-byte writes)"
			}
			t.Run(name, func(t *testing.T) {
				nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				req := strings.ReplaceAll(tt.req, "HOST", addr)
				if split {
					for i := range len(req) {
						if _, err := nc.Write([]byte{req[i]}); err != nil {
							t.Fatal(err)
						}
					}
				} else if _, err := io.WriteString(nc, req); err != nil {
					t.Fatal(err)
				}
				method, _, _ := strings.Cut(req, " ")
				resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: method})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if tt.check != nil {
					tt.check(t, resp)
				}
			})
		}
	}
}

// TestSlowloris: a client that never finishes its upgrade request is
// disconnected once the handshake deadline passes.
func TestSlowloris(t *testing.T) {
	addr := startEcho(t, func(c *config) { c.handshakeTimeout = 200 * time.Millisecond })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: web"); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, nc) // whatever the server says, it must then close
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("server kept a half-sent handshake open for 10 s")
	}
}

// TestMaxEchoConns: above -max-echo-conns the server answers 503.
func TestMaxEchoConns(t *testing.T) {
	addr := startEcho(t, func(c *config) { c.maxEchoConns = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 2 {
		c, _, err := wstest.Dial(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.NetConn().Close()
	}
	if _, resp, err := wstest.Dial(ctx, "ws://"+addr+"/", nil); resp == nil || resp.StatusCode != 503 {
		t.Fatalf("third connection: %v, %v; want 503", resp, err)
	}
}

// TestPush: /push clients get the broadcast JSON with rising sequence
// numbers, and anything they send is held to the small telemetry limit.
func TestPush(t *testing.T) {
	addr := startEcho(t, func(c *config) { c.rate = 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wstest.Dial(ctx, "ws://"+addr+"/push", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.NetConn().Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var last uint64
	for range 5 {
		p, err := c.ReadText()
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
			TS   int64  `json:"ts"`
		}
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if m.Type != "push" || m.Seq <= last || m.TS == 0 || len(p) < 100 || len(p) > 140 {
			t.Fatalf("push %q after seq %d", p, last)
		}
		last = m.Seq
	}
	if err := c.WriteText(strings.Repeat("x", 2000)); err != nil {
		t.Fatal(err)
	}
	for {
		op, _, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if op == wstest.OpClose {
			break
		}
	}
	if code, _, _ := c.CloseCode(); code != 1009 {
		t.Fatalf("close %d after a 2000-byte message on /push, want 1009", code)
	}
}

func TestNextPushNoAllocs(t *testing.T) {
	a := &app{}
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { a.nextPush(now) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
