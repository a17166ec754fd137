// Package metrics writes the Prometheus text exposition format (version
// 0.0.4): a Writer appends metric families to a byte slice, Process and
// Runtime add the process and Go runtime families that every exporter
// shows (node_exporter's and client_golang's names). It imports the
// standard library only; what to report is the binary's business.
//
// Why hand-written exposition, not a library: measured on this binary at
// 32953ec (stripped, make arm64, 7 143 586 bytes, budget 7 500 000):
//
//	library                                  arm64 growth     scrape (24 gauges, 40 counters, process+Go)
//	github.com/VictoriaMetrics/metrics v1.45.0   +393 216 B   454 allocs, 44 KB, 0.29 ms
//	github.com/prometheus/client_golang v1.25.0 +2 359 296 B  1597 allocs, 176 KB, 1.17 ms
//	this package, all of /metrics wired         binary 7 340 194 B     73 allocs, 18 KB, 0.10 ms (1 sensor, 3 values)
//
// (the last row at 216ff63 with every change of that round in the tree,
// 160 kB under the budget; BenchmarkMetricsBody in cmd/sensorcast; the
// library rows from a benchmark of 24 labelled gauges and 40 counters
// plus their process and Go collectors, on the same amd64 machine).
//
// VictoriaMetrics/metrics is the better fit of the two (a small API of
// named counters and gauges with callbacks), but it links regexp (a
// package-level regexp.MustCompile in its validator), runtime/metrics and
// compress/gzip's pusher into the binary, which alone takes it past the
// budget (7 536 802 bytes) before a single sensorcast metric is wired;
// client_golang brings protobuf and procfs and is three times over. Every
// counter sensorcast reports already exists as an atomic or a locked field
// behind a Stats method, so a library's registry would only copy them; what
// is left is formatting, which is this package.
package metrics
