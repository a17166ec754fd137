package sensors_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the suite if a test left a goroutine of this module
// running, such as a Poller whose Run never returned.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !runningBenchmarks() {
		if leaked := leakedGoroutines(); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the sensors tests:\n\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines that run code of this
// module, other than the caller, after giving them a moment to exit.
func leakedGoroutines() []string {
	var leaked []string
	for range 20 {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		gs := strings.Split(string(buf), "\n\n")
		for _, g := range gs[1:] { // gs[0] is this goroutine
			if strings.Contains(g, "github.com/sensorcast/sensorcast/sensors") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return leaked
}

func runningBenchmarks() bool {
	for i, arg := range os.Args {
		if strings.HasPrefix(arg, "-test.bench=") && !strings.HasSuffix(arg, "=") {
			return true
		}
		if arg == "-test.bench" && i < len(os.Args)-1 && os.Args[i+1] != "" {
			return true
		}
	}
	return false
}
