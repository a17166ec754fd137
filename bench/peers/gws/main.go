// Command gws is the benchmark peer built on github.com/lxzan/gws: echo
// with WriteMessage from OnMessage; push with one Broadcaster per broadcast
// (the frame is encoded once and written asynchronously through each
// connection's write queue).
package main

import (
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/lxzan/gws"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
)

type echoHandler struct{ gws.BuiltinEventHandler }

func (echoHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	_ = c.WriteMessage(m.Opcode, m.Bytes())
	m.Close()
}

type pushHandler struct {
	gws.BuiltinEventHandler
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
}

func (h *pushHandler) OnOpen(c *gws.Conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *pushHandler) OnClose(c *gws.Conn, _ error) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func (h *pushHandler) OnMessage(_ *gws.Conn, m *gws.Message) { m.Close() }

func (h *pushHandler) broadcast(p []byte) {
	b := gws.NewBroadcaster(gws.OpcodeText, p)
	h.mu.Lock()
	for c := range h.conns {
		_ = b.Broadcast(c)
	}
	h.mu.Unlock()
	_ = b.Close()
}

func handle(u *gws.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}
}

func main() {
	ph := &pushHandler{conns: make(map[*gws.Conn]struct{})}
	opt := func() *gws.ServerOption { return &gws.ServerOption{ReadMaxPayloadSize: 16 << 20} }
	mux := http.NewServeMux()
	mux.HandleFunc("/push", handle(gws.NewUpgrader(ph, opt())))
	mux.HandleFunc("/", handle(gws.NewUpgrader(echoHandler{}, opt())))
	serve := func(ln net.Listener) error { return (&http.Server{Handler: mux}).Serve(ln) }
	os.Exit(peer.Main("gws", serve, ph.broadcast))
}
