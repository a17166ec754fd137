// Fixtures shared by the Node tests (not a test file itself).

/** A device time in ms: 2026-11-26T19:33:27Z. */
export const T0 = 1795721607000;
export const STEP = 1000;
/** The start of the hour that hourOfHistory covers, a multiple of STEP. */
export const START = Math.floor(T0 / STEP) * STEP - 3600 * STEP;

// The same hour of history in both wire forms: one time per point ("t"), and
// the compact form ("v":2, runs of points step_ms apart), with a gap of ten
// minutes in the middle, values missing here and there, and a value that
// appears late.
/** hourOfHistory returns the times and both forms of the message. */
export function hourOfHistory() {
  const runs = [[START, 1500], [START + 2100 * STEP, 1500]];
  const t = [];
  for (const [s, n] of runs) for (let i = 0; i < n; i++) t.push(s + i * STEP);
  const temperature = t.map((_, i) => (i % 97 === 0 ? null : 20 + (i % 50) / 10));
  const humidity = t.map((_, i) => (i < 2000 ? null : 40 + (i % 7)));
  const values = { temperature: { unit: "°C", v: temperature }, humidity: { unit: "%", v: humidity } };
  const head = { type: "history", device: "pi", window_ms: 3600000, step_ms: STEP };
  return {
    t,
    v1: { ...head, sensors: [{ sensor: "sim", t, values }] },
    v2: { ...head, v: 2, sensors: [{ sensor: "sim", runs, values }] },
  };
}

