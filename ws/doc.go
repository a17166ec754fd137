// Package ws is sensorcast's WebSocket (RFC 6455) server: a net/http handler
// that upgrades browsers and streams pre-encoded text frames to all of them.
//
// Start with NewServer, mount the Server as an http.Handler, and call
// Broadcast with each payload; the frame is encoded once and shared by every
// connection. Each connection holds fixed arrays only (a read array, a small
// ring of frame pointers and a writev buffer list) and one reader goroutine;
// a writer goroutine runs only while frames are queued. A slow client never
// delays the others: its ring drops the oldest frame, and a write that misses
// WriteTimeout closes it. Inbound frames are parsed and unmasked in place and
// handed to Options.OnMessage. Extensions (permessage-deflate) are declined.
// Wire Shutdown to http.Server.RegisterOnShutdown: hijacked connections are
// not tracked by http.Server.
//
// Package ws/wstest is a small client for tests. See design/ws.md for the
// measurements behind these choices.
package ws
