package main

import (
	"net/http"

	"github.com/sensorcast/sensorcast/dashboard"
	"github.com/sensorcast/sensorcast/ws"
)

// wsPath is where the live stream is served; the dashboard's JavaScript
// learns it from the page.
const wsPath = "/ws"

// newMux routes the dashboard and the WebSocket stream.
func newMux(wsSrv *ws.Server) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(wsPath, wsSrv)
	mux.Handle("/", dashboard.Handler(&dashboard.Options{WSPath: wsPath}))
	return mux
}
