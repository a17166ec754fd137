// Command wsecho is a WebSocket test server built on package ws: an echo
// server for conformance tools such as Autobahn|Testsuite's fuzzingclient,
// for interop tests and for benchmarks.
//
// Usage:
//
//	wsecho [-addr 127.0.0.1:9001] [-rate 10] [-ping 30s] [-origins https://a.example,...]
//
// Run wsecho -h for the other flags (limits and timeouts).
//
// On /push clients only read: every 1/rate seconds the server broadcasts a
// JSON text message of about 120 bytes with a sequence number to all of
// them, through the same Broadcast path the telemetry stream uses. On every
// other path each text or binary message is echoed back unchanged; messages
// up to 16 MiB are accepted there. The limits are options of that server
// alone; package ws keeps its small telemetry defaults. Each closed echo
// connection is logged with the close code and reason the client sent.
//
// For Autobahn|Testsuite, run wsecho with an -addr the fuzzingclient can
// reach and give the fuzzingclient a spec such as
//
//	{"servers": [{"agent": "sensorcast", "url": "ws://127.0.0.1:9001"}],
//	 "cases": ["*"], "exclude-cases": ["12.*", "13.*"]}
//
// (sections 12 and 13 need permessage-deflate, which package ws declines).
// The same cases, modelled in conformance_test.go, run with go test.
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
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		os.Exit(1)
	}
}
