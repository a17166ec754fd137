package ws_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/ws"
	"github.com/sensorcast/sensorcast/ws/wstest"
)

// A telemetry server: a hello for each new client, then every reading goes
// to all clients. In a real program, mount it with http.Handle("/ws", hub),
// set http.Server.ReadHeaderTimeout, and call hub.Shutdown from
// http.Server.RegisterOnShutdown.
func Example() {
	hub := ws.NewServer(&ws.Options{
		OnOpen: func(c *ws.Conn) { c.Send([]byte(`{"type":"hello"}`)) },
	})
	srv := httptest.NewServer(hub) // 127.0.0.1, port chosen at run time
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, _, err := wstest.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	hello, _ := client.ReadText()
	fmt.Println(string(hello))

	hub.Broadcast([]byte(`{"type":"reading","v":21.375}`))
	reading, _ := client.ReadText()
	fmt.Println(string(reading))

	done := make(chan error)
	go func() { done <- hub.Shutdown(ctx) }() // sends 1001 Going Away to all
	client.ReadMessage()
	code, _, _ := client.CloseCode()
	fmt.Println("closed with", ws.StatusCode(code))
	client.Close(code, "") // answer; Shutdown returns once all clients left
	fmt.Println("shutdown:", <-done)
	// Output:
	// {"type":"hello"}
	// {"type":"reading","v":21.375}
	// closed with GoingAway
	// shutdown: <nil>
}

// An echo server: each text or binary message goes back as it came.
// Conn.Write waits while the client's send queue is full, so a client that
// sends faster than it reads is slowed down rather than cut off. Echoing
// large messages needs a ReadLimit to match; every connection then holds a
// read array of that size while a message is arriving.
func ExampleConn_Write() {
	echo := ws.NewServer(&ws.Options{
		ReadLimit: 1 << 20,
		OnMessage: func(c *ws.Conn, typ ws.MessageType, p []byte) {
			if err := c.Write(typ, p); err != nil {
				return // the connection is closing
			}
		},
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()
	defer echo.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, _, err := wstest.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	client.WriteFrame(true, wstest.OpBinary, []byte{1, 2, 3})
	op, p, _ := client.ReadMessage()
	fmt.Println(op == wstest.OpBinary, p)
	client.Close(1000, "bye")
	code, reason, _ := client.CloseCode()
	fmt.Println("closed with", ws.StatusCode(code), reason)
	// Output:
	// true [1 2 3]
	// closed with NormalClosure bye
}

// A page and its live stream on one port. The WebSocket path is routed to
// the Server in the mux as usual; Intercept additionally lets upgrades for
// that path skip net/http's per-connection buffers, and hands every other
// connection to the http.Server.
func ExampleServer_Intercept() {
	hub := ws.NewServer(nil)
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<h1>dashboard</h1>") })

	ln, err := net.Listen("tcp", "127.0.0.1:0") // port chosen at run time
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(hub.Intercept(ln, "/ws"))
	defer srv.Close()
	defer hub.Shutdown(context.Background())

	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(page))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, _, err := wstest.Dial(ctx, "ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The connection joins the broadcast set just after the handshake.
	for i := 0; i < 5000 && hub.Broadcast([]byte(`{"type":"reading","v":21.375}`)) == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	reading, _ := client.ReadText()
	fmt.Println(string(reading))
	client.Close(1000, "")
	// Output:
	// <h1>dashboard</h1>
	// {"type":"reading","v":21.375}
}
