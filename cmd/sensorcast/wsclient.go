package main

import (
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/ws"
)

// wsClient is a WebSocket connection as the hub's Snapshot sees it.
type wsClient struct{ *ws.Conn }

// SendPrepared sends a message that wsPrepare made.
func (c wsClient) SendPrepared(p hub.Prepared) error { return c.Conn.SendPrepared(p.(*ws.Prepared)) }

// wsPrepare frames a message once for the hub to share among clients.
func wsPrepare(binary bool, payload []byte) (hub.Prepared, error) {
	if binary {
		return ws.NewPrepared(ws.MessageBinary, payload)
	}
	return ws.NewPrepared(ws.MessageText, payload)
}
