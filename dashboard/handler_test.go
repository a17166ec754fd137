package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// get serves one request through h and returns the recorded response.
func get(t *testing.T, h http.Handler, method, target string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// embedded returns the URL path of every embedded file except index.html.
func embedded(t *testing.T) []string {
	t.Helper()
	var paths []string
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && name != "static/index.html" {
			paths = append(paths, strings.TrimPrefix(name, "static"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestContentTypes(t *testing.T) {
	h := Handler(nil)
	for target, want := range map[string]string{
		"/":            "text/html; charset=utf-8",
		"/index.html":  "text/html; charset=utf-8",
		"/app.js":      "text/javascript; charset=utf-8",
		"/model.js":    "text/javascript; charset=utf-8",
		"/style.css":   "text/css; charset=utf-8",
		"/favicon.svg": "image/svg+xml",
	} {
		res := get(t, h, "GET", target)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", target, res.StatusCode)
		}
		if got := res.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, want)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", target, got)
		}
	}
	// Every embedded file is served, with a type from our table.
	for _, p := range embedded(t) {
		res := get(t, h, "GET", p)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") == "" {
			t.Errorf("GET %s: status %d, Content-Type %q", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
		want, _ := static.ReadFile("static" + p)
		if got := body(t, res); got != string(want) {
			t.Errorf("GET %s: body differs from the embedded file", p)
		}
	}
}

func TestETag(t *testing.T) {
	h := Handler(nil)
	for _, p := range append([]string{"/"}, embedded(t)...) {
		res := get(t, h, "GET", p)
		etag := res.Header.Get("ETag")
		if !regexp.MustCompile(`^"[A-Za-z0-9_-]{16}"$`).MatchString(etag) {
			t.Fatalf("GET %s: ETag %q is not a strong quoted tag", p, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			res := get(t, h, "GET", p, "If-None-Match", inm)
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s If-None-Match %s: status %d, want 304", p, inm, res.StatusCode)
			}
			if b := body(t, res); b != "" {
				t.Errorf("GET %s If-None-Match %s: 304 with a body of %d bytes", p, inm, len(b))
			}
			if res.Header.Get("ETag") != etag || res.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("GET %s If-None-Match %s: 304 without ETag or Cache-Control: %v", p, inm, res.Header)
			}
		}
		for _, inm := range []string{`"other"`, strings.Trim(etag, `"`), `"` + strings.ToUpper(strings.Trim(etag, `"`)) + `x"`} {
			if res := get(t, h, "GET", p, "If-None-Match", inm); res.StatusCode != http.StatusOK {
				t.Errorf("GET %s If-None-Match %s: status %d, want 200", p, inm, res.StatusCode)
			}
		}
	}

	// The page's tag covers the substituted path, so a new path is a new tag.
	a := get(t, Handler(nil), "GET", "/").Header.Get("ETag")
	b := get(t, Handler(&Options{WSPath: "/live"}), "GET", "/").Header.Get("ETag")
	if a == b {
		t.Errorf("pages with different WebSocket paths share ETag %s", a)
	}
}

func TestGzip(t *testing.T) {
	h := Handler(nil)
	for _, p := range []string{"/", "/app.js", "/model.js", "/style.css"} {
		plain := get(t, h, "GET", p)
		plainBody := body(t, plain)
		if plain.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", p, plain.Header.Get("Content-Encoding"))
		}
		if plain.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s: Vary %q, want Accept-Encoding", p, plain.Header.Get("Vary"))
		}

		res := get(t, h, "GET", p, "Accept-Encoding", "br, gzip, deflate")
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s with Accept-Encoding gzip: Content-Encoding %q", p, res.Header.Get("Content-Encoding"))
		}
		zipped := body(t, res)
		if len(zipped) >= len(plainBody) || res.Header.Get("Content-Length") != strconv.Itoa(len(zipped)) {
			t.Errorf("GET %s: gzip body %d bytes, plain %d, Content-Length %s", p, len(zipped), len(plainBody), res.Header.Get("Content-Length"))
		}
		zr, err := gzip.NewReader(strings.NewReader(zipped))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || string(unzipped) != plainBody {
			t.Errorf("GET %s: gzip body does not decompress to the plain body (err %v)", p, err)
		}
		if res.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("GET %s: gzip and plain bodies share ETag %s", p, res.Header.Get("ETag"))
		}
		// Either encoding's tag revalidates, whichever encoding is asked for now.
		for _, tag := range []string{res.Header.Get("ETag"), plain.Header.Get("ETag")} {
			for _, ae := range []string{"", "gzip"} {
				r := get(t, h, "GET", p, "If-None-Match", tag, "Accept-Encoding", ae)
				if r.StatusCode != http.StatusNotModified || r.Header.Get("Content-Encoding") != "" {
					t.Errorf("GET %s If-None-Match %s Accept-Encoding %q: status %d, Content-Encoding %q",
						p, tag, ae, r.StatusCode, r.Header.Get("Content-Encoding"))
				}
			}
		}
	}

	for ae, want := range map[string]bool{
		"gzip":                    true,
		"GZIP;q=0.5":              true,
		"x-gzip":                  true,
		"*":                       true,
		"identity, *;q=0.1":       true,
		"deflate, gzip;q=0":       false,
		"gzip;q=0, *":             false,
		"*;q=0":                   false,
		"br":                      false,
		"identity":                false,
		"gzip;q=abc":              false,
		"gzip ; q=1.0 , br;q=0.9": true,
	} {
		if got := get(t, h, "GET", "/", "Accept-Encoding", ae).Header.Get("Content-Encoding") == "gzip"; got != want {
			t.Errorf("Accept-Encoding %q: gzip %t, want %t", ae, got, want)
		}
	}
}

func TestHead(t *testing.T) {
	h := Handler(nil)
	g := get(t, h, "GET", "/style.css", "Accept-Encoding", "gzip")
	res := get(t, h, "HEAD", "/style.css", "Accept-Encoding", "gzip")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: status %d", res.StatusCode)
	}
	if b := body(t, res); b != "" {
		t.Errorf("HEAD: body of %d bytes", len(b))
	}
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Cache-Control"} {
		if res.Header.Get(k) != g.Header.Get(k) {
			t.Errorf("HEAD %s = %q, GET has %q", k, res.Header.Get(k), g.Header.Get(k))
		}
	}
}

func TestNotFound(t *testing.T) {
	h := Handler(nil)
	for _, p := range []string{"/nope", "/ws", "/static/app.js", "/app.js/", "/index.htm", "/../app.js", "/APP.JS"} {
		res := get(t, h, "GET", p)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
		}
		checkSecurityHeaders(t, "GET "+p, res)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := Handler(nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		for _, p := range []string{"/", "/app.js", "/nope"} {
			res := get(t, h, m, p)
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", m, p, res.StatusCode)
			}
			if got := res.Header.Get("Allow"); got != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, p, got)
			}
			checkSecurityHeaders(t, m+" "+p, res)
		}
	}
}

func checkSecurityHeaders(t *testing.T, what string, res *http.Response) {
	t.Helper()
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	csp := res.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self' ws: wss:",
		"object-src":      "'none'",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
	} {
		if directives[name] != want {
			t.Errorf("%s: CSP %s is %q, want %q (policy %q)", what, name, directives[name], want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("%s: CSP is not strict: %q", what, csp)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := Handler(nil)
	for _, p := range append([]string{"/"}, embedded(t)...) {
		checkSecurityHeaders(t, "GET "+p, get(t, h, "GET", p))
		etag := get(t, h, "GET", p).Header.Get("ETag")
		checkSecurityHeaders(t, "GET 304 "+p, get(t, h, "GET", p, "If-None-Match", etag))
	}
}

var wsMeta = regexp.MustCompile(`<meta name="sensorcast-ws" content="([^"]*)">`)

func TestWSPath(t *testing.T) {
	for _, tc := range []struct {
		opts *Options
		want string
	}{
		{nil, "/ws"},
		{&Options{}, "/ws"},
		{&Options{WSPath: "/api/live"}, "/api/live"},
		{&Options{WSPath: `/ws?a=1&b="x"<`}, `/ws?a=1&amp;b=&#34;x&#34;&lt;`},
	} {
		page := body(t, get(t, Handler(tc.opts), "GET", "/"))
		m := wsMeta.FindAllStringSubmatch(page, -1)
		if len(m) != 1 || m[0][1] != tc.want {
			t.Errorf("Options %+v: meta %q, want content %q", tc.opts, m, tc.want)
		}
		if strings.Contains(page, wsPathPlaceholder) {
			t.Errorf("Options %+v: placeholder left in the page", tc.opts)
		}
	}

	o := &Options{}
	Handler(o)
	if o.WSPath != "" {
		t.Errorf("Handler changed the caller's Options to %+v", o)
	}

	for _, bad := range []string{"ws", "ws://host/ws", "//evil.example/ws", "/ws#x", "http://x/ws"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(&Options{WSPath: %q}) did not panic", bad)
				}
			}()
			Handler(&Options{WSPath: bad})
		}()
	}
}

// TestReferences parses the page, the stylesheet and the modules for the
// files they load, and checks that each is served, so nothing is missing
// from the embed. It also checks that no file names any http(s) URL, so the
// page works with no internet.
func TestReferences(t *testing.T) {
	h := Handler(nil)
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`\b(?:src|href)\s*=\s*["']([^"']*)["']`), // HTML attributes
		regexp.MustCompile(`\bfrom\s*["']([^"']+)["']`),             // static imports
		regexp.MustCompile(`\bimport\s*\(?\s*["']([^"']+)["']`),     // side-effect and dynamic imports
		regexp.MustCompile(`\burl\(\s*["']?([^"')]+)["']?\s*\)`),    // CSS
	}
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		res := get(t, h, "GET", p)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d; is it missing from static/?", p, res.StatusCode)
			continue
		}
		text := body(t, res)
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(text, -1) {
				ref, err := url.Parse(m[1])
				if err != nil {
					t.Errorf("%s references unparsable %q", p, m[1])
					continue
				}
				if ref.Scheme != "" || ref.Host != "" {
					t.Errorf("%s references %q, which is not one of the page's own files", p, m[1])
					continue
				}
				queue = append(queue, path.Join(path.Dir(p+"x"), ref.Path))
			}
		}
	}
	for _, want := range []string{"/app.js", "/model.js", "/style.css", "/favicon.svg"} {
		if !seen[want] {
			t.Errorf("%s is not referenced from the page; the reference scan is broken", want)
		}
	}

	// The SVG namespace is a name, not a fetch; any other http(s) URL is.
	external := regexp.MustCompile(`(?i)https?://`)
	allowed := `xmlns="http://www.w3.org/2000/svg"`
	for _, p := range append([]string{"/"}, embedded(t)...) {
		text := strings.ReplaceAll(body(t, get(t, h, "GET", p)), allowed, "")
		if strings.HasPrefix(p, "/vendor/") {
			// A third-party file's leading license comment names its home.
			text = licenseComment.ReplaceAllString(text, "")
		}
		if loc := external.FindStringIndex(text); loc != nil {
			t.Errorf("%s names an external URL: %q", p, text[loc[0]:min(len(text), loc[0]+60)])
		}
	}
}

var licenseComment = regexp.MustCompile(`^/\*![^*]*\*/`)

// TestNoInline checks that the page needs nothing the CSP forbids: no inline
// script, no event-handler attributes, no inline style.
func TestNoInline(t *testing.T) {
	page := body(t, get(t, Handler(nil), "GET", "/"))
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatal("no script element in the page")
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], "src=") || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline script: %q", s[0])
		}
	}
	if m := regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`).FindString(page); m != "" {
		t.Errorf("page has an inline %q attribute", m)
	}
	if strings.Contains(strings.ToLower(page), "<style") {
		t.Error("page has an inline <style> element")
	}
	for _, f := range []string{"static/app.js", "static/model.js"} {
		b, _ := static.ReadFile(f)
		if bytes.Contains(b, []byte(".innerHTML")) || bytes.Contains(b, []byte("eval(")) || bytes.Contains(b, []byte(`"style"`)) {
			t.Errorf("%s uses innerHTML, eval or style attributes", f)
		}
	}
}

// TestPrepared shows that responses reuse the bodies prepared by Handler:
// serving a file, gzipped or not, costs a handful of header allocations, not
// a compression or a copy.
func TestPrepared(t *testing.T) {
	h := Handler(nil)
	w := &discardWriter{}
	for _, ae := range []string{"", "gzip"} {
		r := httptest.NewRequest("GET", "/app.js", nil)
		r.Header.Set("Accept-Encoding", ae)
		allocs := testing.AllocsPerRun(100, func() {
			clear(w.h)
			h.ServeHTTP(w, r)
		})
		if allocs > 12 {
			t.Errorf("Accept-Encoding %q: %.0f allocations per request, want at most 12", ae, allocs)
		}
		if w.n < 100 {
			t.Errorf("Accept-Encoding %q: wrote %d bytes", ae, w.n)
		}
	}
}

type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { w.n = len(b); return len(b), nil }
