// Command coder is the benchmark peer built on github.com/coder/websocket:
// echo with Read and Write (one frame per message; the streaming Writer
// would send each message as a data frame plus an empty final one); push with a
// writer goroutine per connection fed by a queue of 8 that drops when full
// (Write copies nothing across connections: each writes the payload itself).
package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/coder/websocket"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

var opts = &websocket.AcceptOptions{InsecureSkipVerify: true}

type hub struct {
	mu    sync.Mutex
	conns map[chan []byte]struct{}
}

func (h *hub) broadcast(p []byte) {
	msg := append([]byte(nil), p...) // shared by all writers, never modified
	h.mu.Lock()
	for ch := range h.conns {
		select {
		case ch <- msg:
		default:
		}
	}
	h.mu.Unlock()
}

func (h *hub) push(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	ctx := c.CloseRead(context.Background())
	ch := make(chan []byte, 8)
	h.mu.Lock()
	h.conns[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, ch)
		h.mu.Unlock()
		c.CloseNow()
	}()
	for {
		select {
		case p := <-ch:
			if c.Write(ctx, websocket.MessageText, p) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	ctx := context.Background()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		if c.Write(ctx, typ, p) != nil {
			return
		}
	}
}

func main() {
	h := &hub{conns: make(map[chan []byte]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/push", h.push)
	mux.HandleFunc("/", echo)
	serve := func(ln net.Listener) error { return (&http.Server{Handler: mux}).Serve(ln) }
	os.Exit(peer.Main("coder", serve, h.broadcast))
}
