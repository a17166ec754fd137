package dashboard

import (
	"strings"
	"testing"
)

// pageBudget is the most the page may transfer, gzipped: every file it loads.
const pageBudget = 100 << 10

// TestPageWeight adds up what a browser that accepts gzip downloads for the
// page: every embedded file, since the page loads all of them (the
// reference test checks that each is referenced).
func TestPageWeight(t *testing.T) {
	h := Handler(nil)
	total := 0
	for _, p := range append([]string{"/"}, embedded(t)...) {
		res := get(t, h, "GET", p, "Accept-Encoding", "gzip")
		n := len(body(t, res))
		t.Logf("%-28s %6d bytes (%s)", p, n, res.Header.Get("Content-Encoding"))
		total += n
	}
	t.Logf("total %d bytes gzipped, budget %d", total, pageBudget)
	if total > pageBudget {
		t.Errorf("the page weighs %d bytes gzipped, over the %d budget", total, pageBudget)
	}
}

// The chart library is committed under static/vendor/ (TestVendoredUPlot
// checks it), so every build, go install included, has the charts; the page
// would still work without them.
func TestCharts(t *testing.T) {
	page := body(t, get(t, Handler(nil), "GET", "/"))
	if strings.Contains(page, chartsPlaceholder) {
		t.Fatal("the charts placeholder is left in the page")
	}
	has := HasCharts()
	if got := strings.Contains(page, `src="vendor/uPlot.iife.min.js"`); got != has {
		t.Errorf("page links uPlot: %v, but HasCharts = %v", got, has)
	}
	if !has {
		t.Fatal("the chart library is not embedded: static/vendor/ is missing uPlot's files")
	}
	if chartTags(false) != "" || !strings.Contains(chartTags(true), `<link rel="stylesheet" href="vendor/uPlot.min.css">`) {
		t.Errorf("chartTags = %q / %q", chartTags(false), chartTags(true))
	}
}
