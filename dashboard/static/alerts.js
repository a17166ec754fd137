// alerts.js: the alert messages of the stream (the README's wire format): a
// banner above the cards while a rule fires, and a badge on the card of
// the sensor it watches. The state is rebuilt by every connection's
// snapshot, which resends the latest alert of each rule.

const str = (v) => (typeof v === "string" ? v : "");

// newAlerts returns an empty alert state: rule name -> alert.
export function newAlerts() {
  return new Map();
}

// applyAlert applies one message and reports whether the alerts changed: a
// hello clears them (its snapshot resends them), an alert records its
// rule's state. Malformed alerts and other messages are ignored.
export function applyAlert(alerts, msg) {
  if (!msg || typeof msg !== "object") return false;
  if (msg.type === "hello") {
    const had = alerts.size > 0;
    alerts.clear();
    return had;
  }
  if (msg.type !== "alert" || !str(msg.rule)) return false;
  const since = Date.parse(str(msg.since));
  alerts.set(msg.rule, {
    rule: msg.rule,
    sensor: str(msg.sensor),
    firing: msg.state === "firing",
    when: str(msg.when),
    value: str(msg.value),
    v: Number.isFinite(msg.v) ? msg.v : null,
    unit: str(msg.unit),
    since: Number.isFinite(since) ? since : 0,
  });
  return true;
}

// firing returns the firing alerts, oldest first.
export function firing(alerts) {
  return [...alerts.values()].filter((a) => a.firing).sort((a, b) => a.since - b.since);
}

function clock(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
}

// alertLine is the banner's line for a: "frost: greenhouse.temperature < 2
// (1.5 °C) since 04:12".
export function alertLine(a, nf) {
  let s = `${a.rule}: ${a.when}`;
  if (a.v !== null) s += ` (${nf.format(a.v)}${a.unit ? " " + a.unit : ""})`;
  const at = clock(a.since);
  return at ? `${s} since ${at}` : s;
}

const badges = new WeakMap(); // card -> its alert badge element

// renderAlerts shows the firing alerts in banner (the #alerts element; null
// on a page without one) and as a badge on each card (name -> card, whose
// root's first child is its header). It changes the DOM only when what it
// shows changes.
export function renderAlerts(alerts, banner, cards, nf, doc) {
  const on = firing(alerts);
  if (banner) {
    const key = on.map((a) => alertLine(a, nf)).join("\n");
    if (banner.dataset.key !== key) {
      banner.dataset.key = key;
      const lines = on.map((a) => {
        const p = doc.createElement("p");
        p.className = "alert";
        p.textContent = alertLine(a, nf);
        return p;
      });
      banner.replaceChildren(...lines);
      banner.hidden = on.length === 0;
    }
  }
  const bySensor = new Map();
  for (const a of on) bySensor.set(a.sensor, [...(bySensor.get(a.sensor) || []), a.rule]);
  for (const [name, card] of cards) {
    const rules = bySensor.get(name);
    let b = badges.get(card);
    if (!rules) {
      if (b && !b.hidden) b.hidden = true;
      continue;
    }
    if (!b) {
      b = doc.createElement("span");
      b.className = "badge alert-badge";
      card.root.firstChild.append(b);
      badges.set(card, b);
    }
    const text = `Alert: ${rules.join(", ")}`;
    if (b.textContent !== text) b.textContent = text;
    if (b.hidden) b.hidden = false;
  }
}
