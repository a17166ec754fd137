// Package ws is sensorcast's WebSocket (RFC 6455) server: a net/http handler
// that upgrades browsers and streams pre-encoded text frames to all of them.
//
// Start with NewServer, mount the Server as an http.Handler, and call
// Broadcast with each payload; the frame is encoded once and shared by every
// connection. Broadcast hands it to the fan-out workers (one per CPU), which
// write it at once to every idle connection with one non-blocking writev
// each, several queued broadcasts in one writev when they fall behind. A
// busy connection gets it in its ring instead, drained by a writer
// goroutine that runs only while frames are queued. Each connection holds
// fixed buffers only (a ring of frame pointers, a writev list, a read
// array only while a frame is arriving) and one reader goroutine. A slow
// client never delays the others: its full ring drops a frame that a newer
// one with the same key supersedes (BroadcastKey; a frame that nothing may
// replace closes the client with 1008 instead, so it resyncs), or the
// oldest plain Broadcast frame, and a write that misses WriteTimeout closes
// it. Conn.Join, called in OnOpen under the caller's own lock, joins the
// broadcast set at the exact point of the caller's snapshot; a Prepared
// message is framed once for many connections. Serving the http.Server
// through Server.Intercept lets upgrades skip net/http's per-connection
// buffers. Client messages go to Options.OnMessage. Wire
// Shutdown to http.Server.RegisterOnShutdown: http.Server does not track
// hijacked connections. Package ws/wstest is a small client for tests.
//
// Memory per idle connection, with the default Options (ReadLimit 1024,
// SendQueue 8), measured on linux/amd64 with 2,000 connections held by
// another process: about 4.9 KB, of which 2.8 KB heap (the Conn with its
// ring and writev list, the net.TCPConn; no read array while idle) and
// 2.1 KB stack (the reader goroutine; no writer runs while idle), 1.0
// goroutine per connection. Measured with
//
//	go test -run '^$' -bench IdleMemory -benchtime 1x ./ws
//
// Raising ReadLimit adds the same number of bytes to every connection that
// is receiving a frame (and to every connection over TLS, which keeps its
// read array).
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
//   - The read array is a slice of ReadLimit+131 bytes (ReadLimit is
//     configurable, so it cannot be a fixed array type); the slack holds a
//     control frame inside a full message. Over plain TCP on Linux it is
//     borrowed from a pool while bytes are arriving and returned when the
//     connection waits with nothing buffered, so idle connections hold none.
//   - Broadcast frames are written by per-CPU fan-out workers, not by each
//     connection's writer, whenever the connection has nothing queued: a
//     non-blocking writev needs no goroutine switch and no write deadline.
//     The writer goroutine and its WriteTimeout take over only what the
//     socket does not accept at once.
//   - Text is validated as it arrives: each read of a partial text frame is
//     unmasked and checked at once, so invalid UTF-8 fails the connection
//     with 1007 without waiting for the rest of the frame or message, and a
//     code point split across reads or fragments is carried over. Lengths
//     not in their shortest encoding are refused with 1002 (RFC 6455 §5.2).
package ws
