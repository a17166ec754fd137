// Tests of the history part of static/model.js: the history message, live
// points, the window, min/max/trend and the chart groups.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newState, apply, view, stats, chartGroups, expandRuns } from "../static/model.js";
import { hourOfHistory, T0, START, STEP } from "./fixtures.mjs";

const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
const hello = { type: "hello", device: "pi", version: "v1", sensors: [{ sensor: "sim", interval_ms: 1000 }] };
const reading = (ts, values) => ({ type: "reading", device: "pi", sensor: "sim", ts, values });

function withHistory() {
  const st = newState();
  apply(st, hello, T0);
  const kind = apply(st, {
    type: "history", device: "pi", window_ms: 10000, step_ms: 1000,
    sensors: [{ sensor: "sim", t: [T0 - 2000, T0 - 1000, T0], values: {
      temperature: { unit: "°C", v: [20, null, 22] },
      humidity: { unit: "%", v: [40, 41, 42] },
      broken: { unit: "", v: [1] }, // wrong length: ignored
    } }],
  }, T0);
  assert.equal(kind, "history");
  return st;
}

test("history fills each sensor's points and the window", () => {
  const st = withHistory();
  const s = st.sensors.get("sim");
  assert.equal(st.windowMs, 10000);
  assert.equal(st.stepMs, 1000);
  assert.deepEqual(s.hist.t, [T0 - 2000, T0 - 1000, T0]);
  assert.deepEqual(s.hist.vals.get("temperature"), { unit: "°C", v: [20, null, 22] });
  assert.equal(s.hist.vals.has("broken"), false);
});

test("malformed history messages change nothing", () => {
  const st = withHistory();
  for (const m of [
    { type: "history" },
    { type: "history", sensors: "x" },
  ]) assert.equal(apply(st, m, T0), "");
  apply(st, { type: "history", sensors: [{ sensor: "sim", t: [1, "x"], values: {} }, { sensor: "", t: [], values: {} }, 7] }, T0);
  assert.equal(st.sensors.get("sim").hist.t.length, 3);
  assert.equal(st.sensors.size, 1);
});

test("readings append points, merge within a step and drop the old", () => {
  const st = withHistory();
  const s = st.sensors.get("sim");
  // The snapshot repeats the latest reading: not a new point.
  apply(st, reading(T0, { temperature: { v: 22, unit: "°C" }, humidity: { v: 42, unit: "%" } }), T0);
  assert.equal(s.hist.t.length, 3);
  const seq = s.histSeq;
  apply(st, reading(T0 + 1000, { temperature: { v: 24, unit: "°C" }, pressure: { v: 1000, unit: "hPa" } }), T0);
  assert.ok(s.histSeq > seq, "histSeq moves");
  assert.deepEqual(s.hist.vals.get("humidity").v, [40, 41, 42, null]);
  assert.deepEqual(s.hist.vals.get("pressure").v, [null, null, null, 1000]);
  // Same step: the mean, at the later time.
  apply(st, reading(T0 + 1500, { temperature: { v: 26, unit: "°C" } }), T0);
  assert.equal(s.hist.t.length, 4);
  assert.equal(s.hist.t[3], T0 + 1500);
  assert.equal(s.hist.vals.get("temperature").v[3], 25);
  // 10 s later the first points fall out of the window.
  apply(st, reading(T0 + 11000, { temperature: { v: 30, unit: "°C" } }), T0);
  assert.deepEqual(s.hist.t, [T0 + 1000 + 500, T0 + 11000]);
  assert.deepEqual(s.hist.vals.get("temperature").v, [25, 30]);
  for (const series of s.hist.vals.values()) assert.equal(series.v.length, s.hist.t.length);
});

test("the point cap holds at window/step", () => {
  const st = withHistory();
  const s = st.sensors.get("sim");
  for (let i = 1; i <= 100; i++) apply(st, reading(T0 + i * 1000, { humidity: { v: i, unit: "%" } }), T0);
  assert.ok(s.hist.t.length <= 11, `${s.hist.t.length} points`);
  assert.equal(s.hist.t.at(-1), T0 + 100000);
});

test("stats: min, max and trend", () => {
  assert.equal(stats({ v: [null, null] }), null);
  assert.deepEqual(stats({ v: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }), { min: 1, max: 10, trend: "rising" });
  assert.deepEqual(stats({ v: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1] }), { min: 1, max: 10, trend: "falling" });
  assert.deepEqual(stats({ v: [5, 9, 1, 5] }), { min: 1, max: 9, trend: "steady" });
  assert.deepEqual(stats({ v: [3] }), { min: 3, max: 3, trend: "steady" });
});

test("view shows min, max and trend from the history", () => {
  const st = withHistory();
  apply(st, reading(T0 + 1000, { temperature: { v: 24, unit: "°C" } }), T0 + 1000);
  const v = view(st, st.sensors.get("sim"), T0 + 1000, nf);
  assert.deepEqual(v.values[0], {
    key: "temperature", label: "Temperature", text: "24\u00a0°C",
    range: "min 20\u00a0°C · max 24\u00a0°C", trend: "↗", trendLabel: "rising",
  });
});

test("chartGroups puts values that share a unit on one chart", () => {
  const st = newState();
  apply(st, hello, T0);
  apply(st, reading(T0, { load1: { v: 1, unit: "" }, cpu_temp: { v: 50, unit: "°C" }, load5: { v: 2, unit: "" } }), T0);
  const { groups, key } = chartGroups(st.sensors.get("sim"));
  assert.deepEqual(groups, [{ unit: "", names: ["load1", "load5"] }, { unit: "°C", names: ["cpu_temp"] }]);
  apply(st, reading(T0 + 1000, { load1: { v: 1, unit: "" }, cpu_temp: { v: 50, unit: "°C" }, load5: { v: 2, unit: "" } }), T0);
  assert.equal(chartGroups(st.sensors.get("sim")).key, key, "same values, same key");
});

test("the compact history (runs) gives the same points as the one with a time per point", () => {
  const { t, v1, v2 } = hourOfHistory();
  const a = newState();
  const b = newState();
  apply(a, hello, T0);
  apply(b, hello, T0);
  assert.equal(apply(a, v1, T0), "history");
  assert.equal(apply(b, v2, T0), "history");
  const ha = a.sensors.get("sim").hist;
  const hb = b.sensors.get("sim").hist;
  assert.equal(hb.t.length, 3000);
  assert.deepEqual(hb.t, t);
  assert.deepEqual(hb.t, ha.t);
  assert.deepEqual([...hb.vals], [...ha.vals]);
  assert.equal(a.historyForm, "t");
  assert.equal(b.historyForm, "runs");
  assert.equal(hb.t[1500], START + 2100 * STEP, "the second run starts after the gap");
  assert.equal(hb.bucket, ha.bucket);
  assert.ok(hb.t.every((x) => typeof x === "number"), "times are plain numbers");
  const view1 = view(a, a.sensors.get("sim"), T0, nf);
  assert.deepEqual(view(b, b.sensors.get("sim"), T0, nf), view1);
});

test("the snapshot's repeat of the latest reading is not counted twice in a compact history", () => {
  const st = newState();
  apply(st, hello, T0);
  const base = Math.floor(T0 / 1000) * 1000; // the newest point's step starts here
  apply(st, {
    type: "history", v: 2, window_ms: 60000, step_ms: 1000,
    sensors: [{ sensor: "sim", runs: [[base - 2000, 3]], values: { temperature: { unit: "°C", v: [20, 21, 22] } } }],
  }, T0);
  const s = st.sensors.get("sim");
  assert.deepEqual(s.hist.t, [base - 2000, base - 1000, base]);
  // The latest reading, taken 400 ms into the newest step (whose mean, 22,
  // it is part of) comes again in the snapshot: not a new reading.
  apply(st, reading(base + 400, { temperature: { v: 23, unit: "°C" } }), T0);
  assert.deepEqual(s.hist.vals.get("temperature").v, [20, 21, 22]);
  // A live reading in the same step is merged; the next step is a new point.
  apply(st, reading(base + 800, { temperature: { v: 24, unit: "°C" } }), T0);
  assert.deepEqual(s.hist.vals.get("temperature").v, [20, 21, 23]);
  apply(st, reading(base + 1200, { temperature: { v: 30, unit: "°C" } }), T0);
  assert.deepEqual(s.hist.vals.get("temperature").v, [20, 21, 23, 30]);
  assert.deepEqual(s.hist.t, [base - 2000, base - 1000, base + 800, base + 1200]);
});

test("malformed compact histories are skipped, each sensor on its own", () => {
  const good = { sensor: "sim", runs: [[T0, 2]], values: { x: { unit: "", v: [1, 2] } } };
  const bad = [
    { sensor: "sim", runs: [[T0, 2.5]], values: { x: { unit: "", v: [1, 2] } } }, // count not whole
    { sensor: "sim", runs: [[T0, -1]], values: {} },
    { sensor: "sim", runs: [[T0]], values: { x: { unit: "", v: [1] } } },
    { sensor: "sim", runs: [["x", 1]], values: { x: { unit: "", v: [1] } } },
    { sensor: "sim", runs: [5], values: { x: { unit: "", v: [1] } } },
    { sensor: "sim", runs: [[T0, 2], [T0 + 1000, 1]], values: { x: { unit: "", v: [1, 2, 3] } } }, // overlap
    { sensor: "sim", runs: [[T0 + 5000, 1], [T0, 1]], values: { x: { unit: "", v: [1, 2] } } }, // out of order
    { sensor: "sim", runs: [[T0, 1e9]], values: { x: { unit: "", v: [1] } } }, // more points than values
    { sensor: "sim", runs: [[T0, 2]], values: {} },
  ];
  for (const x of bad) {
    const st = newState();
    apply(st, hello, T0);
    apply(st, { type: "history", v: 2, step_ms: 1000, sensors: [x, { ...good, sensor: "other" }] }, T0);
    assert.equal(st.sensors.get("sim").hist.t.length, 0, JSON.stringify(x));
    assert.deepEqual(st.sensors.get("other").hist.t, [T0, T0 + 1000], "the good sensor is kept");
  }
  // Runs need the message's step.
  const st = newState();
  apply(st, hello, T0);
  apply(st, { type: "history", v: 2, sensors: [good] }, T0);
  assert.equal(st.sensors.get("sim").hist.t.length, 0);
  // An empty history is fine, and so is an empty run.
  apply(st, { type: "history", v: 2, step_ms: 1000, sensors: [{ sensor: "sim", runs: [], values: {} }] }, T0);
  apply(st, { type: "history", v: 2, step_ms: 1000, sensors: [{ sensor: "sim", runs: [[T0, 0], [T0, 2]], values: { x: { unit: "", v: [1, 2] } } }] }, T0);
  assert.deepEqual(st.sensors.get("sim").hist.t, [T0, T0 + 1000]);
  // A "t" array out of order is refused too.
  apply(st, { type: "history", sensors: [{ sensor: "sim", t: [T0, T0 - 1], values: { x: { unit: "", v: [1, 2] } } }] }, T0);
  assert.deepEqual(st.sensors.get("sim").hist.t, [T0, T0 + 1000]);
});

test("expandRuns", () => {
  assert.deepEqual(expandRuns([[0, 3], [10, 2]], 2, { a: { v: [0, 0, 0, 0, 0] } }), [0, 2, 4, 10, 12]);
  assert.equal(expandRuns([[0, 3]], 0, { a: { v: [0, 0, 0] } }), null);
  assert.equal(expandRuns([[0, 3]], 1, { a: { v: [0, 0] } }), null);
  assert.deepEqual(expandRuns([], 1, {}), []);
  // A stride: points every 3 steps, then a run of one.
  assert.deepEqual(expandRuns([[0, 3, 6], [14, 1]], 2, { a: { v: [0, 0, 0, 0] } }), [0, 6, 12, 14]);
  assert.equal(expandRuns([[0, 3, 6], [12, 1]], 2, { a: { v: [0, 0, 0, 0] } }), null, "overlapping a strided run");
  assert.equal(expandRuns([[0, 3, 5]], 2, { a: { v: [0, 0, 0] } }), null, "stride not a multiple of step");
  assert.equal(expandRuns([[0, 3, 0]], 2, { a: { v: [0, 0, 0] } }), null, "zero stride");
  assert.equal(expandRuns([[0, 3, 2, 9]], 2, { a: { v: [0, 0, 0] } }), null, "four numbers");
});

test("view scans a history only when it changed", () => {
  const st = withHistory();
  const s = st.sensors.get("sim");
  apply(st, reading(T0 + 1000, { temperature: { v: 24, unit: "°C" } }), T0 + 1000);
  let reads = 0;
  const series = s.hist.vals.get("temperature");
  series.v = new Proxy(series.v, { get: (a, k) => (reads++, Reflect.get(a, k)) });
  const first = view(st, s, T0 + 1000, nf);
  assert.ok(reads > 0);
  const after = reads;
  assert.deepEqual(view(st, s, T0 + 2000, nf).values, first.values, "the same a second later");
  assert.equal(reads, after, "no second scan without a change");
  apply(st, reading(T0 + 2000, { temperature: { v: 10, unit: "°C" } }), T0 + 2000);
  assert.equal(view(st, s, T0 + 2000, nf).values[0].range, "min 10\u00a0°C · max 24\u00a0°C", "a new point: new stats");
});
