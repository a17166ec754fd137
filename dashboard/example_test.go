package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sensorcast/sensorcast/dashboard"
)

func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("/", dashboard.Handler(&dashboard.Options{WSPath: "/ws"}))
	// mux.Handle("/ws", wsServer) — the WebSocket server the page connects to.

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/", "/app.js", "/missing"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Println(p, res.StatusCode, res.Header.Get("Content-Type"))
	}
	// Output:
	// / 200 text/html; charset=utf-8
	// /app.js 200 text/javascript; charset=utf-8
	// /missing 404 text/plain; charset=utf-8
}
