//go:build !linux

package loadgen

// pollers is the epoll reader of Linux; elsewhere every client has a
// reader goroutine.
type pollers struct{}

func startPollers(*Push) *pollers { return nil }

func (*pollers) stop() {}
