package sensors

import "github.com/sensorcast/sensorcast/sensors/reading"

// Source is one sensor that the Poller reads.
type Source interface {
	// Name returns the sensor's name, unique within a Poller. It must not
	// change once the Source has been added.
	Name() string

	// Sense takes one sample and adds its values to r with r.Add. The
	// caller has already called r.Reset with the device, Name and the
	// current time; Sense must not call Reset or keep r after it returns.
	// When Sense returns an error, whatever it added to r is discarded.
	Sense(r *reading.Reading) error
}

// Halter is implemented by Sources that hold resources, such as open files
// or a bus, to release when polling stops. The Poller calls Halt once, after
// the Source's last Sense has returned.
type Halter interface {
	Halt() error
}

// Waker is implemented by Sources that know when they have something new,
// such as a GPIO input that saw an edge. Besides its interval, the Poller
// reads such a Source as soon as the channel Wake returns receives a value.
// Wake is called once, by Run; a nil channel never wakes.
type Waker interface {
	Wake() <-chan struct{}
}
