// Tests of static/wire.js: the gzip subprotocol offer, decompression (the
// fixtures are gzipped with Node's zlib, as the server's would be) and the
// order in which a connection's messages reach the model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { subprotocols, offer, gunzipText, Inbox, GZIP_PROTOCOL } from "../static/wire.js";
import { newState, apply } from "../static/model.js";
import { hourOfHistory, T0 } from "./fixtures.mjs";

// gz returns the gzip of msg's JSON as an ArrayBuffer, what the page gets
// with binaryType "arraybuffer".
function gz(msg) {
  const b = gzipSync(Buffer.from(typeof msg === "string" ? msg : JSON.stringify(msg)));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

// deferred returns a promise and the functions that settle it.
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

// until waits, a bounded number of turns of the event loop, for cond.
async function until(cond, what) {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), what);
}

const hello = { type: "hello", device: "pi", version: "v1", sensors: [{ sensor: "sim", interval_ms: 1000, max_gap_ms: 1000 }] };
const reading = (ts, v) => ({ type: "reading", device: "pi", sensor: "sim", ts, values: { temperature: { v, unit: "°C" } } });

test("the gzip subprotocol is offered only where DecompressionStream exists", () => {
  assert.equal(GZIP_PROTOCOL, "sensorcast.gzip");
  assert.deepEqual(subprotocols({ DecompressionStream: class {} }), ["sensorcast.gzip"]);
  assert.deepEqual(subprotocols({}), []);
  assert.deepEqual(subprotocols(), ["sensorcast.gzip"], "Node has DecompressionStream");
});

test("after failed attempts, every third one offers no subprotocol, for servers that refuse it", () => {
  const g = { DecompressionStream: class {} };
  const offers = Array.from({ length: 7 }, (_, failed) => offer(failed, g).join(","));
  assert.deepEqual(offers, ["sensorcast.gzip", "sensorcast.gzip", "", "sensorcast.gzip", "sensorcast.gzip", "", "sensorcast.gzip"]);
  assert.deepEqual(offer(0, {}), [], "never without DecompressionStream");
});

test("gunzipText inflates what zlib deflated, and rejects what is not gzip", async () => {
  const { v2 } = hourOfHistory();
  const text = JSON.stringify(v2);
  const data = gz(text);
  assert.ok(data.byteLength < text.length / 3, `${data.byteLength} bytes gzipped of ${text.length}`);
  assert.equal(await gunzipText(data), text);
  assert.equal(await gunzipText(new Uint8Array(data)), text);
  await assert.rejects(gunzipText(new TextEncoder().encode("not gzip at all").buffer));
  await assert.rejects(gunzipText(data.slice(0, data.byteLength >> 1)), "a truncated stream");
});

test("messages that arrive while the history inflates are applied after it, in order", async () => {
  const got = [];
  const inflating = deferred();
  const inbox = new Inbox({ gzip: () => true, gunzip: () => inflating.promise, deliver: (m) => got.push(m.type + (m.ts ? `@${m.ts}` : "")) });
  inbox.push(JSON.stringify(hello));
  inbox.push(new ArrayBuffer(8)); // the history
  inbox.push(JSON.stringify(reading(T0, 1)));
  inbox.push(JSON.stringify({ type: "status", sensor: "sim", ok: true }));
  inbox.push(JSON.stringify(reading(T0 + 1000, 2)));
  assert.deepEqual(got, ["hello"], "nothing overtakes the history");
  inflating.resolve(JSON.stringify({ type: "history", sensors: [] }));
  await until(() => got.length === 5, "the rest is delivered");
  assert.deepEqual(got, ["hello", "history", `reading@${T0}`, "status", `reading@${T0 + 1000}`]);
  // Later messages go straight through again.
  inbox.push(JSON.stringify(reading(T0 + 2000, 3)));
  assert.equal(got.at(-1), `reading@${T0 + 2000}`);
});

test("a history that cannot be inflated is logged and skipped; the session goes on", async () => {
  for (const bad of [new TextEncoder().encode("garbage").buffer, gz("{not json")]) {
    const got = [];
    const errors = [];
    const inbox = new Inbox({ gzip: () => true, deliver: (m) => got.push(m.type), log: { error: (...a) => errors.push(a) } });
    inbox.push(JSON.stringify(hello));
    inbox.push(bad);
    inbox.push(JSON.stringify(reading(T0, 1)));
    await until(() => got.length === 2, "the reading after the bad history is delivered");
    assert.deepEqual(got, ["hello", "reading"]);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][0]), /compressed message could not be read/);
  }
});

test("binary messages without the gzip agreement are ignored; nothing is delivered after close", async () => {
  const got = [];
  const inbox = new Inbox({ gzip: () => false, gunzip: () => assert.fail("not agreed: no gunzip"), deliver: (m) => got.push(m.type) });
  inbox.push(gz({ type: "history", sensors: [] }));
  inbox.push("not json");
  inbox.push(JSON.stringify(hello));
  assert.deepEqual(got, ["hello"]);

  const got2 = [];
  const inflating = deferred();
  const errors = [];
  const closing = new Inbox({ gzip: () => true, gunzip: () => inflating.promise, deliver: (m) => got2.push(m.type), log: { error: (...a) => errors.push(a) } });
  closing.push(new ArrayBuffer(1));
  closing.push(JSON.stringify(reading(T0, 1)));
  closing.close();
  inflating.resolve(JSON.stringify({ type: "history", sensors: [] }));
  closing.push(JSON.stringify(hello));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got2, []);
  assert.deepEqual(errors, []);
});

test("a gzipped compact history reaches the model before the readings sent after it", async () => {
  const { t, v2 } = hourOfHistory();
  const st = newState();
  const inbox = new Inbox({ gzip: () => true, deliver: (m) => apply(st, m, T0) });
  inbox.push(JSON.stringify(hello));
  inbox.push(gz(v2));
  // The snapshot's latest reading (the newest point's), then a live one.
  inbox.push(JSON.stringify(reading(t.at(-1) + 300, v2.sensors[0].values.temperature.v.at(-1))));
  inbox.push(JSON.stringify(reading(t.at(-1) + 1000, 99)));
  const h = () => st.sensors.get("sim").hist;
  assert.equal(h().t.length, 0);
  await until(() => h().t.length > 0, "the history arrives");
  assert.equal(h().t.length, 3001, "the hour, then one live point");
  assert.deepEqual(h().t.slice(0, 3000), t);
  assert.equal(h().t[3000], t.at(-1) + 1000);
  assert.equal(h().vals.get("temperature").v[3000], 99);
  assert.equal(st.sensors.get("sim").readings, 2);
});
