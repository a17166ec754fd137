package reading

import "time"

// Status is a sensor's health as its poller last saw it. The poller reports
// one when a sensor starts failing and when it recovers; the hub keeps the
// latest per sensor and hands every one to its sinks.
type Status struct {
	Sensor      string
	OK          bool
	Err         string    // the failure; empty when OK
	Failures    uint64    // failed reads since the poller started
	Consecutive uint64    // failures since the last success; 0 when OK
	Time        time.Time // when the read that changed the status started
}
