package ws_test

import (
	"context"
	"fmt"
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
// read array of that size.
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
