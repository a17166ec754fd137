// Tests of static/alerts.js. Run with: node --test testdata/ (from dashboard/),
// or through go test ./dashboard, which runs them too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newAlerts, applyAlert, firing, alertLine, renderAlerts } from "../static/alerts.js";

const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
const frost = {
  type: "alert", device: "gh", rule: "frost", sensor: "greenhouse", state: "firing",
  when: "greenhouse.temperature < 2", value: "temperature", v: 1.5, unit: "°C",
  since: "2026-11-26T04:12:09.120Z", time: "2026-11-26T04:12:09.120Z", ts: 1795666329120,
};
const down = { type: "alert", rule: "down", sensor: "pump", state: "firing", when: "pump failing", since: "2026-11-26T05:00:00Z" };

test("alert messages set each rule's state; a hello clears them", () => {
  const a = newAlerts();
  assert.equal(applyAlert(a, frost), true);
  assert.equal(applyAlert(a, down), true);
  assert.deepEqual(firing(a).map((x) => x.rule), ["frost", "down"]);
  assert.equal(applyAlert(a, { ...frost, state: "resolved", v: 3.2 }), true);
  assert.deepEqual(firing(a).map((x) => x.rule), ["down"]);
  assert.equal(a.get("frost").v, 3.2);
  assert.equal(applyAlert(a, { type: "reading", sensor: "x" }), false);
  assert.equal(applyAlert(a, { type: "hello", sensors: [] }), true);
  assert.equal(a.size, 0);
});

test("malformed alerts are ignored", () => {
  const a = newAlerts();
  for (const m of [null, 7, "alert", { type: "alert" }, { type: "alert", rule: 3 }, { type: "alert", rule: "" }]) {
    assert.equal(applyAlert(a, m), false);
  }
  applyAlert(a, { type: "alert", rule: "r", state: "firing", v: "1.5", since: "not a time" });
  const r = a.get("r");
  assert.equal(r.v, null);
  assert.equal(r.since, 0);
  assert.equal(r.sensor, "");
  assert.equal(alertLine(r, nf), "r: ");
});

test("the banner line names the rule, its condition and the value", () => {
  const a = newAlerts();
  applyAlert(a, frost);
  applyAlert(a, down);
  assert.match(alertLine(a.get("frost"), nf), /^frost: greenhouse\.temperature < 2 \(1\.5 °C\) since \d\d.\d\d/);
  assert.match(alertLine(a.get("down"), nf), /^down: pump failing since /);
});

// A minimal DOM: enough for renderAlerts.
class El {
  constructor(tag) {
    this.tag = tag;
    this.children = [];
    this.dataset = {};
    this.hidden = false;
    this.className = "";
    this._text = "";
  }
  append(...n) { this.children.push(...n); }
  replaceChildren(...n) { this.children = n; }
  get firstChild() { return this.children[0] ?? null; }
  get textContent() { return this._text || this.children.map((c) => c.textContent).join("\n"); }
  set textContent(s) { this._text = s; }
}
const doc = { createElement: (t) => { doc.created++; return new El(t); }, created: 0 };
function card() {
  const root = new El("section");
  root.append(new El("header"));
  return { root };
}

test("renderAlerts shows a banner and badges while rules fire, and hides them after", () => {
  const a = newAlerts();
  const banner = new El("div");
  banner.hidden = true;
  const cards = new Map([["greenhouse", card()], ["pump", card()], ["host", card()]]);
  const badge = (name) => cards.get(name).root.firstChild.children[0];
  renderAlerts(a, banner, cards, nf, doc);
  assert.equal(banner.hidden, true);
  assert.equal(doc.created, 0, "nothing built while no rule fires");

  applyAlert(a, frost);
  applyAlert(a, down);
  renderAlerts(a, banner, cards, nf, doc);
  assert.equal(banner.hidden, false);
  assert.equal(banner.children.length, 2);
  assert.match(banner.children[0].textContent, /^frost: /);
  assert.equal(badge("greenhouse").textContent, "Alert: frost");
  assert.equal(badge("greenhouse").hidden, false);
  assert.equal(badge("pump").textContent, "Alert: down");
  assert.equal(badge("host"), undefined);

  const built = doc.created;
  renderAlerts(a, banner, cards, nf, doc);
  assert.equal(doc.created, built, "an unchanged render builds nothing");

  applyAlert(a, { ...frost, state: "resolved" });
  renderAlerts(a, banner, cards, nf, doc);
  assert.equal(banner.children.length, 1);
  assert.equal(badge("greenhouse").hidden, true);
  applyAlert(a, { ...down, state: "resolved" });
  renderAlerts(a, banner, cards, nf, doc);
  assert.equal(banner.hidden, true);
  assert.equal(badge("pump").hidden, true);
  // No banner element (an older page): badges still work.
  applyAlert(a, frost);
  renderAlerts(a, null, cards, nf, doc);
  assert.equal(badge("greenhouse").hidden, false);
});
