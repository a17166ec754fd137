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
  };
}

function newSensor(name, intervalMs, now) {
  return {
    name,
    intervalMs, // 0 when unknown: then the sensor is never judged stale
    since: now, // when the dashboard started waiting for this sensor
    ts: NaN, // device time of the latest reading, in ms since the epoch
    readings: 0, // readings received since the last hello
    values: new Map(), // value name -> {v, unit}, in the order of the latest reading
    ok: true,
    error: "",
    failures: 0,
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
        sensors.set(s.sensor, newSensor(s.sensor, iv, now));
      }
      state.sensors = sensors;
      return "hello";
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

/**
 * The age of a sensor's latest reading in ms at browser time now, corrected
 * for the clock difference between browser and device; NaN before any reading.
 */
export function ageOf(state, s, now) {
  return Math.max(0, now - state.skew - s.ts);
}

/**
 * A sensor's condition at now: "failing" (a status said so), "stale" (its
 * latest reading, or the wait for a first one, is older than three intervals),
 * "waiting" (no reading yet) or "ok".
 */
export function condition(state, s, now) {
  if (!s.ok) return "failing";
  const limit = 3 * s.intervalMs;
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

/** Formats a value with its unit; nf is an Intl.NumberFormat. */
export function formatValue(v, unit, nf) {
  const n = nf.format(v);
  return unit ? `${n}\u00a0${unit}` : n;
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
  for (const [key, x] of s.values) values.push({ key, label: humanise(key), text: formatValue(x.v, x.unit, nf) });
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
