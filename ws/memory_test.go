package ws

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/ws/wstest"
)

// idleClientsEnv makes TestIdleClientsHelper, run as a child process by
// BenchmarkIdleMemory, dial "addr,n" connections and hold them.
const idleClientsEnv = "WS_IDLE_CLIENTS"

// TestIdleClientsHelper is not a test: BenchmarkIdleMemory runs the test
// binary again with this test selected to hold its clients in another
// process, so that only the server's memory is counted.
func TestIdleClientsHelper(t *testing.T) {
	spec := os.Getenv(idleClientsEnv)
	if spec == "" {
		t.Skip("helper process of BenchmarkIdleMemory")
	}
	addr, ns, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conns := make([]*wstest.Conn, 0, n)
	for range n {
		c, _, err := wstest.Dial(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // hold them until the parent is done
	for _, c := range conns {
		c.NetConn().Close()
	}
}

// memInUse is the heap and stack memory in use after garbage collection.
func memInUse() (heap, stack uint64) {
	var m runtime.MemStats
	for range 3 { // also empties sync.Pools (net/http's bufio pools)
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}

// BenchmarkIdleMemory measures the server's memory per idle connection
// (heap plus stack, default Options) with 2,000 connections held by a
// child process. Run it once:
//
//	go test -run '^$' -bench IdleMemory -benchtime 1x ./ws
func BenchmarkIdleMemory(b *testing.B) {
	const n = 2000
	for b.Loop() {
		heap0, stack0 := memInUse()
		g0 := runtime.NumGoroutine()
		s := NewServer(&Options{MaxConns: 2 * n})
		ts := httptest.NewServer(s)
		child := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$")
		child.Env = append(os.Environ(), idleClientsEnv+"="+strings.TrimPrefix(ts.URL, "http://")+","+strconv.Itoa(n))
		stdin, _ := child.StdinPipe()
		stdout, _ := child.StdoutPipe()
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		ready := false
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready = true
				break
			}
		}
		if !ready {
			b.Fatal("client process failed")
		}
		waitConns(b, s, n)
		heap1, stack1 := memInUse()
		goroutines := runtime.NumGoroutine() - g0
		b.ReportMetric(float64(heap1-heap0)/n, "heapB/conn")
		b.ReportMetric(float64(stack1-stack0)/n, "stackB/conn")
		b.ReportMetric(float64(heap1+stack1-heap0-stack0)/n, "B/conn")
		b.ReportMetric(float64(goroutines)/n, "goroutines/conn")

		stdin.Close()
		_ = child.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
		ts.Close()
	}
}
