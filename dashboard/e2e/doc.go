// Package e2e holds the dashboard's browser tests: they build and start the
// real sensorcast binary, drive Debian's chromium headless through chromedp
// and check what a person sees — values that update, charts full of the
// device's history, recovery after a server restart, the API agreeing with the
// page — and write screenshots (light and dark, desktop and phone) to
// artifacts/.
//
// It is a module of its own so that chromedp never enters the main module's
// go.mod. Without chromium the tests skip, except under CI=true, where they
// fail.
package e2e
