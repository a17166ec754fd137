// Command sensorcast is the benchmark server for package ws: the echo and
// push jobs of cmd/wsecho with the same ws.Options, except a 4 KiB read
// limit on echo (cmd/wsecho accepts 16 MiB messages and so holds a 16 MiB
// read array per echo connection) and room for 1,024 echo connections. Like
// the sensorcast binary it serves the push path through ws.Intercept. It
// adds the harness of package peer (address line, memory report).
package main

import (
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sensorcast/sensorcast/bench/peers/peer"
	"github.com/sensorcast/sensorcast/ws"
)

func main() {
	echo := ws.NewServer(&ws.Options{
		ReadLimit:    4096,
		SendQueue:    16,
		MaxBroadcast: 1,
		MaxConns:     1024,
		WriteTimeout: 30 * time.Second,
		OnMessage:    func(c *ws.Conn, typ ws.MessageType, p []byte) { _ = c.Write(typ, p) },
	})
	push := ws.NewServer(&ws.Options{MaxConns: 10000})
	mux := http.NewServeMux()
	mux.Handle("/push", push)
	mux.Handle("/", echo)
	// As the sensorcast binary does: /push upgrades skip net/http's
	// per-connection buffers (ws.Intercept); echo goes through net/http.
	serve := func(ln net.Listener) error { return (&http.Server{Handler: mux}).Serve(push.Intercept(ln, "/push")) }
	os.Exit(peer.Main("sensorcast", serve, func(p []byte) { push.Broadcast(p) }))
}
