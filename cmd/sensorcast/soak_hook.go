//go:build soakhook

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Built only into the soak test's binary (go build -tags soakhook), never
// into a release: on SIGUSR1 the process writes "soak-goroutines N" on a
// line of its own to stderr, N being runtime.NumGoroutine(), so that the
// soak test can watch the goroutine count of the real binary from outside.
// One write per line: it never interleaves with the log's lines.
func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		for range c {
			os.Stderr.WriteString(fmt.Sprintf("soak-goroutines %d\n", runtime.NumGoroutine()))
		}
	}()
}
