package bridge_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
)

// TestRetainedGiantOnHAStatus: a retained 50 MB message on Home
// Assistant's status topic, which the bridge subscribes to. The bridge
// refuses the packet before reading it into memory (the whole test
// allocates far less than 50 MB), counts and logs it with its topic,
// reconnects once without subscriptions instead of fetching it again at
// every connect, and keeps publishing readings.
//
// Not parallel: it measures the process's allocations.
func TestRetainedGiantOnHAStatus(t *testing.T) {
	mosquittotest.Require(t, mosquittotest.MosquittoPub)
	b := mosquittotest.Start(t, nil)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 50<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(b.Addr, ":")
	if out, err := exec.Command(mosquittotest.MosquittoPub, "-h", host, "-p", port, "-q", "1", "-r", "-t", "homeassistant/status", "-f", big).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	os.Remove(big)
	col := subscribe(t, b.URL, "sensorcast/pi/sim")

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	logs := &logBuf{}
	m := newBridge(t, bridge.Config{Broker: b.URL}, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge log:\n%s", logs)
		}
	})
	logs.waitFor(t, "over max_packet_size")
	for i := range 3 {
		m.PublishReading(simReading())
		col.wait(t, "sensorcast/pi/sim", i+1)
		time.Sleep(time.Second) // a reconnect loop would show meanwhile
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 25<<20 {
		t.Errorf("allocated %d MB while refusing a 50 MB message", alloc>>20)
	}
	st := m.Stats()
	if st.Oversized != 1 || st.Delivered != 3 || !st.Connected {
		t.Errorf("stats = %+v, want 1 oversized, 3 delivered, connected", st)
	}
	if n := strings.Count(logs.String(), "mqtt: connected"); n != 2 {
		t.Errorf("%d connections, want 2 (the refusal, then one without subscriptions):\n%s", n, logs)
	}
	for _, want := range []string{"topic=homeassistant/status", "type=PUBLISH", "max_packet_size=262144", "reconnecting without subscriptions", "retry_in=1m0s"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs)
		}
	}
}
