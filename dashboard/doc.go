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
// static/model.js applies wire messages to a state object; static/app.js
// renders it. Both are tested with Node (testdata/*.test.mjs, run by go test).
package dashboard
