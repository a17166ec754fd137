// Package reading defines Reading, the value that flows from a sensor to every
// consumer of sensorcast: the hub, the WebSocket stream, the dashboard and the
// MQTT bridge.
//
// A Reading is a plain value with a fixed-size array of named values, so it
// can be copied, stored and reused without allocating. Each value is an int64
// in milli-units (21.375 °C is stored as 21375), the same fixed-point idea as
// periph.io's physic units but decimal, so that JSON output is exact and no
// float rounding leaks into the wire format.
//
// Sources fill a *Reading that the caller owns (Reset, then Add); consumers
// format it with AppendJSON, which appends to a caller-supplied buffer and does
// not allocate once that buffer has grown to size.
//
// This package is the leaf of sensorcast's import graph: it imports only the
// standard library.
package reading
