package dashboard

import (
	"os"
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

// The build puts the chart library in place (make assets); without it the
// page still works, without charts. In CI the library must be there.
func TestCharts(t *testing.T) {
	page := body(t, get(t, Handler(nil), "GET", "/"))
	if strings.Contains(page, chartsPlaceholder) {
		t.Fatal("the charts placeholder is left in the page")
	}
	has := HasCharts()
	if got := strings.Contains(page, `src="vendor/uPlot.iife.min.js"`); got != has {
		t.Errorf("page links uPlot: %v, but HasCharts = %v", got, has)
	}
	if !has && os.Getenv("CI") == "true" {
		t.Fatal("the chart library is not embedded: run make assets (make test does) before go test")
	}
	if chartTags(false) != "" || !strings.Contains(chartTags(true), `<link rel="stylesheet" href="vendor/uPlot.min.css">`) {
		t.Errorf("chartTags = %q / %q", chartTags(false), chartTags(true))
	}
}
