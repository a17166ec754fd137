package ws

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 §1.3.
	var got [28]byte
	acceptKey(&got, "dGhlIHNhbXBsZSBub25jZQ==")
	if string(got[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %s", got)
	}
}

func TestHandshake(t *testing.T) {
	const key1, key2 = "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA=="
	tests := []struct {
		name   string
		header http.Header
		opts   Options
		want   int
	}{
		{"ok", nil, Options{}, 101},
		{"tokens in lists, any case", http.Header{"Connection": {"keep-alive, UPGRADE"}, "Upgrade": {"h2c, WebSocket"}}, Options{}, 101},
		{"tokens in separate header lines", http.Header{"Connection": {"keep-alive", "upgrade"}}, Options{}, 101},
		{"deflate offer declined", http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"}}, Options{}, 101},
		{"missing Upgrade", http.Header{"Upgrade": nil}, Options{}, 400},
		{"wrong Upgrade", http.Header{"Upgrade": {"h2c"}}, Options{}, 400},
		{"missing Connection", http.Header{"Connection": nil}, Options{}, 400},
		{"Connection without upgrade", http.Header{"Connection": {"keep-alive"}}, Options{}, 400},
		{"Connection token as substring", http.Header{"Connection": {"upgrades"}}, Options{}, 400},
		{"missing version", http.Header{"Sec-Websocket-Version": nil}, Options{}, 426},
		{"version 8", http.Header{"Sec-Websocket-Version": {"8"}}, Options{}, 426},
		{"two versions", http.Header{"Sec-Websocket-Version": {"13", "8"}}, Options{}, 426},
		{"missing key", http.Header{"Sec-Websocket-Key": nil}, Options{}, 400},
		{"two keys", http.Header{"Sec-Websocket-Key": {key1, key2}}, Options{}, 400},
		{"key of 4 bytes", http.Header{"Sec-Websocket-Key": {"dGVzdA=="}}, Options{}, 400},
		{"key not base64", http.Header{"Sec-Websocket-Key": {"!!!!!!!!!!!!!!!!!!!!!!!!"}}, Options{}, 400},
		{"key of 17 bytes", http.Header{"Sec-Websocket-Key": {"AAAAAAAAAAAAAAAAAAAAAAA="}}, Options{}, 400},
		{"same origin", http.Header{"Origin": {"http://HOST"}}, Options{}, 101},
		{"same origin, scheme in capitals", http.Header{"Origin": {"HTTP://HOST"}}, Options{}, 101},
		{"foreign origin", http.Header{"Origin": {"http://evil.example"}}, Options{}, 403},
		{"foreign port", http.Header{"Origin": {"http://127.0.0.1:1"}}, Options{}, 403},
		{"null origin", http.Header{"Origin": {"null"}}, Options{}, 403},
		{"origin with userinfo", http.Header{"Origin": {"http://x@HOST"}}, Options{}, 403},
		{"origin with path", http.Header{"Origin": {"http://HOST/x"}}, Options{}, 403},
		{"two origins", http.Header{"Origin": {"http://HOST", "http://HOST"}}, Options{}, 403},
		{"allow-listed origin", http.Header{"Origin": {"https://Dash.Example:8443"}}, Options{AllowedOrigins: []string{"https://dash.example:8443"}}, 101},
		{"allow-list is exact", http.Header{"Origin": {"https://dash.example"}}, Options{AllowedOrigins: []string{"https://dash.example:8443"}}, 403},
		{"allow-list keeps same origin", http.Header{"Origin": {"http://HOST"}}, Options{AllowedOrigins: []string{"https://dash.example"}}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := startServer(t, &tt.opts)
			host := strings.TrimPrefix(url, "ws://")
			h := http.Header{}
			for k, v := range tt.header {
				for i := range v {
					v[i] = strings.ReplaceAll(v[i], "HOST", host)
				}
				h[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := wstest.Dial(ctx, url, h)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (err %v)", resp.StatusCode, tt.want, err)
			}
			switch tt.want {
			case 101:
				defer c.NetConn().Close()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"Sec-Websocket-Extensions", "Sec-Websocket-Protocol"} {
					if v := resp.Header.Values(k); len(v) != 0 {
						t.Fatalf("response has %s: %q", k, v)
					}
				}
			case 426:
				if v := resp.Header.Get("Sec-WebSocket-Version"); v != "13" {
					t.Fatalf("426 without Sec-WebSocket-Version: 13 (got %q)", v)
				}
			}
			if tt.want != 101 && s.Stats().Rejected != 1 {
				t.Fatalf("Stats.Rejected = %d", s.Stats().Rejected)
			}
		})
	}
}

func TestOriginCase(t *testing.T) {
	s := NewServer(nil)
	r, _ := http.NewRequest(http.MethodGet, "http://Pi.Local:8080/ws", nil)
	for origin, want := range map[string]bool{
		"http://pi.local:8080":  true,
		"https://PI.LOCAL:8080": true,
		"http://pi.local":       false,
		"http://pi.local:8081":  false,
		"http://pi.local.evil":  false,
	} {
		r.Header.Set("Origin", origin)
		if got := s.originAllowed(r); got != want {
			t.Errorf("Origin %q with Host %q: allowed = %v, want %v", origin, r.Host, got, want)
		}
	}
}

func TestHandshakeMethod(t *testing.T) {
	_, url := startServer(t, nil)
	req, _ := http.NewRequest(http.MethodPost, "http"+strings.TrimPrefix(url, "ws"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("status %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestHandshakeMaxConnsAndShutdown(t *testing.T) {
	s, url := startServer(t, &Options{MaxConns: 1})
	c := dial(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, resp, _ := wstest.Dial(ctx, url, nil); resp == nil || resp.StatusCode != 503 {
		t.Fatalf("second connection: %v, want 503", resp)
	}
	waitConns(t, s, 1) // the client can see the 101 before the server registers it
	c.NetConn().Close()
	// The slot frees once the first connection is torn down.
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Conns != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c2 := dial(t, url, nil)
	go func() { // answer the server's close
		for {
			op, p, err := c2.ReadMessage()
			if err != nil {
				return
			}
			if op == wstest.OpClose {
				_ = c2.WriteFrame(true, wstest.OpClose, p)
			}
		}
	}()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := wstest.Dial(ctx, url, nil); resp == nil || resp.StatusCode != 503 {
		t.Fatalf("after Shutdown: %v, want 503", resp)
	}
}

// TestHandshakeSplitRequest sends the upgrade request one byte per TCP
// write, followed by frames in the same stream: the server must take the
// frames that net/http already buffered.
func TestHandshakeSplitRequest(t *testing.T) {
	rec := newRecorder()
	_, url := startServer(t, rec.opts(&Options{}))
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for i := range len(req) - 1 {
		if _, err := nc.Write([]byte{req[i]}); err != nil {
			t.Fatal(err)
		}
	}
	// The last byte of the request travels with the first frames.
	tail := append([]byte{req[len(req)-1]}, cframe(true, wstest.OpText, "first")...)
	tail = append(tail, cframe(true, wstest.OpPing, "pp")...)
	if _, err := nc.Write(tail); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
	if m := rec.msg(t); m != "first" {
		t.Fatalf("message %q", m)
	}
	var pong [4]byte
	if _, err := io.ReadFull(br, pong[:]); err != nil || string(pong[:]) != "\x8a\x02pp" {
		t.Fatalf("pong %q %v", pong, err)
	}
}

func TestSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		server  []string
		offered []string // Sec-WebSocket-Protocol header lines
		want    string
	}{
		{"none configured", nil, []string{"chat"}, ""},
		{"none offered", []string{"chat"}, nil, ""},
		{"server preference wins", []string{"v2", "v1"}, []string{"v1, v2"}, "v2"},
		{"second line", []string{"v1"}, []string{"x", "y,  v1"}, "v1"},
		{"case-sensitive", []string{"Chat"}, []string{"chat"}, ""},
		{"invalid names ignored", []string{"bad name", "a\r\nX-Evil: 1", "ok"}, []string{"bad name, ok"}, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			_, url := startServer(t, &Options{Subprotocols: tt.server, OnOpen: func(c *Conn) { got <- c.Subprotocol() }})
			h := http.Header{}
			for _, v := range tt.offered {
				h.Add("Sec-WebSocket-Protocol", v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := wstest.Dial(ctx, url, h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.NetConn().Close()
			if v := resp.Header.Get("Sec-WebSocket-Protocol"); v != tt.want {
				t.Fatalf("response Sec-WebSocket-Protocol %q, want %q", v, tt.want)
			}
			if len(resp.Header.Values("X-Evil")) != 0 {
				t.Fatal("header injected")
			}
			if s := <-got; s != tt.want {
				t.Fatalf("Conn.Subprotocol() = %q, want %q", s, tt.want)
			}
		})
	}
}
