// Package interop holds end-to-end tests that run real binaries and talk to
// them with WebSocket clients written by others.
//
// TestEndToEnd runs sensorcast against github.com/coder/websocket and the
// Python websockets package. TestInteropMatrix runs cmd/wsecho against
// gorilla/websocket, coder/websocket, Python websockets (testdata/
// echo_client.py), Node's ws (node/, pinned in package-lock.json; the test
// runs npm ci when node_modules is missing) and headless Chromium's own
// WebSocket driven by chromedp (testdata/browser.html): text and binary
// messages of 0 B to 1 MiB, ping/pong and a close whose code and reason
// both sides check. Tests skip where a client is missing, and fail instead
// when CI=true.
package interop
