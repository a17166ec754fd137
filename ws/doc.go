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
// Where this differs from design/ws.md, and why:
//   - Binary messages are refused with 1003: OnMessage carries no type, and
//     the protocol is JSON text. Autobahn's binary echo cases need an API
//     change first.
//   - A queued close frame discards queued data instead of waiting behind
//     it, so Shutdown and slow-consumer closes are never stuck behind frames.
//   - Nothing is written to a new connection until it has joined the
//     broadcast set, so OnOpen's Send is always followed by every broadcast.
//   - The read array is a slice of ReadLimit+131 bytes allocated once with
//     the connection (ReadLimit is configurable, so it cannot be a fixed
//     array type); the slack holds a control frame inside a full message.
//   - Text is validated with utf8.Valid once the message is whole, not
//     fragment by fragment (no fail-fast), and non-minimal length encodings
//     are accepted; both are left for the strict-conformance work.
package ws
