package metrics

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/pid/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Process appends the process families of the exporters' convention
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds) from /proc. Where /proc cannot be read (not
// Linux), it appends nothing and returns the error.
func (w *Writer) Process() error {
	return w.process("/proc")
}

func (w *Writer) process(proc string) error {
	stat, err := os.ReadFile(proc + "/self/stat")
	if err != nil {
		return err
	}
	f, err := statFields(stat)
	if err != nil {
		return err
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	vsize, _ := strconv.ParseUint(f[20], 10, 64)
	rss, _ := strconv.ParseUint(f[21], 10, 64)
	w.One("process_cpu_seconds_total", Counter, "Total user and system CPU time spent in seconds.", float64(utime+stime)/clockTicks)
	w.One("process_resident_memory_bytes", Gauge, "Resident memory size in bytes.", float64(rss*uint64(os.Getpagesize())))
	w.One("process_virtual_memory_bytes", Gauge, "Virtual memory size in bytes.", float64(vsize))
	if fds, err := os.ReadDir(proc + "/self/fd"); err == nil {
		w.One("process_open_fds", Gauge, "Number of open file descriptors.", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		w.One("process_max_fds", Gauge, "Maximum number of open file descriptors.", float64(lim.Cur))
	}
	if boot, ok := bootTime(proc); ok {
		w.One("process_start_time_seconds", Gauge, "Start time of the process since unix epoch in seconds.", float64(boot)+float64(start)/clockTicks)
	}
	return nil
}

// statFields returns the fields of /proc/pid/stat after the command name
// (which may hold spaces and parentheses): f[0] is the state, field 3 of
// proc(5).
func statFields(stat []byte) ([]string, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, errBadStat
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 22 {
		return nil, errBadStat
	}
	s := make([]string, len(f))
	for i, b := range f {
		s[i] = string(b)
	}
	return s, nil
}

type statError struct{}

func (statError) Error() string { return "metrics: /proc/self/stat: unexpected format" }

var errBadStat error = statError{}

// bootTime returns the btime line of /proc/stat.
func bootTime(proc string) (uint64, bool) {
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Runtime appends the Go runtime families: go_info, go_goroutines, heap
// and memory obtained from the OS (go_memstats_*), and the garbage
// collector's pauses as a summary without quantiles (go_gc_duration_seconds
// sum and count). It stops the world briefly (runtime.ReadMemStats), which
// is fine once per scrape.
func (w *Writer) Runtime() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Family("go_info", Gauge, "Information about the Go environment.")
	w.Sample("go_info", 1, "version", runtime.Version())
	w.One("go_goroutines", Gauge, "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	w.One("go_memstats_alloc_bytes", Gauge, "Number of bytes allocated in heap and currently in use.", float64(m.HeapAlloc))
	w.One("go_memstats_heap_inuse_bytes", Gauge, "Number of heap bytes that are in use.", float64(m.HeapInuse))
	w.One("go_memstats_heap_released_bytes", Gauge, "Number of heap bytes released to OS.", float64(m.HeapReleased))
	w.One("go_memstats_sys_bytes", Gauge, "Number of bytes obtained from system.", float64(m.Sys))
	w.One("go_memstats_next_gc_bytes", Gauge, "Number of heap bytes when next garbage collection will take place.", float64(m.NextGC))
	w.One("go_memstats_mallocs_total", Counter, "Total number of heap objects allocated.", float64(m.Mallocs))
	w.Family("go_gc_duration_seconds", Summary, "Pause durations of the garbage collector.")
	w.Sample("go_gc_duration_seconds_sum", float64(m.PauseTotalNs)/1e9)
	w.Uint("go_gc_duration_seconds_count", uint64(m.NumGC))
}
