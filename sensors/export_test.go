package sensors

import (
	"context"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// PollOnce runs one tick of the Source named name into r, as Run's goroutine
// for it does, so tests can measure the per-tick path.
func (p *Poller) PollOnce(name string, r *reading.Reading) {
	for _, s := range p.sources {
		if s.name == name {
			p.poll(context.Background(), s, r)
			return
		}
	}
	panic("PollOnce: no source " + name)
}

// OpenSerial opens a serial port as the serial sensors do (raw, 9600 8N1).
var OpenSerial = openSerial

// SetScanListen sets how long scan listens on a serial port, returning the
// previous value.
func SetScanListen(d time.Duration) time.Duration {
	old := scanListen
	scanListen = d
	return old
}

// PulseGather is how long a Pulse's watcher lets edges gather after a read.
const PulseGather = pulseGather
