// Package dashboard serves sensorcast's web page: one page that connects back
// to the binary's WebSocket endpoint and shows every sensor's latest values,
// their age, and whether the sensor is failing or stale.
//
// Start with [Handler]. The page, its stylesheet and its JavaScript modules are
// embedded in the binary, gzipped and hashed once, and served with ETags and a
// strict Content-Security-Policy; nothing is fetched from elsewhere, so the
// dashboard works on a network with no internet. The package knows the
// WebSocket only as the URL path in [Options.WSPath] and imports only the
// standard library.
//
// Each sensor gets a card (latest values, min/max and trend over the history
// window, age, failing or stale state, a CSV download) and charts of its
// recent history, one per unit, drawn with uPlot. uPlot's files are committed
// under static/vendor/, byte for byte what the npm package pinned in
// web/package-lock.json ships (a test checks it), so go build and go install
// embed the whole page; [HasCharts] reports that the binary has them.
//
// The page offers the WebSocket subprotocol sensorcast.gzip where the browser
// has DecompressionStream; a server that chooses it sends the history message
// as a binary message, gzipped (static/wire.js inflates it and holds later
// messages back until it is applied). Browsers fail a handshake in which the
// server chooses none of the offered subprotocols, so after two failed
// attempts in a row the page tries once without it. A sensor is shown stale
// when its latest reading is older than twice the max_gap_ms that hello
// announces for it (never when that is 0).
//
// static/model.js applies wire messages to a state object; static/app.js
// renders it. Both are tested with Node (testdata/*.test.mjs, run by go test,
// which also checks every sensor of deploy/rpi/sensorcast.toml against the
// Stale rule); the e2e module drives the real binary in Chromium.
package dashboard
