// Package bench is sensorcast's separate module for what must not be linked
// into the Pi binary: peer WebSocket libraries used by the interoperability
// tests (interop/) and, later, the comparative benchmarks. It has its own
// go.mod so that the main module's dependency list stays lean.
package bench
