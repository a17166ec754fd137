// Interop client for wsecho on Node's ws package (pinned in package.json).
// Usage: node client.mjs URL REASON. Echoes text and binary messages of
// each size, pings, then closes with 1000 and REASON and checks the
// server's close. Exits non-zero on any mismatch.
import WebSocket from 'ws';

const [url, reason] = process.argv.slice(2);
const sizes = [0, 125, 126, 65535, 65536, 1 << 20];
const text = (n) => '0123456789abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(n / 36) + 1).slice(0, n);
const binary = (n) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

const fail = (why) => {
  console.error(why);
  process.exit(1);
};
setTimeout(() => fail('timed out'), 60000).unref();

const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
const queue = [];
let waiting = null;
const next = () => new Promise((resolve) => {
  if (queue.length) resolve(queue.shift());
  else waiting = resolve;
});
const push = (ev) => {
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(ev);
  } else queue.push(ev);
};
ws.on('message', (data, isBinary) => push({ kind: 'message', data, isBinary }));
ws.on('pong', (data) => push({ kind: 'pong', data }));
ws.on('close', (code, why) => push({ kind: 'close', code, reason: why.toString() }));
ws.on('error', (err) => fail(`error: ${err.message}`));

ws.on('open', async () => {
  for (const n of sizes) {
    const t = text(n);
    ws.send(t);
    let ev = await next();
    if (ev.kind !== 'message' || ev.isBinary || ev.data.toString() !== t) fail(`text echo of ${n} differs`);
    const b = binary(n);
    ws.send(b);
    ev = await next();
    if (ev.kind !== 'message' || !ev.isBinary || !Buffer.from(ev.data).equals(b)) fail(`binary echo of ${n} differs`);
  }
  ws.ping('node-ping');
  let ev = await next();
  if (ev.kind !== 'pong' || ev.data.toString() !== 'node-ping') fail(`pong: ${JSON.stringify(ev)}`);
  ws.close(1000, reason);
  ev = await next();
  if (ev.kind !== 'close' || ev.code !== 1000 || ev.reason !== reason) fail(`close: ${ev.code} ${ev.reason}`);
  console.log('ok');
});
