// A smoke test of static/app.js against a minimal fake DOM, fake WebSocket and
// fake clock: the page connects to the right URL, renders hello, readings and
// statuses, builds each card once, marks stale sensors, and reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";

let created = 0; // elements created by the page
let clock = 1795721607120;

class FakeNode {
  constructor() {
    this.parentNode = null;
    this.childNodes = [];
  }
  get firstChild() {
    return this.childNodes[0] ?? null;
  }
  get nextSibling() {
    const c = this.parentNode?.childNodes ?? [];
    return c[c.indexOf(this) + 1] ?? null;
  }
  insertBefore(n, ref) {
    n.remove();
    const i = ref ? this.childNodes.indexOf(ref) : this.childNodes.length;
    assert.ok(i >= 0, "insertBefore: reference is not a child");
    this.childNodes.splice(i, 0, n);
    n.parentNode = this;
    return n;
  }
  append(...nodes) {
    for (const n of nodes) this.insertBefore(n, null);
  }
  remove() {
    if (!this.parentNode) return;
    const c = this.parentNode.childNodes;
    c.splice(c.indexOf(this), 1);
    this.parentNode = null;
  }
  replaceChildren(...nodes) {
    for (const c of [...this.childNodes]) c.remove();
    this.append(...nodes);
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
  set textContent(s) {
    this.replaceChildren(new FakeText(s));
  }
}
class FakeText extends FakeNode {
  constructor(s) {
    super();
    this.data = s;
  }
  get textContent() {
    return this.data;
  }
}
class FakeElement extends FakeNode {
  constructor(tag, attrs = {}) {
    super();
    this.tagName = tag.toUpperCase();
    this.attributes = { ...attrs };
    this.dataset = {};
    this.hidden = false;
    this.className = "";
    this.id = attrs.id ?? "";
    this.content = attrs.content ?? "";
  }
  setAttribute(k, v) {
    this.attributes[k] = String(v);
  }
  // Only the card's visible text: hidden elements are skipped.
  get visibleText() {
    if (this.hidden) return "";
    return this.childNodes.map((c) => (c instanceof FakeElement ? c.visibleText : c.data)).filter(Boolean).join("|");
  }
}

const byId = new Map();
for (const id of ["device", "version", "conn", "conn-state", "conn-eta", "empty", "sensors"]) {
  byId.set(id, new FakeElement("div", { id }));
}
const meta = new FakeElement("meta", { content: "/live?v=1" });
const sockets = [];
class FakeWebSocket {
  constructor(url, protocols) {
    this.url = String(url);
    this.protocols = protocols;
    this.protocol = ""; // what the server agreed to
    this.binaryType = "blob";
    sockets.push(this);
  }
  send(msg) {
    this.sent = msg;
  }
  get(msg) {
    this.onmessage({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }
}
let frames = [];
let timers = [];
let timerSeq = 0;
function addTimer(fn, ms, every) {
  const id = ++timerSeq;
  timers.push({ id, fn, at: clock + ms, every });
  return id;
}
function advance(ms) {
  const end = clock + ms;
  for (;;) {
    const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
    if (!due) break;
    clock = Math.max(clock, due.at);
    if (due.every) due.at += due.every;
    else timers = timers.filter((t) => t !== due);
    due.fn();
  }
  clock = end;
}
function flush() {
  const fs = frames;
  frames = [];
  for (const f of fs) f();
}

const saved = {};
const fakes = {
  document: {
    title: "",
    getElementById: (id) => byId.get(id) ?? null,
    querySelector: (sel) => (sel === 'meta[name="sensorcast-ws"]' ? meta : null),
    createElement: (tag) => (created++, new FakeElement(tag)),
    createTextNode: (s) => new FakeText(s),
  },
  location: { href: "https://pi.local:8443/dash/", protocol: "https:" },
  WebSocket: FakeWebSocket,
  requestAnimationFrame: (f) => frames.push(f),
  setTimeout: (f, ms) => addTimer(f, ms, 0),
  clearTimeout: (id) => (timers = timers.filter((t) => t.id !== id)),
  setInterval: (f, ms) => addTimer(f, ms, ms),
  addEventListener: () => {},
};

test("app.js renders the stream and reconnects", async (t) => {
  for (const [k, v] of Object.entries(fakes)) {
    saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  const realNow = Date.now;
  Date.now = () => clock;
  t.after(() => {
    Date.now = realNow;
    for (const [k, d] of Object.entries(saved)) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  });

  await import("../static/app.js");
  const text = (id) => byId.get(id).textContent;
  const list = byId.get("sensors");
  const cards = () => list.childNodes.map((c) => c.visibleText);

  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, "wss://pi.local:8443/live?v=1");
  assert.deepEqual(sockets[0].protocols, ["sensorcast.gzip"], "gzip offered: Node has DecompressionStream");
  assert.equal(sockets[0].binaryType, "arraybuffer");
  flush();
  assert.equal(text("conn-state"), "Connecting…");

  const ws = sockets[0];
  ws.onopen();
  ws.get({ type: "hello", device: "pi", version: "v0.1.0", sensors: [{ sensor: "sim", interval_ms: 1000 }, { sensor: "host", interval_ms: 5000 }] });
  ws.get({ type: "reading", device: "pi", sensor: "sim", ts: clock - 500, values: { temperature: { v: 21.375, unit: "°C" }, humidity: { v: 45.2, unit: "%" } } });
  ws.get({ type: "reading", device: "pi", sensor: "host", ts: clock - 2000, values: { cpu_temp: { v: 48.3, unit: "°C" }, load1: { v: 0.25, unit: "" } } });
  ws.get({ type: "status", device: "pi", sensor: "host", ok: false, error: "read: i/o timeout", failures: 3 });
  ws.get("not json");
  ws.onmessage({ data: new ArrayBuffer(4) });
  ws.get({ type: "future", x: 1 });
  flush();

  assert.equal(text("device"), "pi");
  assert.equal(text("version"), "v0.1.0");
  assert.equal(globalThis.document.title, "pi · sensorcast");
  assert.equal(text("conn-state"), "Live");
  assert.equal(globalThis.sensorcast.conn.protocol, "", "this server did not agree to gzip");
  assert.equal(byId.get("conn").dataset.phase, "live");
  assert.equal(byId.get("empty").hidden, true);
  const nbsp = "\u00a0";
  assert.match(cards()[0], new RegExp(`^sim\\|OK\\|Temperature\\|21\\.4${nbsp}°C\\|→\\|min 21\\.4${nbsp}°C · max 21\\.4${nbsp}°C\\|Humidity\\|45\\.2${nbsp}%\\|→\\|min 45\\.2${nbsp}% · max 45\\.2${nbsp}%\\|updated just now\\|CSV$`));
  assert.match(cards()[1], new RegExp(`^host\\|Failing\\|CPU temp\\|48\\.3${nbsp}°C\\|→\\|min 48\\.3${nbsp}°C · max 48\\.3${nbsp}°C\\|Load 1\\|0\\.25\\|→\\|min 0\\.25 · max 0\\.25\\|read: i/o timeout \\(3 failures in a row\\)\\|updated 2 s ago\\|CSV$`));
  const csv = list.childNodes[0].childNodes.find((n) => n.className === "foot").childNodes[1];
  assert.equal(csv.href, "api/history.csv?sensor=sim");
  assert.equal(list.childNodes[1].dataset.condition, "failing");
  const sim = list.childNodes[0];
  assert.equal(sim.tagName, "SECTION");
  assert.equal(sim.attributes["aria-labelledby"], sim.childNodes[0].childNodes[0].id);

  // New readings and the passing of time only rewrite text.
  const before = created;
  advance(1000);
  ws.get({ type: "reading", device: "pi", sensor: "sim", ts: clock, values: { temperature: { v: 21.5, unit: "°C" }, humidity: { v: 45.1, unit: "%" } } });
  ws.get({ type: "status", device: "pi", sensor: "host", ok: true, error: "", failures: 0 });
  flush();
  assert.equal(created, before, "no element created for updates");
  assert.equal(list.childNodes[0], sim, "the card is the same element");
  assert.match(cards()[0], /\|21\.5\u00a0°C\|↗\|min 21\.4\u00a0°C · max 21\.5\u00a0°C\|/);
  assert.match(cards()[1], /^host\|OK\|.*\|updated 3 s ago\|CSV$/);

  // Silence: sim goes stale after 3 s, host after 15 s.
  advance(4000);
  flush();
  assert.equal(sim.dataset.condition, "stale");
  assert.match(cards()[0], /^sim\|Stale\|.*\|updated 4 s ago\|CSV$/);
  assert.equal(list.childNodes[1].dataset.condition, "ok");

  // The connection drops: a countdown, then a new socket and a resync.
  ws.onclose();
  flush();
  assert.equal(text("conn-state"), "Disconnected, reconnecting");
  assert.equal(text("conn-eta"), " in 1 s");
  assert.equal(byId.get("conn").dataset.phase, "waiting");
  advance(600);
  assert.equal(sockets.length, 2);
  flush();
  assert.equal(text("conn-state"), "Connecting…");
  assert.equal(text("conn-eta"), "");
  sockets[1].onopen();
  sockets[1].get({ type: "hello", device: "pi", version: "v0.1.1", sensors: [{ sensor: "host", interval_ms: 5000 }, { sensor: "bme280", interval_ms: 2000 }] });
  flush();
  assert.deepEqual(list.childNodes.map((c) => c.childNodes[0].childNodes[0].textContent), ["host", "bme280"]);
  assert.equal(sim.parentNode, null, "a sensor gone from hello loses its card");
  assert.match(cards()[0], /^host\|Waiting\|no reading yet\|CSV$/);
  assert.equal(text("version"), "v0.1.1");

  // This server agreed to gzip: the history comes compressed and compact,
  // and the reading sent after it waits for it.
  const ws2 = sockets[1];
  ws2.protocol = "sensorcast.gzip";
  const step = 2000;
  const start = Math.floor(clock / step) * step - 5 * step; // the newest point a step before the reading
  const history = { type: "history", v: 2, device: "pi", window_ms: 3600000, step_ms: step, sensors: [
    { sensor: "bme280", runs: [[start, 2], [start + 3 * step, 2]], values: { temperature: { unit: "°C", v: [18.5, 19, null, 19.5] } } },
  ] };
  const gz = gzipSync(JSON.stringify(history));
  ws2.onmessage({ data: gz.buffer.slice(gz.byteOffset, gz.byteOffset + gz.byteLength) });
  ws2.get({ type: "reading", device: "pi", sensor: "bme280", ts: clock, values: { temperature: { v: 20, unit: "°C" } } });
  flush();
  assert.match(cards()[1], /^bme280\|Waiting\|no reading yet\|CSV$/, "the reading waits for the history");
  for (let i = 0; i < 1000 && !/Temperature/.test(cards()[1]); i++) {
    await new Promise((r) => setImmediate(r));
    flush();
  }
  assert.match(cards()[1], /^bme280\|OK\|Temperature\|20\u00a0°C\|↗\|min 18\.5\u00a0°C · max 20\u00a0°C\|updated just now\|CSV$/);
  assert.equal(globalThis.sensorcast.conn.protocol, "sensorcast.gzip");
  assert.equal(globalThis.sensorcast.state.historyForm, "runs");
  assert.deepEqual(globalThis.sensorcast.state.sensors.get("bme280").hist.t, [start, start + step, start + 3 * step, start + 4 * step, clock]);

  // A close after hello backs off from the start again, not from where it was.
  sockets[1].onclose();
  advance(0);
  const retry = timers.find((t) => !t.every);
  assert.ok(retry.at - clock <= 500, `retry in ${retry.at - clock} ms after a successful session`);

  // A server that fails the handshake over the subprotocol (as browsers do
  // when the answer chooses none): the third attempt in a row offers none.
  const offered = () => sockets.at(-1).protocols.join(",");
  const fail = () => {
    sockets.at(-1).onclose();
    advance(60000);
  };
  advance(1000);
  assert.equal(sockets.length, 3);
  assert.equal(offered(), "sensorcast.gzip");
  fail();
  assert.equal(offered(), "sensorcast.gzip");
  fail();
  assert.equal(offered(), "", "the third attempt in a row");
  sockets.at(-1).onopen();
  sockets.at(-1).get({ type: "hello", device: "pi", version: "v0.1.1", sensors: [] });
  flush();
  assert.equal(text("conn-state"), "Live");
  assert.equal(globalThis.sensorcast.conn.protocol, "");
  sockets.at(-1).onclose();
  advance(1000);
  assert.equal(offered(), "sensorcast.gzip", "after a session, gzip is offered again");
});
