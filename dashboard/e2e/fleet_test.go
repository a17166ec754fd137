package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/sensorcast/sensorcast/bridge/mosquittotest"
)

// nodeConfig is a node publishing to broker: host first, so that its values
// (MiB, seconds) are the ones the drill-down shows formatted, then sim.
func nodeConfig(name, broker string, host bool) string {
	s := fmt.Sprintf("device = %q\n", name)
	if host {
		s += "[[sensor]]\ndriver = \"host\"\ninterval = \"1s\"\n\n"
	}
	return s + fmt.Sprintf(`[[sensor]]
driver = "sim"
interval = "200ms"
seed = 7

[mqtt]
broker = %q
client_id = %q
discovery = false
reconnect_max = "1s"
`, broker, "e2e-"+name)
}

// tiles returns, per device on the overview, its status and its values as
// label → text.
const tilesJS = `Object.fromEntries([...document.querySelectorAll("#fleet a.tile")].map((a) => [a.dataset.device, {
  status: a.dataset.status,
  href: a.getAttribute("href"),
  values: Object.fromEntries([...a.querySelectorAll(".values .row")].map((r) => [r.querySelector("dt").textContent, r.querySelector("dd").textContent])),
}]))`

type tile struct {
	Status, Href string
	Values       map[string]string
}

// cardsJS returns, per card of a node's page, its values as label → text
// (without the trend arrow) and its charts' aria labels.
const cardsJS = `Object.fromEntries([...document.querySelectorAll("#sensors .card")].map((c) => [c.querySelector("h3").textContent, {
  values: Object.fromEntries([...c.querySelectorAll(".values .row")].map((r) => [r.querySelector("dt").textContent, r.querySelector("dd.value").firstChild.data])),
  charts: [...c.querySelectorAll("figure.chart")].map((f) => f.getAttribute("aria-label")),
}]))`

type card struct {
	Values map[string]string
	Charts []string
}

var (
	celsius  = regexp.MustCompile(`^-?\d+(\.\d)?\x{a0}°C$`)
	hPa      = regexp.MustCompile(`^\d{1,3}(,\d{3})*(\.\d)?\x{a0}hPa$`)
	mebi     = regexp.MustCompile(`^\d+(\.\d{1,2})?\x{a0}(MiB|GiB|TiB)$`)
	duration = regexp.MustCompile(`^(\d+(\.\d)?\x{a0}s|\d+\x{a0}min|\d+\x{a0}h( \d+\x{a0}min)?|[\d,]+\x{a0}d( \d+\x{a0}h)?)$`)
)

// TestFleetDashboard (issue 17 points 4 and 9): two real nodes publish
// through a real Mosquitto to a real fleet; Chromium shows the overview (a
// tile per device, online, values formatted per unit, filter), the
// drill-down from a tile to that device's cards and charts (values such as
// MiB and uptime as people read them, the chart time ranges), and the deep
// link #device=… opened directly.
func TestFleetDashboard(t *testing.T) {
	need(t, chromium)
	mosquittotest.Require(t, mosquittotest.Mosquitto)
	b := mosquittotest.Start(t, nil)
	dir := t.TempDir()
	bin := build(t, dir)
	for _, n := range []struct {
		name string
		host bool
	}{{"north", true}, {"south", false}} {
		cfg := filepath.Join(dir, n.name+".toml")
		if err := os.WriteFile(cfg, []byte(nodeConfig(n.name, b.URL, n.host)), 0o600); err != nil {
			t.Fatal(err)
		}
		start(t, bin, "-config", cfg, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, n.name))
	}
	fleet := start(t, bin, "fleet", "-mqtt", b.URL, "-listen", "127.0.0.1:0", "-state", filepath.Join(dir, "fleet"))
	base := "http://" + fleet.addr

	ctx, consoleErrors := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}

	// The overview: a tile per device, online, with formatted values.
	waitJS(ctx, t, 20*time.Second, "two online tiles with values", `(() => {
  const t = [...document.querySelectorAll("#fleet a.tile")];
  return t.length === 2 && t.every((a) => a.dataset.status === "ok" && a.querySelectorAll(".values .row").length > 0);
})()`)
	tiles := eval[map[string]tile](ctx, t, tilesJS)
	south, ok := tiles["south"]
	if !ok || south.Href != "#device=south" {
		t.Fatalf("tiles: %+v", tiles)
	}
	if v := south.Values["Temperature"]; !celsius.MatchString(v) {
		t.Errorf("south's temperature on its tile: %q, want one decimal and °C", v)
	}
	if v := south.Values["Pressure"]; !hPa.MatchString(v) {
		t.Errorf("south's pressure on its tile: %q, want grouped digits, one decimal and hPa", v)
	}
	if got := eval[string](ctx, t, `document.title`); got != "Fleet · sensorcast" {
		t.Errorf("overview title %q", got)
	}
	// No range buttons on the overview: they belong to a device's charts.
	if eval[bool](ctx, t, `!document.getElementById("ranges").hidden`) {
		t.Error("the chart range buttons show on the overview")
	}

	// Filter: by name, then cleared.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[type="search"]`), "sou")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 5*time.Second, "filter leaves south only",
		`[...document.querySelectorAll("#fleet a.tile")].map((a) => a.dataset.device).join() === "south"`)
	eval[bool](ctx, t, `(() => {
  const i = document.querySelector('input[type="search"]');
  i.value = "";
  return i.dispatchEvent(new Event("input"));
})()`)
	waitJS(ctx, t, 5*time.Second, "both tiles back", `document.querySelectorAll("#fleet a.tile").length === 2`)

	// Screenshots of the overview for the README (artifacts/fleet-*.png,
	// copied to dashboard/ by hand when the page changes).
	shoot(ctx, t, "fleet")

	// Drill-down: a click on north's tile opens its cards and charts.
	// (The overview redraws its tiles every second, so the click is the
	// link's own, in the page, rather than on a node found beforehand.)
	eval[bool](ctx, t, `(() => { document.querySelector('#fleet a.tile[data-device="north"]').click(); return true; })()`)
	t.Cleanup(func() {
		if t.Failed() {
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({hash: location.hash, phase: globalThis.sensorcast && globalThis.sensorcast.conn.phase,
  cards: [...document.querySelectorAll("#sensors .card")].map((c) => c.textContent + " charts=" + c.querySelectorAll("figure.chart").length)})`))
			t.Logf("page: %s", v)
		}
	})
	waitJS(ctx, t, 30*time.Second, "north's cards with values and charts", `location.hash === "#device=north" &&
  globalThis.sensorcast && globalThis.sensorcast.conn.phase === "live" &&
  document.querySelectorAll("#sensors .card").length === 2 &&
  [...document.querySelectorAll("#sensors .card")].every((c) => c.querySelectorAll(".values .row").length > 0 && c.querySelector("figure.chart"))`)
	if got := eval[string](ctx, t, `document.getElementById("device").textContent`); got != "north" {
		t.Errorf("drill-down header %q, want north", got)
	}
	if !eval[bool](ctx, t, `globalThis.sensorcast.charts`) {
		t.Error("the fleet's page has no chart library")
	}
	cards := eval[map[string]card](ctx, t, cardsJS)
	host := cards["host"]
	if v, ok := host.Values["Mem available"]; !ok || !mebi.MatchString(v) {
		t.Errorf("north's memory available: %q, want MiB/GiB with at most two decimals (values %v)", v, host.Values)
	}
	if v, ok := host.Values["Uptime"]; !ok || !duration.MatchString(v) {
		t.Errorf("north's uptime: %q, want a duration (values %v)", v, host.Values)
	}
	if v := cards["sim"].Values["Temperature"]; !celsius.MatchString(v) {
		t.Errorf("north's temperature card: %q", v)
	}
	if eval[bool](ctx, t, `document.querySelector("a.back") === null`) {
		t.Error("no way back to the overview on a device's page")
	}

	// The time ranges the history holds (the fleet keeps an hour): 5 and
	// 15 minutes and all of it; a click redraws the charts over the span.
	ranges := eval[[]string](ctx, t, `document.getElementById("ranges").hidden ? [] :
  [...document.querySelectorAll("#ranges button")].map((b) => b.textContent + "=" + b.getAttribute("aria-pressed"))`)
	if strings.Join(ranges, " ") != "5 min=false 15 min=false All=true" {
		t.Errorf("range buttons %v, want 5 min, 15 min and All (pressed)", ranges)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`//div[@id="ranges"]/button[text()="15 min"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 5*time.Second, "charts over 15 min", `globalThis.sensorcast.range() === 900000 &&
  document.querySelector('#ranges button[aria-pressed="true"]').textContent === "15 min" &&
  [...document.querySelectorAll("#sensors figure.chart")].every((f) => f.getAttribute("aria-label").endsWith("over the last 15 min")) &&
  [...globalThis.sensorcast.cards.values()].every((c) => c.charts.length > 0 && c.charts.every((ch) => ch.u.data[0].length > 1))`)

	// Back to the overview by its link.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.back`))); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 10*time.Second, "back on the overview", `location.hash === "" || location.hash === "#" ? document.querySelectorAll("#fleet a.tile").length === 2 : false`)

	// The deep link, opened directly in a fresh page.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#device=south")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, 20*time.Second, "south's page from its deep link", `document.getElementById("device").textContent === "south" &&
  document.querySelectorAll("#sensors .card").length === 1 && document.querySelector("#fleet") === null &&
  document.querySelector("#sensors .card .values .row") !== null`)
	cards = eval[map[string]card](ctx, t, cardsJS)
	if _, ok := cards["host"]; ok || !celsius.MatchString(cards["sim"].Values["Temperature"]) {
		t.Errorf("south's page shows %+v", cards)
	}

	for _, e := range consoleErrors() {
		t.Errorf("browser: %s", e)
	}
}

// shoot writes screenshots of the page as it is to artifacts/NAME-SCHEME-VIEW.png,
// light and dark, desktop and phone (viewport only, so they stay small), and
// checks that nothing overflows sideways on the phone.
func shoot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"light", "dark"} {
		for _, vp := range []struct {
			name          string
			width, height int64
			mobile        bool
		}{{"desktop", 1024, 640, false}, {"phone", 390, 700, true}} {
			err := chromedp.Do(ctx,
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
					})
					return err
				}),
				chromedp.EmulateViewport(vp.width, vp.height, func(p *emulation.SetDeviceMetricsOverrideParams, s *emulation.SetTouchEmulationEnabledParams) {
					p.Mobile = vp.mobile
					p.DeviceScaleFactor = 1
				}),
				chromedp.Sleep(1200*time.Millisecond), // a render (once a second) at the new size
			)
			if err != nil {
				t.Fatal(err)
			}
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("artifacts", fmt.Sprintf("%s-%s-%s.png", name, scheme, vp.name)), png, 0o644); err != nil {
				t.Fatal(err)
			}
			if vp.mobile {
				if w := eval[float64](ctx, t, `document.documentElement.scrollWidth`); w > float64(vp.width) {
					t.Errorf("%s %s: the page is %v px wide, wider than the %d px screen", scheme, vp.name, w, vp.width)
				}
			}
		}
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}
