// model.js: the dashboard's state and the wire messages that change it.
// Pure functions, no DOM and no clock of its own (callers pass `now` in ms),
// so that Node can test it: see ../testdata/model.test.mjs.

/** A fresh state: no device yet and no sensors. */
export function newState() {
  return {
    device: "",
    version: "",
    helloAt: NaN, // when the last hello arrived, by the browser's clock
    skew: 0, // estimated browser clock minus device clock, in ms
    skewKnown: false,
    sensors: new Map(), // name -> sensor, in the order of the hello message
    windowMs: DEFAULT_WINDOW_MS, // how far back the history reaches
    stepMs: DEFAULT_STEP_MS, // readings closer than this share a point
    historyForm: "", // how the last history message gave its times: "runs" (v 2) or "t"
  };
}

/** The history window and step the server uses by default (1 h, 1 s). */
export const DEFAULT_WINDOW_MS = 3600000;
export const DEFAULT_STEP_MS = 1000;

/**
 * An empty history: t holds point times in ms, vals maps each value name to
 * {unit, v}, with v aligned to t (null where the value was missing). The
 * arrays are uPlot's data format: [t, v1, v2, …].
 */
function newHistory() {
  // holdsLatest: the newest point already holds the sensor's latest reading,
  // which the snapshot repeats right after the history message.
  return { t: [], vals: new Map(), bucket: NaN, count: 0, holdsLatest: false };
}

function newSensor(name, intervalMs, now, maxGapMs = NaN) {
  return {
    name,
    intervalMs, // 0 when unknown
    // The longest gap between two readings of the healthy sensor, from hello;
    // 0 means no bound, NaN that the server did not say (then 3 intervals).
    maxGapMs,
    since: now, // when the dashboard started waiting for this sensor
    ts: NaN, // device time of the latest reading, in ms since the epoch
    readings: 0, // readings received since the last hello
    values: new Map(), // value name -> {v, unit}, in the order of the latest reading
    ok: true,
    error: "",
    failures: 0,
    hist: newHistory(),
    histSeq: 0, // bumped whenever hist changes, so renderers redraw only then
    statsMemo: null, // see statsOf
  };
}

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const isName = (x) => typeof x === "string" && x !== "";
const str = (x) => (typeof x === "string" ? x : "");

function sensorFor(state, name, now) {
  let s = state.sensors.get(name);
  if (!s) {
    s = newSensor(name, 0, now);
    state.sensors.set(name, s);
  }
  return s;
}

function messageTime(m) {
  if (Number.isFinite(m.ts)) return m.ts;
  const t = typeof m.time === "string" ? Date.parse(m.time) : NaN;
  return t;
}

/**
 * Applies one decoded wire message to state. now is the browser's time in ms.
 * Returns the type of message applied ("hello", "reading" or "status"), or ""
 * when the message was ignored: unknown types and malformed messages are
 * ignored, and so are unknown fields.
 */
export function apply(state, msg, now) {
  if (!isObject(msg)) return "";
  switch (msg.type) {
    case "hello": {
      // A hello starts a session: the snapshot that follows it resends every
      // reading and every failing status, so everything else is dropped.
      state.device = str(msg.device);
      state.version = str(msg.version);
      state.helloAt = now;
      state.skew = 0;
      state.skewKnown = false;
      const sensors = new Map();
      for (const s of Array.isArray(msg.sensors) ? msg.sensors : []) {
        if (!isObject(s) || !isName(s.sensor) || sensors.has(s.sensor)) continue;
        const iv = Number.isFinite(s.interval_ms) && s.interval_ms > 0 ? s.interval_ms : 0;
        const gap = Number.isFinite(s.max_gap_ms) && s.max_gap_ms >= 0 ? s.max_gap_ms : NaN;
        sensors.set(s.sensor, newSensor(s.sensor, iv, now, gap));
      }
      state.sensors = sensors;
      return "hello";
    }
    case "history": {
      if (!Array.isArray(msg.sensors)) return "";
      if (Number.isFinite(msg.window_ms) && msg.window_ms > 0) state.windowMs = msg.window_ms;
      const step = Number.isFinite(msg.step_ms) && msg.step_ms > 0 ? msg.step_ms : NaN;
      if (step > 0) state.stepMs = step;
      for (const x of msg.sensors) {
        if (!isObject(x) || !isName(x.sensor) || !isObject(x.values)) continue;
        // Two forms: "t", one time per point; or "runs" (v 2), [start, count]
        // pairs of points step_ms apart.
        const t = Array.isArray(x.runs) ? expandRuns(x.runs, step, x.values) : Array.isArray(x.t) ? times(x.t) : null;
        if (t === null) continue;
        state.historyForm = Array.isArray(x.runs) ? "runs" : "t";
        const n = t.length;
        const h = newHistory();
        h.t = t;
        for (const [name, val] of Object.entries(x.values)) {
          if (!isObject(val) || !Array.isArray(val.v) || val.v.length !== n) continue;
          h.vals.set(name, { unit: str(val.unit), v: val.v.map((v) => (Number.isFinite(v) ? v : null)) });
        }
        if (n > 0) {
          h.bucket = Math.floor(h.t[n - 1] / state.stepMs);
          h.count = 1;
          h.holdsLatest = true;
        }
        const s = sensorFor(state, x.sensor, now);
        s.hist = h;
        s.histSeq++;
      }
      return "history";
    }
    case "reading": {
      const ts = messageTime(msg);
      if (!isName(msg.sensor) || !isObject(msg.values) || !Number.isFinite(ts)) return "";
      const values = new Map();
      for (const [name, x] of Object.entries(msg.values)) {
        if (isObject(x) && Number.isFinite(x.v)) values.set(name, { v: x.v, unit: str(x.unit) });
      }
      const s = sensorFor(state, msg.sensor, now);
      // The first reading of a sensor after hello may come from the snapshot
      // and be old; later ones are sent as they are taken, so their delay
      // measures the clock difference plus network latency. The smallest
      // delay seen is the best estimate of the difference.
      if (s.readings > 0) {
        const d = now - ts;
        state.skew = state.skewKnown ? Math.min(state.skew, d) : d;
        state.skewKnown = true;
      }
      s.readings++;
      s.ts = ts;
      s.values = values;
      addPoint(state, s, ts, values);
      return "reading";
    }
    case "status": {
      if (!isName(msg.sensor) || typeof msg.ok !== "boolean") return "";
      const s = sensorFor(state, msg.sensor, now);
      s.ok = msg.ok;
      s.error = msg.ok ? "" : str(msg.error);
      s.failures = Number.isSafeInteger(msg.failures) && msg.failures > 0 ? msg.failures : 0;
      return "status";
    }
  }
  return "";
}

// times copies a history's "t" array; null unless every time is a number in
// ascending order.
function times(t) {
  for (let i = 0; i < t.length; i++) {
    if (!Number.isFinite(t[i]) || (i > 0 && t[i] <= t[i - 1])) return null;
  }
  return t.slice();
}

/**
 * Expands a compact history's runs, [[start_ms, count], …] or [start_ms,
 * count, every_ms] for points every_ms apart (a multiple of step), into one
 * time per point: point i of a run is at start_ms + i*every_ms (every_ms
 * defaults to step). Returns null when the runs are malformed: not two or
 * three numbers, a count that is not a whole number, a stride that is not a
 * positive multiple of step, runs out of time order or overlapping, or more
 * points in all than the longest of values' "v" arrays (which bounds what a
 * bad message can make the page allocate). A plain array of numbers, no
 * object per point.
 */
export function expandRuns(runs, step, values) {
  if (!(step > 0)) return null;
  let total = 0;
  let end = -Infinity; // where the previous run ends
  for (const r of runs) {
    if (!Array.isArray(r) || r.length < 2 || r.length > 3) return null;
    const [start, count, every = step] = r;
    if (!Number.isFinite(start) || !Number.isSafeInteger(count) || count < 0 || start < end) return null;
    if (!Number.isFinite(every) || every < step || every % step !== 0) return null;
    if (count > 0) end = start + (count - 1) * every + step;
    total += count;
  }
  let longest = 0;
  if (isObject(values)) {
    for (const val of Object.values(values)) {
      if (isObject(val) && Array.isArray(val.v)) longest = Math.max(longest, val.v.length);
    }
  }
  if (total > longest) return null;
  const t = [];
  for (const [start, count, every = step] of runs) {
    for (let i = 0; i < count; i++) t.push(start + i * every);
  }
  return t;
}

/**
 * Adds a reading to s's history the way the server does: readings within one
 * step share a point (their mean), and points older than the window or beyond
 * window/step of them are dropped. A reading the history already holds (the
 * snapshot repeats the latest one) is skipped.
 */
export function addPoint(state, s, ts, values) {
  const h = s.hist;
  const n = h.t.length;
  const repeat = h.holdsLatest;
  h.holdsLatest = false;
  if (n > 0 && ts === h.t[n - 1]) return;
  const bucket = Math.floor(ts / state.stepMs);
  // The compact history gives its points the start of their step, not the
  // time of their latest reading: the snapshot's repeat of that reading is
  // recognised as the first reading after the history, in the newest step.
  if (repeat && n > 0 && bucket === h.bucket && ts >= h.t[n - 1]) return;
  if (n > 0 && bucket === h.bucket) {
    h.t[n - 1] = ts;
    for (const [name, x] of values) {
      let series = h.vals.get(name);
      if (!series) h.vals.set(name, (series = { unit: x.unit, v: new Array(n).fill(null) }));
      const prev = series.v[n - 1];
      series.v[n - 1] = prev === null ? x.v : prev + (x.v - prev) / (h.count + 1);
    }
    h.count++;
  } else {
    h.t.push(ts);
    for (const [name, series] of h.vals) series.v.push(values.has(name) ? values.get(name).v : null);
    for (const [name, x] of values) {
      if (!h.vals.has(name)) {
        const v = new Array(n + 1).fill(null);
        v[n] = x.v;
        h.vals.set(name, { unit: x.unit, v });
      }
    }
    h.bucket = bucket;
    h.count = 1;
  }
  for (const [name, x] of values) h.vals.get(name).unit = x.unit;
  const maxPoints = Math.ceil(state.windowMs / state.stepMs) + 1;
  let drop = 0;
  while (drop < h.t.length - 1 && (h.t.length - drop > maxPoints || h.t[drop] < ts - state.windowMs)) drop++;
  if (drop > 0) {
    h.t.splice(0, drop);
    for (const series of h.vals.values()) series.v.splice(0, drop);
  }
  s.histSeq++;
}

/**
 * Min, max and trend of one value over the history: trend compares the latest
 * value with the mean of the first tenth of the window and is "rising",
 * "falling" or "steady" (a change under 5 % of the range, or no range);
 * null without data.
 */
export function stats(series) {
  let min = Infinity;
  let max = -Infinity;
  let last = null;
  let n = 0;
  for (const v of series.v) {
    if (v === null) continue;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
    last = v;
  }
  if (n === 0) return null;
  const head = Math.max(1, Math.floor(series.v.length / 10));
  let sum = 0;
  let k = 0;
  for (let i = 0; i < series.v.length && k < head; i++) {
    if (series.v[i] !== null) {
      sum += series.v[i];
      k++;
    }
  }
  const delta = last - sum / k;
  const range = max - min;
  let trend = "steady";
  if (range > 0 && Math.abs(delta) > 0.05 * range) trend = delta > 0 ? "rising" : "falling";
  return { min, max, trend };
}

const ARROWS = { rising: "↗", falling: "↘", steady: "→" };

/**
 * The age of a sensor's latest reading in ms at browser time now, corrected
 * for the clock difference between browser and device; NaN before any reading.
 */
export function ageOf(state, s, now) {
  return Math.max(0, now - state.skew - s.ts);
}

/**
 * How old a sensor's latest reading (or the wait for its first one) may grow,
 * in ms, before the sensor is shown stale: twice the longest gap a healthy
 * sensor leaves (max_gap_ms in hello, which counts the heartbeat of a delta
 * filter), and at least that gap plus STALE_SLACK_MS, so that a sensor read
 * several times a second does not flicker stale on a network hiccup; three
 * intervals from a server that does not send max_gap_ms; 0, never stale, when
 * the gap has no bound or nothing is known.
 */
export function staleAfter(s) {
  if (Number.isFinite(s.maxGapMs)) return s.maxGapMs > 0 ? Math.max(2 * s.maxGapMs, s.maxGapMs + STALE_SLACK_MS) : 0;
  return 3 * s.intervalMs;
}

/** The least margin over max_gap_ms before a sensor is shown stale: 1 s. */
export const STALE_SLACK_MS = 1000;

/**
 * A sensor's condition at now: "failing" (a status said so), "stale" (its
 * latest reading, or the wait for a first one, is older than staleAfter),
 * "waiting" (no reading yet) or "ok".
 */
export function condition(state, s, now) {
  if (!s.ok) return "failing";
  const limit = staleAfter(s);
  if (s.readings === 0) return limit > 0 && now - s.since > limit ? "stale" : "waiting";
  return limit > 0 && ageOf(state, s, now) > limit ? "stale" : "ok";
}

/** "3 s ago", "5 min ago"… for an age in ms; "no data" for NaN. */
export function formatAge(ms) {
  if (!Number.isFinite(ms)) return "no data";
  const s = Math.floor(ms / 1000);
  if (s < 1) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const WORDS = new Map(Object.entries({
  cpu: "CPU", gpu: "GPU", soc: "SoC", ram: "RAM", io: "I/O", ip: "IP", id: "ID",
  uv: "UV", ir: "IR", co2: "CO₂", voc: "VOC", tvoc: "TVOC", pm1: "PM1", pm10: "PM10",
  pm25: "PM2.5", rssi: "RSSI", snr: "SNR", usb: "USB", wifi: "Wi-Fi", ph: "pH",
}));

/** Turns a snake_case value name into a label: "cpu_temp" → "CPU temp", "load1" → "Load 1". */
export function humanise(name) {
  const words = [];
  for (const w of String(name).toLowerCase().split(/[_\s]+/)) {
    if (w === "") continue;
    const known = WORDS.get(w);
    const m = /^([a-z]+)(\d+)$/.exec(w);
    if (known) words.push(known);
    else if (m) words.push(m[1], m[2]);
    else words.push(w);
  }
  if (words.length > 0 && words[0] === words[0].toLowerCase()) {
    words[0] = words[0].charAt(0).toUpperCase() + words[0].slice(1);
  }
  return words.join(" ");
}

/** Decimals shown per unit: what the sensor's resolution makes worth reading. */
export const DECIMALS = {
  "°C": 1, "°F": 1, "%": 1, hPa: 1, V: 2, A: 3, W: 1, lx: 0, ppm: 0, ppb: 0, dBm: 0, "µg/m³": 0, "": 2,
};

const formats = new Map(); // "locale decimals" -> Intl.NumberFormat

function fmt(nf, decimals) {
  const locale = nf.resolvedOptions().locale;
  const key = `${locale} ${decimals}`;
  let f = formats.get(key);
  if (!f) formats.set(key, (f = new Intl.NumberFormat(locale, { maximumFractionDigits: decimals })));
  return f;
}

const nbsp = "\u00a0";

// Byte units by size: binary steps for MiB and B (as free and df count),
// decimal ones for MB.
const BYTES = {
  B: { base: 1024, steps: ["B", "KiB", "MiB", "GiB", "TiB"] },
  MiB: { base: 1024, steps: ["MiB", "GiB", "TiB"] },
  MB: { base: 1000, steps: ["MB", "GB", "TB"] },
};

/** A duration in seconds as people say it: "12.5 s", "43 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(sec, nf) {
  const neg = sec < 0 ? "-" : "";
  const a = Math.abs(sec);
  if (a < 60) return `${neg}${fmt(nf, a < 10 ? 1 : 0).format(a)}${nbsp}s`;
  const m = Math.floor(a / 60);
  if (m < 60) return `${neg}${m}${nbsp}min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${neg}${h}${nbsp}h${m % 60 ? ` ${m % 60}${nbsp}min` : ""}`;
  const d = Math.floor(h / 24);
  return `${neg}${fmt(nf, 0).format(d)}${nbsp}d${h % 24 ? ` ${h % 24}${nbsp}h` : ""}`;
}

/**
 * Formats a value with its unit the way people read it; nf is an
 * Intl.NumberFormat whose locale is used. Bytes in the largest unit that
 * keeps the number at least 1 ("22.96 GiB", "812 MiB"), seconds as a
 * duration ("43 min", "2 h 5 min"), and the decimals of DECIMALS per unit
 * (up to three for units it does not list, fewer for large numbers).
 */
export function formatValue(v, unit, nf) {
  if (!Number.isFinite(v)) return "–";
  const bytes = BYTES[unit];
  if (bytes) {
    let i = 0;
    let x = v;
    while (Math.abs(x) >= bytes.base && i < bytes.steps.length - 1) {
      x /= bytes.base;
      i++;
    }
    const decimals = i === 0 ? 0 : Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0;
    return `${fmt(nf, decimals).format(x)}${nbsp}${bytes.steps[i]}`;
  }
  if (unit === "s") return formatDuration(v, nf);
  let decimals = DECIMALS[unit];
  if (decimals === undefined) decimals = Math.abs(v) >= 1000 ? 0 : Math.abs(v) >= 100 ? 1 : 3;
  const n = fmt(nf, decimals).format(v).replace(/^-(?=0(\D0*)?$)/, ""); // no "-0"
  return unit ? `${n}${nbsp}${unit}` : n;
}

// statsOf returns stats of s's history of value key, or null, computed once
// per history change: a render every second over an hour of points for every
// value would otherwise scan them all each time.
function statsOf(s, key) {
  let memo = s.statsMemo;
  if (!memo || memo.hist !== s.hist || memo.seq !== s.histSeq) {
    memo = s.statsMemo = { hist: s.hist, seq: s.histSeq, byKey: new Map() };
  }
  if (!memo.byKey.has(key)) {
    const series = s.hist.vals.get(key);
    memo.byKey.set(key, series ? stats(series) : null);
  }
  return memo.byKey.get(key);
}

const LABELS = { ok: "OK", stale: "Stale", failing: "Failing", waiting: "Waiting" };

/**
 * Everything a card shows for sensor s at now, as strings: what the renderer
 * writes into the DOM. nf is the Intl.NumberFormat for values.
 */
export function view(state, s, now, nf) {
  const cond = condition(state, s, now);
  let error = "";
  if (cond === "failing") {
    error = s.error || "failing";
    if (s.failures > 1) error += ` (${s.failures} failures in a row)`;
  }
  const values = [];
  for (const [key, x] of s.values) {
    const st = statsOf(s, key);
    values.push({
      key,
      label: humanise(key),
      text: formatValue(x.v, x.unit, nf),
      range: st ? `min ${formatValue(st.min, x.unit, nf)} · max ${formatValue(st.max, x.unit, nf)}` : "",
      trend: st ? ARROWS[st.trend] : "",
      trendLabel: st ? st.trend : "",
    });
  }
  const age = s.readings === 0 ? "no reading yet" : `updated ${formatAge(ageOf(state, s, now))}`;
  return { condition: cond, label: LABELS[cond], age, error, values };
}

/**
 * Reconnection delays: exponential from initial to max ms, each with jitter
 * drawn uniformly from [delay/2, delay] so that clients do not reconnect in
 * step after a restart. Call reset after a successful connection.
 */
export class Backoff {
  constructor({ initial = 500, max = 30000, random = Math.random } = {}) {
    this.initial = initial;
    this.max = max;
    this.random = random;
    this.attempt = 0;
  }

  /** The delay before the next attempt, in ms. */
  next() {
    const base = Math.min(this.max, this.initial * 2 ** this.attempt);
    if (base < this.max) this.attempt++;
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  reset() {
    this.attempt = 0;
  }
}

/**
 * Groups a sensor's history values by unit, in the order they appear: one
 * chart per group, so values that share a unit share an axis. key identifies
 * the grouping, so a renderer can tell when it changed.
 */
export function chartGroups(s) {
  const byUnit = new Map();
  for (const [name, series] of s.hist.vals) {
    let g = byUnit.get(series.unit);
    if (!g) byUnit.set(series.unit, (g = { unit: series.unit, names: [] }));
    g.names.push(name);
  }
  const groups = [...byUnit.values()];
  return { groups, key: JSON.stringify(groups) };
}

/** The spans a chart may show, shortest first, with the label for each. */
export const RANGES = [
  { ms: 5 * 60000, label: "5 min" },
  { ms: 15 * 60000, label: "15 min" },
  { ms: 3600000, label: "1 h" },
  { ms: 6 * 3600000, label: "6 h" },
  { ms: 24 * 3600000, label: "24 h" },
  { ms: 7 * 86400000, label: "7 d" },
];

/**
 * The chart ranges to offer for a history that reaches windowMs back: each
 * span of RANGES shorter than it, then the whole window ("All", ms 0).
 */
export function timeRanges(windowMs) {
  const out = RANGES.filter((r) => r.ms < windowMs);
  out.push({ ms: 0, label: "All" });
  return out;
}

/**
 * The index of the first time in t (ascending Unix ms) within ms of the last
 * one: where a chart of the last ms starts. 0 for ms 0 (all of it).
 */
export function rangeStart(t, ms) {
  if (!(ms > 0) || t.length === 0) return 0;
  const from = t[t.length - 1] - ms;
  let lo = 0;
  let hi = t.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
