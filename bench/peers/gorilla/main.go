// Command gorilla is the benchmark peer built on github.com/gorilla/websocket:
// echo with NextReader/NextWriter and a per-connection copy buffer; push
// with one PreparedMessage per broadcast handed to a writer goroutine per
// connection (a queue of 8 that drops when full), the library's documented
// pattern since a Conn allows one concurrent writer.
package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

type hub struct {
	mu    sync.Mutex
	conns map[chan *websocket.PreparedMessage]struct{}
}

func (h *hub) broadcast(p []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, p)
	if err != nil {
		return
	}
	h.mu.Lock()
	for ch := range h.conns {
		select {
		case ch <- pm:
		default: // slow client: drop
		}
	}
	h.mu.Unlock()
}

func (h *hub) push(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ch := make(chan *websocket.PreparedMessage, 8)
	h.mu.Lock()
	h.conns[ch] = struct{}{}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer c.Close()
		for {
			select {
			case pm := <-ch:
				if c.WritePreparedMessage(pm) != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	for {
		if _, _, err := c.NextReader(); err != nil {
			break
		}
	}
	h.mu.Lock()
	delete(h.conns, ch)
	h.mu.Unlock()
	close(done)
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		typ, rd, err := c.NextReader()
		if err != nil {
			return
		}
		wr, err := c.NextWriter(typ)
		if err != nil {
			return
		}
		if _, err := io.CopyBuffer(wr, rd, buf); err != nil {
			return
		}
		if wr.Close() != nil {
			return
		}
	}
}

func main() {
	h := &hub{conns: make(map[chan *websocket.PreparedMessage]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/push", h.push)
	mux.HandleFunc("/", echo)
	serve := func(ln net.Listener) error { return (&http.Server{Handler: mux}).Serve(ln) }
	os.Exit(peer.Main("gorilla", serve, h.broadcast))
}
