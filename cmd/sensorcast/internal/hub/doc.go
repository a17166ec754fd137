// Package hub is the fan-in and fan-out point of sensorcast: every reading
// from the poller enters through Publish, is encoded to JSON exactly once,
// kept as the sensor's latest value, and handed to the sinks — the WebSocket
// server as an already-encoded payload (FrameSink), the MQTT bridge as the
// reading or status itself (Sink).
//
// A new WebSocket client gets Snapshot: the hello message, the recent history
// of every value (bounded rings, see HistoryOptions), the latest reading of
// every sensor and the status of every failing one, so its page and charts are
// full at once; it joins the broadcast set under the hub's lock, at the exact
// state that snapshot shows, so it misses no later message and sees none
// twice. Readings are broadcast keyed by sensor (a client that falls behind
// skips only superseded readings) and statuses are never dropped. The history
// message is encoded outside the lock, once per history step, and shared by
// every client connecting in that step. The same history serves the HTTP API (AppendHistory,
// AppendHistoryCSV, AppendSensors). The JSON shapes are sensorcast's wire
// format, documented in the README; the reading object comes from
// reading.AppendJSON.
//
// The hub imports only sensors/reading: the sinks, the client being opened
// and the prepared message are small interfaces that ws and the bridge
// satisfy, and cmd/sensorcast connects them.
package hub
