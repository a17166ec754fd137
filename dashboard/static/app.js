// app.js: connects to the device's WebSocket, feeds messages to model.js and
// renders the state. Each card's DOM is built once per sensor; later renders
// only rewrite text nodes and attributes whose content changed.
import { newState, apply, view, Backoff } from "./model.js";

const meta = document.querySelector('meta[name="sensorcast-ws"]');
const wsPath = meta && meta.content.startsWith("/") ? meta.content : "/ws";
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

const state = newState();
const backoff = new Backoff();
const conn = { phase: "connecting", retryAt: 0 };

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
};
let cardSeq = 0;

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
  const age = make("p", "age", root);
  return {
    root,
    badge: textIn(badge),
    values,
    rows: new Map(), // value name -> {row, text}
    error,
    errorText: textIn(error),
    age: textIn(age),
  };
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
      r = { row, text: textIn(make("dd", "", row)) };
      c.rows.set(x.key, r);
    }
    setText(r.text, x.text);
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
  }
  const empty = state.sensors.size > 0;
  if (ui.empty.hidden !== empty) ui.empty.hidden = empty;

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

function connect() {
  clearTimeout(timer);
  timer = 0;
  conn.phase = "connecting";
  schedule();
  const url = new URL(wsPath, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    retry();
    return;
  }
  socket = ws;
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    const kind = apply(state, msg, Date.now());
    if (kind === "hello") {
      // Count the connection as good only once the server has spoken, so a
      // server that accepts and drops at once still gets backed off from.
      backoff.reset();
      conn.phase = "live";
    }
    if (kind) schedule();
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    retry();
  };
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
setInterval(schedule, 1000); // ages, staleness and the countdown move with time
connect();
