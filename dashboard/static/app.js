// app.js: connects to the device's WebSocket, feeds messages to model.js and
// renders the state. Each card's DOM is built once per sensor; later renders
// only rewrite text nodes and attributes whose content changed, and hand
// charts new data only when the sensor's history changed.
//
// Charts use uPlot when the page has it (vendor/uPlot.iife.min.js, committed
// from its npm package); without it the page works the same, without charts.
// Buttons above the cards choose the span the charts show, among those the
// history holds (timeRanges).
import { newState, apply, view, Backoff, chartGroups, humanise, formatValue, timeRanges, rangeStart, RANGES } from "./model.js";
import { Inbox, offer, GZIP_PROTOCOL } from "./wire.js";
import { newAlerts, applyAlert, renderAlerts } from "./alerts.js";

const meta = document.querySelector('meta[name="sensorcast-ws"]');
const modeMeta = document.querySelector('meta[name="sensorcast-mode"]');
// On the fleet's page (sensorcast fleet) #device=ID shows that device's
// cards and charts from its own stream; without it fleet.js shows the
// overview. A new hash loads the page again, so each view starts clean.
const fleet = modeMeta && modeMeta.content === "fleet";
const fleetDevice = fleet ? new URLSearchParams(location.hash.slice(1)).get("device") || "" : "";
if (fleet) addEventListener("hashchange", () => location.reload());
const basePath = meta && meta.content.startsWith("/") ? meta.content : "/ws";
const wsPath = fleetDevice ? `${basePath}?device=${encodeURIComponent(fleetDevice)}` : basePath;
const overview = fleet && !fleetDevice;
if (overview) import("./fleet.js");
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

const state = newState();
const alerts = newAlerts(); // see alerts.js
const backoff = new Backoff();
const conn = { phase: "connecting", retryAt: 0, protocol: "" }; // protocol: the subprotocol the server chose

const byId = (id) => document.getElementById(id);
function textIn(el) {
  const t = document.createTextNode("");
  el.replaceChildren(t);
  return t;
}
function setText(node, s) {
  if (node.data !== s) node.data = s;
}
function make(tag, className, parent) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (parent) parent.append(el);
  return el;
}

const ui = {
  device: textIn(byId("device")),
  version: textIn(byId("version")),
  conn: byId("conn"),
  connState: textIn(byId("conn-state")),
  connEta: textIn(byId("conn-eta")),
  empty: byId("empty"),
  list: byId("sensors"),
  cards: new Map(), // sensor name -> card
  title: "",
  ranges: byId("ranges"), // the chart range buttons (none in older pages)
  rangeKey: "",
};
// The span the charts show in ms, 0 for the whole history.
let rangeMs = 0;
let cardSeq = 0;

const uPlot = typeof globalThis.uPlot === "function" ? globalThis.uPlot : null;
const darkQuery = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// Taller charts on a tall screen, never cramped on a phone.
function chartHeight() {
  return Math.round(Math.min(260, Math.max(120, innerHeight * 0.2)));
}

function chartOptions(group, width) {
  const axis = cssVar("--muted");
  const grid = cssVar("--line");
  const palette = ["--c1", "--c2", "--c3", "--c4"].map(cssVar);
  const unit = group.unit ? ` (${group.unit})` : "";
  const fmt = (v) => (v == null ? "–" : formatValue(v, group.unit, nf));
  return {
    width,
    height: chartHeight(),
    ms: 1, // the wire format's times are Unix ms
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    series: [
      { label: "Time" },
      ...group.names.map((n, i) => ({
        label: humanise(n) + unit,
        stroke: palette[i % palette.length],
        width: 2,
        points: { show: false },
        value: (u, v) => fmt(v),
      })),
    ],
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        // Wide enough for the longest label, such as "1,010.5".
        size: (u, vals) => 16 + 8 * Math.max(3, ...(vals || []).map((v) => String(v).length)),
        values: (u, vals) => vals.map((v) => nf.format(v)),
      },
    ],
  };
}

function chartData(s, group) {
  const i = rangeStart(s.hist.t, rangeMs);
  if (i === 0) return [s.hist.t, ...group.names.map((n) => s.hist.vals.get(n).v)];
  return [s.hist.t.slice(i), ...group.names.map((n) => s.hist.vals.get(n).v.slice(i))];
}

function rangeLabel() {
  const r = RANGES.find((x) => x.ms === rangeMs);
  return r ? r.label : `${Math.round(state.windowMs / 60000)} min`;
}

// updateRanges offers the spans the history holds; a click redraws every
// chart over the chosen one.
function updateRanges() {
  const bar = ui.ranges;
  if (!bar || !uPlot) return;
  const ranges = timeRanges(state.windowMs);
  if (!ranges.some((r) => r.ms === rangeMs)) rangeMs = 0;
  const key = `${ranges.map((r) => r.ms).join()} ${rangeMs}`;
  const hidden = state.sensors.size === 0;
  if (bar.hidden !== hidden) bar.hidden = hidden;
  if (key === ui.rangeKey) return;
  ui.rangeKey = key;
  bar.replaceChildren(
    ...ranges.map((r) => {
      const b = make("button", "range-button");
      b.type = "button";
      b.textContent = r.label;
      b.dataset.ms = String(r.ms);
      b.setAttribute("aria-pressed", String(r.ms === rangeMs));
      b.addEventListener("click", () => {
        rangeMs = r.ms;
        for (const c of ui.cards.values()) dropCharts(c);
        schedule();
      });
      return b;
    }),
  );
}

function dropCharts(c) {
  for (const ch of c.charts) ch.u.destroy();
  c.charts = [];
  c.chartBox.replaceChildren();
  c.chartKey = "";
}

// updateCharts builds a card's charts when its values (by unit) change and
// otherwise only hands uPlot the new data, once per history change.
function updateCharts(c, s) {
  if (!uPlot) return;
  const { groups, key } = chartGroups(s);
  if (key !== c.chartKey) {
    dropCharts(c);
    c.chartKey = key;
    const width = Math.max(200, c.chartBox.clientWidth || c.root.clientWidth - 32);
    for (const g of groups) {
      const el = make("figure", "chart", c.chartBox);
      const names = g.names.map(humanise).join(", ");
      el.setAttribute("aria-label", `Chart of ${names} over the last ${rangeLabel()}`);
      c.charts.push({ group: g, u: new uPlot(chartOptions(g, width), chartData(s, g), el) });
    }
    c.hist = s.hist;
    c.histSeq = s.histSeq;
    return;
  }
  // A new session (hello, history) brings new history objects whose
  // sequence numbers start over: compare both.
  if (c.hist === s.hist && c.histSeq === s.histSeq) return;
  c.hist = s.hist;
  c.histSeq = s.histSeq;
  for (const ch of c.charts) ch.u.setData(chartData(s, ch.group));
}

const resizer =
  uPlot && typeof ResizeObserver === "function"
    ? new ResizeObserver((entries) => {
        for (const e of entries) {
          const c = e.target.card;
          const width = Math.floor(e.contentRect.width);
          for (const ch of c.charts) if (width > 0 && ch.u.width !== width) ch.u.setSize({ width, height: chartHeight() });
        }
      })
    : null;

function makeCard(name) {
  const root = make("section", "card");
  const id = `sensor-${++cardSeq}`;
  root.setAttribute("aria-labelledby", id);
  const head = make("header", "", root);
  const h = make("h3", "", head);
  h.id = id;
  h.textContent = name;
  const badge = make("span", "badge", head);
  const values = make("dl", "values", root);
  const error = make("p", "error", root);
  error.hidden = true;
  const chartBox = make("div", "charts", root);
  const foot = make("p", "foot", root);
  const age = make("span", "age", foot);
  const csv = make("a", "csv", foot);
  csv.href = `api/history.csv?${fleetDevice ? `device=${encodeURIComponent(fleetDevice)}&` : ""}sensor=${encodeURIComponent(name)}`;
  csv.setAttribute("download", `${name}.csv`);
  csv.setAttribute("aria-label", `Download the history of ${name} as CSV`);
  csv.textContent = "CSV";
  const card = {
    root,
    badge: textIn(badge),
    values,
    rows: new Map(), // value name -> {row, text, trend, range}
    error,
    errorText: textIn(error),
    age: textIn(age),
    chartBox,
    charts: [], // {group, u}
    chartKey: "",
    hist: null, // the history object and sequence number the charts show
    histSeq: -1,
  };
  chartBox.card = card;
  if (resizer) resizer.observe(chartBox);
  return card;
}

function updateCard(c, v) {
  if (c.root.dataset.condition !== v.condition) c.root.dataset.condition = v.condition;
  setText(c.badge, v.label);
  setText(c.age, v.age);
  if (c.error.hidden !== !v.error) c.error.hidden = !v.error;
  setText(c.errorText, v.error);
  const seen = new Set();
  for (const x of v.values) {
    seen.add(x.key);
    let r = c.rows.get(x.key);
    if (!r) {
      const row = make("div", "row", c.values);
      make("dt", "", row).textContent = x.label;
      const dd = make("dd", "value", row);
      const text = document.createTextNode("");
      const trend = make("span", "trend", null);
      dd.append(text, trend);
      r = { row, text, trend, trendText: textIn(trend), range: textIn(make("dd", "range", row)) };
      c.rows.set(x.key, r);
    }
    setText(r.text, x.text);
    setText(r.trendText, x.trend);
    if (r.trend.title !== x.trendLabel) {
      r.trend.title = x.trendLabel;
      r.trend.setAttribute("aria-label", x.trendLabel);
    }
    setText(r.range, x.range);
  }
  for (const [key, r] of c.rows) {
    if (!seen.has(key)) {
      r.row.remove();
      c.rows.delete(key);
    }
  }
}

function render() {
  const now = Date.now();
  setText(ui.device, state.device || "sensorcast");
  setText(ui.version, state.version);
  const title = state.device ? `${state.device} · sensorcast` : "sensorcast";
  if (ui.title !== title) document.title = ui.title = title;

  for (const [name, c] of ui.cards) {
    if (!state.sensors.has(name)) {
      dropCharts(c);
      if (resizer) resizer.unobserve(c.chartBox);
      c.root.remove();
      ui.cards.delete(name);
    }
  }
  let prev = null;
  for (const s of state.sensors.values()) {
    let c = ui.cards.get(s.name);
    if (!c) ui.cards.set(s.name, (c = makeCard(s.name)));
    const want = prev ? prev.nextSibling : ui.list.firstChild;
    if (c.root !== want) ui.list.insertBefore(c.root, want);
    prev = c.root;
    updateCard(c, view(state, s, now, nf));
    updateCharts(c, s);
  }
  renderAlerts(alerts, byId("alerts"), ui.cards, nf, document);
  const empty = state.sensors.size > 0;
  if (ui.empty.hidden !== empty) ui.empty.hidden = empty;
  updateRanges();

  if (ui.conn.dataset.phase !== conn.phase) ui.conn.dataset.phase = conn.phase;
  // Only the phase is in the live region; the countdown beside it changes
  // every second and would otherwise be announced every second.
  setText(ui.connState, { connecting: "Connecting…", live: "Live", waiting: "Disconnected, reconnecting" }[conn.phase]);
  setText(ui.connEta, conn.phase === "waiting" ? ` in ${Math.max(1, Math.ceil((conn.retryAt - now) / 1000))} s` : "");
}

let queued = false;
function schedule() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    render();
  });
}

let socket = null;
let timer = 0;
let failed = 0; // connection attempts in a row that closed before they opened

function connect() {
  clearTimeout(timer);
  timer = 0;
  conn.phase = "connecting";
  schedule();
  const url = new URL(wsPath, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    // Offer gzip for the history message when this browser can inflate it.
    ws = new WebSocket(url, offer(failed));
  } catch {
    retry();
    return;
  }
  ws.binaryType = "arraybuffer";
  socket = ws;
  const inbox = new Inbox({
    gzip: () => ws.protocol === GZIP_PROTOCOL,
    deliver: (msg) => {
      conn.protocol = ws.protocol;
      received(msg);
    },
  });
  let opened = false;
  ws.onopen = () => {
    opened = true;
    failed = 0;
  };
  ws.onmessage = (e) => inbox.push(e.data);
  ws.onclose = () => {
    inbox.close();
    if (!opened) failed++;
    if (socket !== ws) return;
    socket = null;
    retry();
  };
}

// received applies one message of the current connection, in arrival order.
function received(msg) {
  const alerted = applyAlert(alerts, msg);
  const kind = apply(state, msg, Date.now());
  if (kind === "hello") {
    // Count the connection as good only once the server has spoken, so a
    // server that accepts and drops at once still gets backed off from.
    backoff.reset();
    conn.phase = "live";
  }
  if (kind || alerted) schedule();
}

function retry() {
  const delay = backoff.next();
  conn.phase = "waiting";
  conn.retryAt = Date.now() + delay;
  timer = setTimeout(connect, delay);
  schedule();
}

// Back online after a network loss: no need to wait out the backoff.
addEventListener("online", () => {
  if (timer) connect();
});
// A new colour scheme: rebuild the charts with the new colours.
if (darkQuery && uPlot) {
  darkQuery.addEventListener("change", () => {
    for (const c of ui.cards.values()) dropCharts(c);
    schedule();
  });
}
// For scripts and tests in the browser: the live state and the cards, with
// their uPlot instances. Read only.
globalThis.sensorcast = { state, alerts, cards: ui.cards, charts: Boolean(uPlot), conn, range: () => rangeMs };
if (!overview) {
  if (fleetDevice) {
    const back = document.createElement("a");
    back.href = "#";
    back.className = "back";
    back.textContent = "← All devices";
    document.querySelector("header.top").prepend(back);
  }
  setInterval(schedule, 1000); // ages, staleness and the countdown move with time
  connect();
}
