package main

import (
	"cmp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/metrics"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// Sensor values are one gauge family per quantity and unit,
// sensorcast_sensor_<value>_<unit>{sensor="..."} in base units
// (sensorcast_sensor_temperature_celsius, sensorcast_sensor_pressure_pascals,
// sensorcast_sensor_humidity_ratio), not one sensorcast_sensor_value family
// with a unit label: Prometheus's naming conventions put one unit in a
// metric's name, in base units, so that every series of a family can be
// summed, averaged and compared; a family that mixed °C, hPa and % would
// make sum() and avg() meaningless and hide the unit from anyone reading a
// graph's query. node_exporter's node_hwmon_temp_celsius{chip,sensor} is the
// model.

// unitSuffix maps a reading unit to its base-unit name suffix and the
// factor from the unit to it.
var unitSuffix = map[reading.Unit]struct {
	suffix string
	scale  float64
}{
	reading.Celsius:   {"celsius", 1},
	reading.Percent:   {"ratio", 0.01},
	reading.HPa:       {"pascals", 100},
	reading.Lux:       {"lux", 1},
	reading.PPM:       {"ppm", 1},
	reading.Volt:      {"volts", 1},
	reading.Ampere:    {"amperes", 1},
	reading.Watt:      {"watts", 1},
	reading.Byte:      {"bytes", 1},
	reading.Second:    {"seconds", 1},
	reading.DBm:       {"dbm", 1},
	reading.Mebibytes: {"bytes", 1 << 20},
	reading.Megabytes: {"bytes", 1e6},
	reading.None:      {"", 1},
	"µg/m³":           {"micrograms_per_cubic_meter", 1},
}

// valueFamily returns the family name of a value and the factor from its
// milli-units to the family's unit; ok is false for a name that cannot be
// made into one.
func valueFamily(v reading.Value) (name string, scale float64, ok bool) {
	base := metrics.Name(v.Name)
	if base == "" {
		return "", 0, false
	}
	u, known := unitSuffix[v.Unit]
	if !known {
		u.suffix, u.scale = metrics.Name(string(v.Unit)), 1
	}
	name = "sensorcast_sensor_" + base
	if u.suffix != "" && !strings.HasSuffix(base, "_"+u.suffix) && base != u.suffix {
		name += "_" + u.suffix
	}
	if slices.Contains(sensorFamilies, name) {
		return "", 0, false // a value named like a sensor counter ("reads_total")
	}
	return name, u.scale / 1000, true
}

// sensorFamilies are the per-sensor families other than the values.
var sensorFamilies = []string{
	"sensorcast_sensor_up", "sensorcast_sensor_reads_total", "sensorcast_sensor_failures_total",
	"sensorcast_sensor_consecutive_failures", "sensorcast_sensor_last_success_timestamp_seconds",
	"sensorcast_sensor_read_duration_seconds",
}

// valueSample is one sensor value gauge of a scrape.
type valueSample struct {
	family, sensor string
	v              float64
}

// metricsBody returns the /metrics text: a copy, the writer is reused.
func (o *observer) metricsBody() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := &o.w
	w.Reset()
	w.Family("sensorcast_build_info", metrics.Gauge, "sensorcast's version and the Go version it was built with, as labels; the value is 1.")
	w.Sample("sensorcast_build_info", 1, "version", version, "goversion", runtime.Version())
	w.One("sensorcast_uptime_seconds", metrics.Gauge, "Seconds since sensorcast started.", time.Since(o.start).Seconds())
	w.Process() // nothing where there is no /proc
	w.Runtime()

	st := o.ws.Stats()
	w.One("sensorcast_ws_connections", metrics.Gauge, "WebSocket connections open now.", float64(st.Conns))
	w.Family("sensorcast_ws_accepted_total", metrics.Counter, "WebSocket handshakes completed.")
	w.Uint("sensorcast_ws_accepted_total", st.Accepted)
	w.Family("sensorcast_ws_rejected_total", metrics.Counter, "WebSocket handshakes refused, by reason: admission (access control or a connection cap), shed (too many handshakes at once), protocol (a bad request).")
	w.Uint("sensorcast_ws_rejected_total", st.Refused, "reason", "admission")
	w.Uint("sensorcast_ws_rejected_total", st.Shed, "reason", "shed")
	w.Uint("sensorcast_ws_rejected_total", st.Rejected-st.Refused-st.Shed, "reason", "protocol")
	w.Family("sensorcast_ws_broadcasts_total", metrics.Counter, "Messages queued to every client.")
	w.Uint("sensorcast_ws_broadcasts_total", st.Broadcasts)
	w.Family("sensorcast_ws_frames_sent_total", metrics.Counter, "Data frames written to clients.")
	w.Uint("sensorcast_ws_frames_sent_total", st.FramesSent)
	w.Family("sensorcast_ws_sent_bytes_total", metrics.Counter, "Bytes written to WebSocket clients after the handshake.")
	w.Uint("sensorcast_ws_sent_bytes_total", st.BytesSent)
	w.Family("sensorcast_ws_frames_dropped_total", metrics.Counter, "Frames dropped from full client queues, superseded ones included.")
	w.Uint("sensorcast_ws_frames_dropped_total", st.Drops)
	w.Family("sensorcast_ws_frames_superseded_total", metrics.Counter, "Dropped frames that a newer reading of the same sensor replaced.")
	w.Uint("sensorcast_ws_frames_superseded_total", st.Superseded)
	w.Family("sensorcast_ws_pool_misses_total", metrics.Counter, "Broadcast frames taken from the heap because the frame pool was in use.")
	w.Uint("sensorcast_ws_pool_misses_total", st.PoolMisses)
	w.Family("sensorcast_ws_closed_total", metrics.Counter, "WebSocket connections closed, by cause: slow (cut off as a slow consumer), timeout (keepalive), other.")
	w.Uint("sensorcast_ws_closed_total", st.SlowClosed, "cause", "slow")
	w.Uint("sensorcast_ws_closed_total", st.TimedOut, "cause", "timeout")
	w.Uint("sensorcast_ws_closed_total", st.Closed-st.SlowClosed-st.TimedOut, "cause", "other")

	w.Family("sensorcast_access_refused_total", metrics.Counter, "Requests and connections refused by access control, by reason.")
	if o.guard != nil {
		rej := o.guard.Rejections()
		reasons := make([]string, 0, len(rej))
		for k := range rej {
			reasons = append(reasons, k)
		}
		slices.Sort(reasons)
		for _, k := range reasons {
			w.Uint("sensorcast_access_refused_total", rej[k], "reason", k)
		}
	}
	w.Family("sensorcast_http_requests_total", metrics.Counter, "HTTP requests served (WebSocket upgrades taken from the socket excepted), by route and status code.")
	keys := make([]reqKey, 0, len(o.reqs))
	for k := range o.reqs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b reqKey) int { return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.code, b.code)) })
	for _, k := range keys {
		w.Uint("sensorcast_http_requests_total", o.reqs[k], "route", k.route, "code", strconv.Itoa(k.code))
	}

	o.writeSensors(w)

	hs := o.hub.Stats()
	w.One("sensorcast_history_points", metrics.Gauge, "History points held for the charts, summed over the sensors.", float64(hs.HistoryPoints))
	w.One("sensorcast_history_values", metrics.Gauge, "Values in the history points held.", float64(hs.HistoryValues))

	if o.bridge != nil {
		b := o.bridge.Stats()
		connected := 0.0
		if b.Connected {
			connected = 1
		}
		w.One("sensorcast_mqtt_connected", metrics.Gauge, "1 while the MQTT bridge is connected to its broker.", connected)
		w.Family("sensorcast_mqtt_published_total", metrics.Counter, "Readings sent to the broker.")
		w.Uint("sensorcast_mqtt_published_total", b.Published)
		w.Family("sensorcast_mqtt_acknowledged_total", metrics.Counter, "Readings the broker acknowledged.")
		w.Uint("sensorcast_mqtt_acknowledged_total", b.Delivered)
		w.One("sensorcast_mqtt_queue_depth", metrics.Gauge, "Readings waiting for the broker.", float64(b.Queued))
		w.Family("sensorcast_mqtt_dropped_total", metrics.Counter, "Readings dropped because the queue was full.")
		w.Uint("sensorcast_mqtt_dropped_total", b.Dropped)
		w.Family("sensorcast_mqtt_lost_total", metrics.Counter, "Readings found damaged or missing in the queue file at start.")
		w.Uint("sensorcast_mqtt_lost_total", b.Lost)
		w.Family("sensorcast_mqtt_reconnects_total", metrics.Counter, "Connections to the broker after the first.")
		w.Uint("sensorcast_mqtt_reconnects_total", max(b.Connects, 1)-1)
	}
	o.alerts.writeMetrics(w)
	return append([]byte(nil), w.Bytes()...)
}

// writeSensors writes the per-sensor families: the poller's counters and
// the hub's latest values. o.mu is held.
func (o *observer) writeSensors(w *metrics.Writer) {
	ps := o.poller.Stats()
	o.states = o.hub.AppendStates(o.states[:0])
	w.Family("sensorcast_sensor_up", metrics.Gauge, "1 while the sensor's last read succeeded, 0 while it fails.")
	for _, s := range ps {
		up := 1.0
		if s.Consecutive > 0 || s.Reads == 0 {
			up = 0
		}
		w.Sample("sensorcast_sensor_up", up, "sensor", s.Name)
	}
	w.Family("sensorcast_sensor_reads_total", metrics.Counter, "Successful reads.")
	for _, s := range ps {
		w.Uint("sensorcast_sensor_reads_total", s.Reads, "sensor", s.Name)
	}
	w.Family("sensorcast_sensor_failures_total", metrics.Counter, "Failed reads.")
	for _, s := range ps {
		w.Uint("sensorcast_sensor_failures_total", s.Failures, "sensor", s.Name)
	}
	w.Family("sensorcast_sensor_consecutive_failures", metrics.Gauge, "Failed reads since the last success.")
	for _, s := range ps {
		w.Uint("sensorcast_sensor_consecutive_failures", s.Consecutive, "sensor", s.Name)
	}
	w.Family("sensorcast_sensor_last_success_timestamp_seconds", metrics.Gauge, "When the last successful read started, Unix time; absent before the first.")
	for _, s := range ps {
		if !s.LastOK.IsZero() {
			w.Sample("sensorcast_sensor_last_success_timestamp_seconds", float64(s.LastOK.UnixMilli())/1000, "sensor", s.Name)
		}
	}
	w.Family("sensorcast_sensor_read_duration_seconds", metrics.Summary, "Time spent reading the sensor, failed reads included.")
	for _, s := range ps {
		w.Sample("sensorcast_sensor_read_duration_seconds_sum", s.ReadTime.Seconds(), "sensor", s.Name)
		w.Uint("sensorcast_sensor_read_duration_seconds_count", s.Reads+s.Failures, "sensor", s.Name)
	}

	o.vals = o.vals[:0]
	for i := range o.states {
		st := &o.states[i]
		if !st.HasLatest {
			continue
		}
		for _, v := range st.Latest.Values() {
			if name, scale, ok := valueFamily(v); ok {
				o.vals = append(o.vals, valueSample{name, st.Name, float64(v.Milli) * scale})
			}
		}
	}
	// One family's samples together, as the format requires; sensors in
	// hello order within a family.
	slices.SortStableFunc(o.vals, func(a, b valueSample) int { return strings.Compare(a.family, b.family) })
	for i, v := range o.vals {
		if i == 0 || o.vals[i-1].family != v.family {
			w.Family(v.family, metrics.Gauge, "The sensor's latest value (see the README's Monitoring section for the units).")
		}
		w.Sample(v.family, v.v, "sensor", v.sensor)
	}
}
