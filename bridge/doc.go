// Package bridge publishes sensorcast readings to an MQTT broker, so that
// Home Assistant, Node-RED, Telegraf or any other MQTT client can use them.
//
// Start with New: it takes a Config (the [mqtt] table of the configuration
// file), the device's name and its sensors, and returns an *MQTT that is
// already connecting. Hand it every reading with PublishReading (it never
// blocks) and every sensor health change with SetStatus; Close publishes
// "offline" and disconnects.
//
// Readings are never lost while the broker is unreachable: each one goes
// into a bounded queue that is also kept on disk (under Options.StateDir),
// and is delivered in order once the broker is back, even after sensorcast
// itself restarted. When the queue is full the oldest readings are dropped
// and counted (Stats).
//
// The bridge announces every value to Home Assistant through MQTT discovery
// and re-announces them whenever Home Assistant comes online.
package bridge
