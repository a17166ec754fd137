// Package hub is the fan-in and fan-out point of sensorcast: every reading
// from the poller enters through Publish, is encoded to JSON exactly once,
// kept as the sensor's latest value, and handed to the sinks — the WebSocket
// server as an already-encoded payload (FrameSink), the MQTT bridge as the
// reading or status itself (Sink).
//
// A new WebSocket client gets Snapshot: the hello message, the recent history
// of every value (bounded rings, see HistoryOptions), the latest reading of
// every sensor and the status of every failing one, so its page and charts are
// full at once. The same history serves the HTTP API (AppendHistory,
// AppendHistoryCSV, AppendSensors). The JSON shapes are sensorcast's wire
// format, documented in the README; the reading object comes from
// reading.AppendJSON.
//
// The hub imports only sensors/reading: the sinks are small interfaces that
// ws.Server and the bridge satisfy, and cmd/sensorcast connects them.
package hub
