package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// wsPathPlaceholder is the content of the sensorcast-ws meta element in
// static/index.html; Handler replaces it with Options.WSPath.
const wsPathPlaceholder = "__SENSORCAST_WS_PATH__"

// modePlaceholder is the content of the sensorcast-mode meta element:
// "node" or, with Options.Fleet, "fleet".
const modePlaceholder = "__SENSORCAST_MODE__"

// chartsPlaceholder marks, in static/index.html, where Handler links the
// chart library from static/vendor/ (committed there); a page without it
// would show no charts, and app.js copes.
const chartsPlaceholder = "<!--sensorcast:charts-->"

// chartFiles are uPlot's files in static/vendor/, as its npm package ships them.
const (
	chartScript = "/vendor/uPlot.iife.min.js"
	chartStyle  = "/vendor/uPlot.min.css"
)

// contentSecurityPolicy allows only the page's own files: no inline script or
// style, no framing, and WebSocket connections to any host (the page connects
// to its own; ws: and wss: are listed because older browsers do not count
// them as 'self').
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// contentTypes maps the extensions that static/ may hold to their media type.
// The table is ours rather than mime.TypeByExtension's so that the answer does
// not depend on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// Options configures [Handler]. A nil *Options means all defaults.
type Options struct {
	// WSPath is the URL path of the WebSocket endpoint that the page connects
	// to, on the host that served the page, with ws: for a page loaded over
	// http: and wss: for https:. It must start with "/" and may carry a
	// query. Handler only writes it into the page; mount the WebSocket server
	// at this path yourself. The default is "/ws".
	WSPath string
	// Fleet serves the fleet's page (sensorcast fleet): an overview of
	// every device, and each device's cards and charts at #device=ID,
	// from the stream at WSPath?device=ID.
	Fleet bool
}

// cloneWithDefaults returns a copy of o with defaults filled in, leaving the
// caller's Options untouched.
func (o *Options) cloneWithDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.WSPath == "" {
		c.WSPath = "/ws"
	}
	return c
}

// validWSPath reports whether p is a same-origin path such as "/ws" or
// "/ws?raw=1": no scheme, no host, no fragment.
func validWSPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Fragment == ""
}

// Handler returns an http.Handler that serves the dashboard: "/" (and
// "/index.html") is the page, and every other file in static/ is served under
// its own name, such as "/app.js" and "/style.css". Other paths get 404 and
// methods other than GET and HEAD get 405.
//
// Every file is served with Cache-Control: no-cache and an ETag, so browsers
// revalidate and get 304 Not Modified until a new binary changes the file; a
// client that accepts gzip gets a copy compressed once, when Handler is
// called. Every response carries X-Content-Type-Options: nosniff and a
// Content-Security-Policy that allows only the page's own files.
//
// The page's links are relative, so the handler may be mounted under a prefix
// with http.StripPrefix as long as the page is reached with a trailing slash.
//
// Handler panics if o.WSPath does not start with "/" or names a host, which
// is a programming error.
func Handler(o *Options) http.Handler {
	opts := o.cloneWithDefaults()
	if !validWSPath(opts.WSPath) {
		panic(fmt.Sprintf("dashboard: WSPath %q is not an absolute path on the page's host", opts.WSPath))
	}
	shared, index := loadStatic()
	if bytes.Count(index, []byte(wsPathPlaceholder)) != 1 {
		panic("dashboard: static/index.html must hold the WebSocket path placeholder exactly once")
	}
	if bytes.Count(index, []byte(chartsPlaceholder)) != 1 {
		panic("dashboard: static/index.html must hold the charts placeholder exactly once")
	}
	index = bytes.Replace(index, []byte(wsPathPlaceholder), []byte(html.EscapeString(opts.WSPath)), 1)
	mode := "node"
	if opts.Fleet {
		mode = "fleet"
	}
	index = bytes.Replace(index, []byte(modePlaceholder), []byte(mode), 1)
	page := newAsset("index.html", bytes.Replace(index, []byte(chartsPlaceholder), []byte(chartTags(HasCharts())), 1))

	h := &handler{assets: make(map[string]*asset, len(shared)+2)}
	for name, a := range shared {
		h.assets[name] = a
	}
	h.assets["/"] = page
	h.assets["/index.html"] = page
	return h
}

// HasCharts reports whether the binary embeds the chart library (uPlot, in
// static/vendor/); without it the page would show values but no charts.
func HasCharts() bool {
	shared, _ := loadStatic()
	return shared[chartScript] != nil && shared[chartStyle] != nil
}

// chartTags is what replaces the charts placeholder: links to the chart
// library when the binary has it, else nothing.
func chartTags(has bool) string {
	if !has {
		return ""
	}
	return `<link rel="stylesheet" href="` + chartStyle[1:] + `">` + "\n" + `<script src="` + chartScript[1:] + `"></script>`
}

// loadStatic reads and prepares every embedded file once per process. It
// returns the files other than index.html keyed by URL path, and the raw
// index.html, which Handler completes with the WebSocket path.
var loadStatic = sync.OnceValues(func() (map[string]*asset, []byte) {
	assets := make(map[string]*asset)
	var index []byte
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(name, "static/")
		if rel == "index.html" {
			index = b
			return nil
		}
		assets["/"+rel] = newAsset(rel, b)
		return nil
	})
	if err != nil || index == nil {
		panic(fmt.Sprintf("dashboard: read embedded files: %v (index.html found: %t)", err, index != nil))
	}
	return assets, index
})

// asset is one file, ready to serve in either encoding.
type asset struct {
	contentType string
	body        []byte
	etag        string
	gz          []byte // nil when gzip does not make the file smaller
	gzETag      string
	bodyLen     string // len(body) and len(gz) as Content-Length values
	gzLen       string
}

func newAsset(name string, body []byte) *asset {
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		panic(fmt.Sprintf("dashboard: no content type for embedded file %q; add its extension to contentTypes", name))
	}
	sum := sha256.Sum256(body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:12])
	a := &asset{
		contentType: ct,
		body:        body,
		etag:        `"` + tag + `"`,
		bodyLen:     strconv.Itoa(len(body)),
	}
	if gz := gzipBytes(body); len(gz) < len(body)*9/10 {
		a.gz = gz
		a.gzETag = `"` + tag + `.gz"`
		a.gzLen = strconv.Itoa(len(gz))
	}
	return a
}

// gzipWriters reuses one best-compression writer (about 1 MB of state) for
// every file, instead of leaving one per file as start-up garbage.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestCompression) // the level is valid
	return zw
}}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b) // writes to a bytes.Buffer do not fail
	zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
	return buf.Bytes()
}

type handler struct {
	assets map[string]*asset // by URL path; never written after Handler returns
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	a := h.assets[p]
	if a == nil {
		http.NotFound(w, r)
		return
	}

	body, etag, length := a.body, a.etag, a.bodyLen
	if a.gz != nil {
		hdr.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header["Accept-Encoding"]) {
			body, etag, length = a.gz, a.gzETag, a.gzLen
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", etag)
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && matchesETag(inm, a) {
		hdr.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Content-Length", length)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// matchesETag reports whether an If-None-Match header names either encoding
// of a: both carry the same content, so a cached copy of either is current.
// The comparison is the weak one that RFC 9110 prescribes for If-None-Match.
func matchesETag(values []string, a *asset) bool {
	for _, v := range values {
		for v != "" {
			var tag string
			tag, v, _ = strings.Cut(v, ",")
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			tag = strings.TrimPrefix(tag, "W/")
			if tag == a.etag || (a.gz != nil && tag == a.gzETag) {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding values allow a gzip response:
// gzip (or x-gzip) with a non-zero q, or else "*" with a non-zero q.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			q := 1.0
			for params != "" {
				var p string
				p, params, _ = strings.Cut(params, ";")
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0 // malformed: do not rely on it
					}
					q = f
				}
			}
			switch {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case name == "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
