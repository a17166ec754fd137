// Run by TestDeployConfigNeverStale (stale_test.go) with a JSON file of the
// sensors of deploy/rpi/sensorcast.toml: [{sensor, interval_ms, max_gap_ms,
// heartbeat_ms, delta_without_heartbeat}]. For each sensor it plays the
// rarest legitimate publishing through model.js, with network delays and a
// browser clock that differs from the device's, and checks that the sensor is
// never shown stale while it keeps to that pace, and is shown stale once it
// stops (unless its gap has no bound). Exits 1 with the reasons otherwise.
import { readFileSync } from "node:fs";
import { newState, apply, condition } from "../static/model.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const hello = {
  type: "hello", device: "pi", version: "test",
  sensors: cases.map((c) => ({ sensor: c.sensor, interval_ms: c.interval_ms, max_gap_ms: c.max_gap_ms })),
};
const LATENCIES = [40, 400, 120, 20, 250]; // ms from the device to the page, over Wi-Fi
const WEEK = 7 * 86400e3;
const problems = [];
let checks = 0;

function expect(st, c, now, want, what) {
  checks++;
  const got = condition(st, st.sensors.get(c.sensor), now);
  if (got !== want) problems.push(`${c.sensor} (interval ${c.interval_ms} ms, max_gap ${c.max_gap_ms} ms): ${what}: ${got}, want ${want}`);
}

const reading = (c, ts) => ({ type: "reading", device: "pi", sensor: c.sensor, ts, values: { x: { v: 1, unit: "" } } });

for (const c of cases) {
  // The gaps a healthy sensor may leave between two readings: its interval;
  // with a heartbeat, exactly the heartbeat, and the heartbeat rounded up to
  // the next read (at most heartbeat + interval); without a heartbeat, any.
  let gaps = [c.interval_ms];
  if (c.delta_without_heartbeat) gaps = [c.interval_ms, WEEK];
  else if (c.heartbeat_ms > 0) gaps = [c.heartbeat_ms, Math.ceil(c.heartbeat_ms / c.interval_ms) * c.interval_ms, c.heartbeat_ms + c.interval_ms];
  // Browser clock minus device clock. Until a live reading shows the
  // difference, the page takes the clocks as equal (see ageOf), so a browser
  // far ahead would see the snapshot's reading as older than it is: only
  // small leads are played.
  for (const offset of [0, 250, -37_000]) {
    for (const gap of gaps) {
      const st = newState();
      const b0 = 1795721607120;
      apply(st, hello, b0);
      // Just started: waiting for the first read, within an interval.
      expect(st, c, b0 + c.interval_ms + Math.max(...LATENCIES), "waiting", "first reading due");
      // The snapshot's latest reading is almost a whole gap old.
      let ts = b0 - offset - gap + 1;
      apply(st, reading(c, ts), b0);
      let arrived = b0;
      for (let k = 0; k < 8; k++) {
        expect(st, c, arrived, "ok", `gap ${gap} ms, reading ${k} just in`);
        ts += gap;
        const next = ts + offset + LATENCIES[k % LATENCIES.length];
        expect(st, c, (arrived + next) / 2, "ok", `gap ${gap} ms, halfway to reading ${k + 1}`);
        expect(st, c, next - 1, "ok", `gap ${gap} ms, just before reading ${k + 1} arrives`);
        apply(st, reading(c, ts), next);
        arrived = next;
      }
      // It stops: stale once twice its longest gap (and the delay) has passed.
      if (c.max_gap_ms > 0) expect(st, c, ts + offset + 2 * c.max_gap_ms + 1000, "stale", "stopped");
      else expect(st, c, arrived + WEEK, "ok", "silent for a week, no bound");
    }
  }
}

if (problems.length > 0) {
  console.error(`${problems.length} of ${checks} checks failed:\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`${cases.length} sensors, ${checks} checks: no healthy sensor shown stale`);
