// Package sensors reads sensorcast's sensors and turns each sample into a
// reading.Reading.
//
// A Source is anything that can fill a Reading: the simulator (NewSim), the
// host's own health (NewHost) and, later, periph.io device adapters. A Poller
// ticks each Source at its own interval on its own goroutine, reuses one
// Reading per source, and hands every successful sample to a callback; a
// failing or panicking Source is logged, counted and retried without
// disturbing the others.
//
// Start with NewPoller, Poller.Add and Poller.Run. Package sensortest offers a
// scripted fake Source for tests.
package sensors
