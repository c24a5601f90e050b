// Package web serves keypost's browser side: the SDK module keypost.js and
// the demo page that uses it (index.html, app.js, style.css), embedded in
// the binary so that `go build` needs no npm step.
//
// Mount registers one exact pattern per file on the relay's server (or
// any mux), leaving every other path to it:
//
//	api := httpapi.New(r, cfg)
//	web.Mount(api)
//
// Handler serves the same files on its own, e.g. as the fallback handler
// of a mux of your own, or api.Handle("/", web.Handler()).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

//go:embed index.html app.js keypost.js style.css
var files embed.FS

// file is one embedded file, read once.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// routes maps each served path to the embedded file behind it.
var routes = map[string]string{
	"/":           "index.html",
	"/index.html": "index.html",
	"/app.js":     "app.js",
	"/keypost.js": "keypost.js",
	"/style.css":  "style.css",
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// csp allows the page its own scripts, styles and relay (same origin) only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var loaded = func() map[string]file {
	m := make(map[string]file, len(routes))
	for _, name := range routes {
		if _, ok := m[name]; ok {
			continue
		}
		b, err := files.ReadFile(name)
		if err != nil {
			panic("web: " + name + " is not embedded: " + err.Error())
		}
		sum := sha256.Sum256(b)
		m[name] = file{
			body:        b,
			contentType: contentTypes[name[strings.LastIndexByte(name, '.'):]],
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
	}
	return m
}()

// Paths are the URL paths Handler serves.
func Paths() []string {
	p := make([]string, 0, len(routes))
	for k := range routes {
		p = append(p, k)
	}
	return p
}

// Mux is what Mount registers on: an *http.ServeMux, or the relay's
// *httpapi.Server.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the page on mux with one exact pattern per path ("/{$}"
// for the page itself), so that it conflicts with no catch-all "/" and
// leaves every other path to mux.
func Mount(mux Mux) {
	h := Handler()
	for p := range routes {
		if p == "/" {
			p = "/{$}"
		}
		mux.Handle(p, h)
	}
}

// Handler serves the embedded page and SDK: GET and HEAD only, with their
// content types, Cache-Control: no-cache (revalidated by ETag, so a new
// binary's files are picked up at once), nosniff and a strict
// Content-Security-Policy. Any other path is 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f := loaded[name]
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if name == "index.html" {
			h.Set("Content-Security-Policy", csp)
		}
		// ServeContent answers If-None-Match with 304 and HEAD without a body.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
