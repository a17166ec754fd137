// Package bench is sensorcast's separate module for what must not be linked
// into the Pi binary: peer WebSocket libraries used by the interoperability
// tests (interop/) and the comparative benchmarks (compare/, loadgen/,
// peers/, cmd/benchtable; make bench), the reconnect storm (storm/,
// cmd/storm) and the fleet at scale (fleet/, cmd/fleetload); see
// BENCHMARKS.md. It has its own go.mod so that the main module's
// dependency list stays lean.
package bench
