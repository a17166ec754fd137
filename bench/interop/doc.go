// Package interop holds end-to-end tests that run the real sensorcast binary
// and talk to it with WebSocket clients written by others: the Go library
// github.com/coder/websocket and the Python websockets package. Its tests
// skip where a client is missing, and fail instead when CI=true.
package interop
