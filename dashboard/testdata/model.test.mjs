// Tests of static/model.js. Run with: node --test testdata/ (from dashboard/),
// or through go test ./dashboard, which runs them too.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  newState, apply, ageOf, condition, staleAfter, formatAge, humanise, formatValue, view, Backoff,
} from "../static/model.js";

const T0 = 1795721607120; // 2026-11-26T19:33:27.120Z
const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

const hello = {
  type: "hello", device: "pi", version: "v0.1.0",
  sensors: [{ sensor: "sim", interval_ms: 1000 }, { sensor: "host", interval_ms: 5000 }],
};
function reading(sensor, ts, values) {
  return { type: "reading", device: "pi", sensor, time: new Date(ts).toISOString(), ts, values };
}
const simValues = {
  temperature: { v: 21.375, unit: "°C" },
  humidity: { v: 45.2, unit: "%" },
  pressure: { v: 1013.25, unit: "hPa" },
};

test("hello sets device, version and sensors in order", () => {
  const st = newState();
  assert.equal(apply(st, hello, T0), "hello");
  assert.equal(st.device, "pi");
  assert.equal(st.version, "v0.1.0");
  assert.deepEqual([...st.sensors.keys()], ["sim", "host"]);
  assert.equal(st.sensors.get("host").intervalMs, 5000);
  assert.equal(condition(st, st.sensors.get("sim"), T0), "waiting");
});

test("a second hello resyncs: drops sensors, values and failures", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading("sim", T0, simValues), T0);
  apply(st, { type: "status", sensor: "host", ok: false, error: "boom", failures: 2 }, T0);
  apply(st, reading("bme280", T0, { t: { v: 1, unit: "" } }), T0);
  assert.equal(st.sensors.size, 3);

  apply(st, { type: "hello", device: "pi2", version: "v0.2.0", sensors: [{ sensor: "host", interval_ms: 2000 }] }, T0 + 10);
  assert.equal(st.device, "pi2");
  assert.deepEqual([...st.sensors.keys()], ["host"]);
  const host = st.sensors.get("host");
  assert.equal(host.ok, true);
  assert.equal(host.error, "");
  assert.equal(host.values.size, 0);
  assert.equal(host.intervalMs, 2000);
});

test("reading stores values with units, ignoring unknown and malformed fields", () => {
  const st = newState();
  apply(st, hello, T0);
  const m = reading("sim", T0, {
    ...simValues,
    load1: { v: 0.5, unit: "", extra: true },
    bad: { v: "12" },
    nan: { unit: "V" },
    alsoBad: 3,
  });
  m.future_field = { anything: 1 };
  assert.equal(apply(st, m, T0 + 200), "reading");
  const sim = st.sensors.get("sim");
  assert.deepEqual([...sim.values.keys()], ["temperature", "humidity", "pressure", "load1"]);
  assert.deepEqual(sim.values.get("temperature"), { v: 21.375, unit: "°C" });
  assert.deepEqual(sim.values.get("load1"), { v: 0.5, unit: "" });
  assert.equal(sim.ts, T0);

  const v = view(st, sim, T0 + 2400, nf);
  assert.equal(v.condition, "ok");
  assert.equal(v.label, "OK");
  assert.equal(v.age, "updated 2 s ago");
  assert.deepEqual(v.values.map((x) => [x.label, x.text]), [
    ["Temperature", "21.4\u00a0°C"],
    ["Humidity", "45.2\u00a0%"],
    ["Pressure", "1,013.3\u00a0hPa"],
    ["Load 1", "0.5"],
  ]);
});

test("a later reading replaces the values; time comes from ts, or time if ts is absent", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading("sim", T0, simValues), T0);
  const m = reading("sim", T0 + 1000, { temperature: { v: 22, unit: "°C" } });
  delete m.ts;
  apply(st, m, T0 + 1000);
  const sim = st.sensors.get("sim");
  assert.equal(sim.ts, T0 + 1000);
  assert.deepEqual([...sim.values.keys()], ["temperature"]);
});

test("a reading for a sensor not in hello adds it, never stale", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading("extra", T0, { x: { v: 1, unit: "" } }), T0);
  assert.deepEqual([...st.sensors.keys()], ["sim", "host", "extra"]);
  assert.equal(condition(st, st.sensors.get("extra"), T0 + 86400e3), "ok");
});

test("status marks a sensor failing with its error, and recovers", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading("sim", T0, simValues), T0);
  const fail = { type: "status", device: "pi", sensor: "sim", ok: false, error: "read: i/o timeout", failures: 3, time: "x", ts: T0 };
  assert.equal(apply(st, fail, T0 + 100), "status");
  const sim = st.sensors.get("sim");
  let v = view(st, sim, T0 + 100, nf);
  assert.equal(v.condition, "failing");
  assert.equal(v.label, "Failing");
  assert.equal(v.error, "read: i/o timeout (3 failures in a row)");
  assert.equal(v.values.length, 3, "the last values stay visible");

  apply(st, { ...fail, ok: true, error: "", failures: 0 }, T0 + 200);
  v = view(st, sim, T0 + 200, nf);
  assert.equal(v.condition, "ok");
  assert.equal(v.error, "");
});

test("status for an unknown sensor creates it; a failing sensor with no error text still says failing", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, { type: "status", sensor: "bme280", ok: false }, T0);
  const v = view(st, st.sensors.get("bme280"), T0, nf);
  assert.equal(v.condition, "failing");
  assert.equal(v.error, "failing");
  assert.equal(v.age, "no reading yet");
});

test("stale after three intervals without a reading", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading("sim", T0, simValues), T0);
  apply(st, reading("host", T0, { load1: { v: 0.1, unit: "" } }), T0);
  const sim = st.sensors.get("sim");
  const host = st.sensors.get("host");
  assert.equal(condition(st, sim, T0 + 3000), "ok");
  assert.equal(condition(st, sim, T0 + 3001), "stale");
  assert.equal(condition(st, host, T0 + 3001), "ok");
  assert.equal(condition(st, host, T0 + 15001), "stale");
  assert.equal(view(st, sim, T0 + 4000, nf).label, "Stale");
  // Failing wins over stale.
  apply(st, { type: "status", sensor: "sim", ok: false, error: "e" }, T0 + 5000);
  assert.equal(condition(st, sim, T0 + 5000), "failing");
  // A sensor that never reports goes stale, counted from hello.
  const st2 = newState();
  apply(st2, hello, T0);
  assert.equal(condition(st2, st2.sensors.get("sim"), T0 + 3000), "waiting");
  assert.equal(condition(st2, st2.sensors.get("sim"), T0 + 3001), "stale");
});

test("stale uses max_gap_ms from hello: twice the longest legitimate gap; 0 never; absent, three intervals", () => {
  const st = newState();
  apply(st, {
    type: "hello", device: "pi", version: "v0.2.0",
    sensors: [
      { sensor: "light", interval_ms: 2000, max_gap_ms: 62000 }, // delta with a 1 min heartbeat
      { sensor: "door", interval_ms: 1000, max_gap_ms: 0 }, // delta without heartbeat
      { sensor: "sim", interval_ms: 1000, max_gap_ms: 1000 },
      { sensor: "fast", interval_ms: 100, max_gap_ms: 100 }, // at least 1 s of margin
      { sensor: "old", interval_ms: 1000 }, // an older server
      { sensor: "odd", interval_ms: 1000, max_gap_ms: -5 }, // malformed: as if absent
      { sensor: "odd2", interval_ms: 1000, max_gap_ms: "62000" },
    ],
  }, T0);
  const get = (n) => st.sensors.get(n);
  assert.equal(get("light").maxGapMs, 62000);
  assert.equal(staleAfter(get("light")), 124000);
  assert.equal(staleAfter(get("door")), 0);
  assert.equal(staleAfter(get("sim")), 2000);
  assert.equal(staleAfter(get("fast")), 1100);
  assert.equal(staleAfter(get("old")), 3000);
  assert.equal(staleAfter(get("odd")), 3000);
  assert.equal(staleAfter(get("odd2")), 3000);
  for (const n of ["light", "door", "sim", "old"]) apply(st, reading(n, T0, { x: { v: 1, unit: "" } }), T0);
  // A minute of silence is a heartbeat away, not stale.
  assert.equal(condition(st, get("light"), T0 + 62000), "ok");
  assert.equal(condition(st, get("light"), T0 + 124000), "ok");
  assert.equal(condition(st, get("light"), T0 + 124001), "stale");
  assert.equal(condition(st, get("door"), T0 + 7 * 86400e3), "ok");
  assert.equal(condition(st, get("sim"), T0 + 2000), "ok");
  assert.equal(condition(st, get("sim"), T0 + 2001), "stale");
  assert.equal(condition(st, get("old"), T0 + 3000), "ok");
  assert.equal(condition(st, get("old"), T0 + 3001), "stale");
  // Waiting for the first reading counts the same way.
  assert.equal(condition(st, get("odd"), T0 + 3001), "stale");
  const st2 = newState();
  apply(st2, { type: "hello", sensors: [{ sensor: "light", interval_ms: 2000, max_gap_ms: 62000 }, { sensor: "door", max_gap_ms: 0 }] }, T0);
  assert.equal(condition(st2, st2.sensors.get("light"), T0 + 124000), "waiting");
  assert.equal(condition(st2, st2.sensors.get("light"), T0 + 124001), "stale");
  assert.equal(condition(st2, st2.sensors.get("door"), T0 + 86400e3), "waiting");
});

test("ages are corrected for the device's clock, estimated from live readings only", () => {
  const st = newState();
  apply(st, hello, T0);
  const behind = 60_000; // the device's clock is a minute behind the browser's
  // The snapshot's reading is 10 s old: it must not be taken for clock skew.
  apply(st, reading("sim", T0 - 10_000, simValues), T0 + behind);
  const sim = st.sensors.get("sim");
  assert.equal(st.skewKnown, false);
  // Live readings arrive 50 ms and 20 ms after they are taken.
  apply(st, reading("sim", T0 + 1000, simValues), T0 + 1000 + behind + 50);
  apply(st, reading("sim", T0 + 2000, simValues), T0 + 2000 + behind + 20);
  assert.equal(st.skew, behind + 20);
  assert.equal(ageOf(st, sim, T0 + 2000 + behind + 2020), 2000);
  assert.equal(condition(st, sim, T0 + 2000 + behind + 2020), "ok");
  // A new session starts a new estimate.
  apply(st, hello, T0 + 100_000);
  assert.equal(st.skew, 0);
  assert.equal(st.skewKnown, false);
});

test("unknown types and malformed messages are ignored", () => {
  const st = newState();
  apply(st, hello, T0);
  const before = JSON.stringify([...st.sensors.entries()]);
  for (const m of [
    null, 42, "hello", [], [hello], {}, { type: "ping" }, { type: "chart", sensor: "sim" },
    { type: "reading", sensor: "sim" },
    { type: "reading", sensor: "", values: {}, ts: T0 },
    { type: "reading", sensor: "sim", values: [], ts: T0 },
    { type: "reading", sensor: "sim", values: {}, time: "not a time" },
    { type: "status", sensor: "sim" },
    { type: "status", sensor: "sim", ok: "false" },
    { type: "status", ok: false },
  ]) {
    assert.equal(apply(st, m, T0), "", JSON.stringify(m));
  }
  assert.equal(JSON.stringify([...st.sensors.entries()]), before);
  assert.equal(st.device, "pi");
});

test("hello tolerates missing and odd sensor lists", () => {
  const st = newState();
  assert.equal(apply(st, { type: "hello" }, T0), "hello");
  assert.equal(st.sensors.size, 0);
  apply(st, { type: "hello", device: 7, sensors: [null, { sensor: "a", interval_ms: -5 }, { sensor: "a" }, { interval_ms: 1 }] }, T0);
  assert.equal(st.device, "");
  assert.deepEqual([...st.sensors.keys()], ["a"]);
  assert.equal(st.sensors.get("a").intervalMs, 0);
});

test("formatAge", () => {
  assert.equal(formatAge(NaN), "no data");
  assert.equal(formatAge(0), "just now");
  assert.equal(formatAge(999), "just now");
  assert.equal(formatAge(3000), "3 s ago");
  assert.equal(formatAge(59_999), "59 s ago");
  assert.equal(formatAge(60_000), "1 min ago");
  assert.equal(formatAge(3 * 3600e3 + 5), "3 h ago");
  assert.equal(formatAge(2 * 86400e3), "2 d ago");
});

test("humanise", () => {
  assert.equal(humanise("cpu_temp"), "CPU temp");
  assert.equal(humanise("load1"), "Load 1");
  assert.equal(humanise("load15"), "Load 15");
  assert.equal(humanise("mem_available"), "Mem available");
  assert.equal(humanise("temperature"), "Temperature");
  assert.equal(humanise("pm25"), "PM2.5");
  assert.equal(humanise("ph"), "pH");
  assert.equal(humanise("wifi_rssi"), "Wi-Fi RSSI");
  assert.equal(humanise("__odd__name"), "Odd name");
  assert.equal(humanise(""), "");
});

test("formatValue", () => {
  const sp = "\u00a0";
  assert.equal(formatValue(21.375, "°C", nf), `21.4${sp}°C`);
  assert.equal(formatValue(1234567, "", nf), "1,234,567");
  assert.equal(formatValue(0.256, "", nf), "0.26"); // a load average
  assert.equal(formatValue(-0.001, "V", nf), `0${sp}V`);
  assert.equal(formatValue(3.3125, "V", nf), `3.31${sp}V`);
  assert.equal(formatValue(45.25, "%", nf), `45.3${sp}%`);
  assert.equal(formatValue(1013.25, "hPa", nf), `1,013.3${sp}hPa`);
  assert.equal(formatValue(612.5, "ppm", nf), `613${sp}ppm`);
  // Bytes: the "Mem available 23,513.523 MB" is 23 GiB.
  assert.equal(formatValue(23513.523, "MiB", nf), `23${sp}GiB`);
  assert.equal(formatValue(5000, "MiB", nf), `4.88${sp}GiB`);
  assert.equal(formatValue(812.4, "MiB", nf), `812${sp}MiB`);
  assert.equal(formatValue(1.5 * 1024 * 1024, "MiB", nf), `1.5${sp}TiB`);
  assert.equal(formatValue(2500, "MB", nf), `2.5${sp}GB`);
  assert.equal(formatValue(512, "B", nf), `512${sp}B`);
  assert.equal(formatValue(150 * 1024, "B", nf), `150${sp}KiB`);
  // Durations: the "Uptime 2,602.71 s" is 43 min.
  assert.equal(formatValue(2602.71, "s", nf), `43${sp}min`);
  assert.equal(formatValue(4.25, "s", nf), `4.3${sp}s`);
  assert.equal(formatValue(42, "s", nf), `42${sp}s`);
  assert.equal(formatValue(7500, "s", nf), `2${sp}h 5${sp}min`);
  assert.equal(formatValue(7200, "s", nf), `2${sp}h`);
  assert.equal(formatValue(3 * 86400 + 4 * 3600 + 59, "s", nf), `3${sp}d 4${sp}h`);
  // Units without a rule: fewer decimals as numbers grow.
  assert.equal(formatValue(1.23456, "m/s", nf), `1.235${sp}m/s`);
  assert.equal(formatValue(123.456, "m/s", nf), `123.5${sp}m/s`);
  assert.equal(formatValue(NaN, "V", nf), "–");
});

test("backoff doubles from 0.5 s to 30 s with jitter, and resets", () => {
  const top = new Backoff({ random: () => 1 - Number.EPSILON });
  const highs = Array.from({ length: 9 }, () => top.next());
  assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);

  const bottom = new Backoff({ random: () => 0 });
  const lows = Array.from({ length: 8 }, () => bottom.next());
  assert.deepEqual(lows, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000]);

  bottom.reset();
  assert.equal(bottom.next(), 250);

  const real = new Backoff();
  for (let i = 0; i < 2000; i++) {
    const d = real.next();
    const base = Math.min(30000, 500 * 2 ** Math.min(i, 30));
    assert.ok(d >= base / 2 && d <= base, `attempt ${i}: ${d} not in [${base / 2}, ${base}]`);
  }
  assert.ok(Number.isFinite(real.next()));
});

test("the chart ranges offered are the spans shorter than the history, then all of it", async () => {
  const { timeRanges, rangeStart } = await import("../static/model.js");
  assert.deepEqual(timeRanges(3600000).map((r) => r.label), ["5 min", "15 min", "All"]);
  assert.deepEqual(timeRanges(3600001).map((r) => r.label), ["5 min", "15 min", "1 h", "All"]);
  assert.deepEqual(timeRanges(60000).map((r) => [r.label, r.ms]), [["All", 0]]);
  assert.deepEqual(timeRanges(30 * 86400000).map((r) => r.label), ["5 min", "15 min", "1 h", "6 h", "24 h", "7 d", "All"]);

  const t = [0, 60000, 120000, 180000, 240000, 300000, 360000];
  assert.equal(rangeStart(t, 0), 0);
  assert.equal(rangeStart(t, 5 * 60000), 1); // from 60,000: the last five minutes
  assert.equal(rangeStart(t, 59999), 6); // only the last point
  assert.equal(rangeStart(t, 10 * 60000), 0); // longer than the history
  assert.equal(rangeStart([], 60000), 0);
  assert.equal(rangeStart([5], 60000), 0);
});
