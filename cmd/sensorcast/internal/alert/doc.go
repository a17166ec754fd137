// Package alert evaluates sensorcast's alert rules and tells people when
// one needs them.
//
// A Rule compares a sensor's value with a number ("greenhouse.temperature
// < 2") or looks at a sensor's health ("greenhouse failing", "greenhouse
// stale"). An Engine is fed every reading and status the hub publishes (it
// is a hub Sink, so it sees exactly what the clients see) and moves each
// rule between ok, pending (its condition holds, but not yet for the
// rule's For) and firing; a firing rule resolves once its clear condition
// has held for ClearFor, so a value that flaps around a threshold makes
// one episode, not a flood. Each transition is an Event: kept in the state
// file (a rule that was firing still fires after a restart, without a
// second notification), queued for delivery by a Notifier (plain JSON
// POSTs and a few notification services, retried with backoff from a
// bounded queue kept on disk) and handed to the caller, who shows it on
// the dashboard and MQTT.
//
// The package imports only the standard library, sensors/reading and the
// state-file helpers of package access.
package alert
