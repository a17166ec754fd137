// Command sensorcast turns a Raspberry Pi (or any Linux machine) into a live
// telemetry node: it reads sensors, serves a dashboard and streams every
// reading as JSON over a WebSocket.
//
// Usage:
//
//	sensorcast [-listen :8080] [-config sensorcast.toml] [-version]
//
// Without -config it reads a simulated sensor and this machine's own metrics.
// The dashboard is at http://localhost:8080/ and the stream at
// ws://localhost:8080/ws; the README documents the message format.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sensorcast:", err)
		os.Exit(1)
	}
}
