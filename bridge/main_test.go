package bridge

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine started by this package or by its
// tests (a reader, a writer, a poller, a broker connection) outlives the
// tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
