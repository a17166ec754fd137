// Package ws is sensorcast's WebSocket (RFC 6455) server: a net/http handler
// that upgrades browsers and streams pre-encoded text frames to all of them.
//
// Start with NewServer, mount the Server as an http.Handler, and call
// Broadcast with each payload; the frame is encoded once and shared by every
// connection. Each connection holds fixed buffers only (a read array, a ring
// of frame pointers, a writev list) and one reader goroutine; a writer
// goroutine runs only while frames are queued. A slow client never delays
// the others: its ring drops the oldest frame, and a write that misses
// WriteTimeout closes it. Client messages go to Options.OnMessage. Wire
// Shutdown to http.Server.RegisterOnShutdown: http.Server does not track
// hijacked connections. Package ws/wstest is a small client for tests.
//
// Memory per idle connection, with the default Options (ReadLimit 1024,
// SendQueue 8), measured on linux/amd64 with 2,000 connections held by
// another process: about 5.9 KB, of which 3.9 KB heap (the read array, the
// Conn with its ring and writev list, the net.TCPConn) and 2.1 KB stack (the
// reader goroutine; no writer runs while idle), 1.0 goroutine per
// connection. Measured with
//
//	go test -run '^$' -bench IdleMemory -benchtime 1x ./ws
//
// Raising ReadLimit adds the same number of bytes to every connection.
//
// Where this differs from design/ws.md, and why:
//   - Text and binary messages are both accepted; OnMessage gets the type,
//     and Conn.Write answers with either (waiting for queue room, for echo
//     servers such as cmd/wsecho). The telemetry page only sends text.
//   - A close this side starts (Conn.Close, Shutdown, a slow consumer)
//     discards queued data instead of waiting behind it, so it is never
//     stuck behind frames. The echo of a client's close and the close of a
//     failed connection go out after the data already queued (an echo
//     server's replies to earlier messages), as RFC 6455 §7.1.1 expects.
//   - Nothing is written to a new connection until it has joined the
//     broadcast set, so OnOpen's Send is always followed by every broadcast.
//   - The read array is a slice of ReadLimit+131 bytes allocated once with
//     the connection (ReadLimit is configurable, so it cannot be a fixed
//     array type); the slack holds a control frame inside a full message.
//   - Text is validated as it arrives: each read of a partial text frame is
//     unmasked and checked at once, so invalid UTF-8 fails the connection
//     with 1007 without waiting for the rest of the frame or message, and a
//     code point split across reads or fragments is carried over. Lengths
//     not in their shortest encoding are refused with 1002 (RFC 6455 §5.2).
package ws
