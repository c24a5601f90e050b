package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	for path, want := range map[string]string{
		"/":           "text/html; charset=utf-8",
		"/index.html": "text/html; charset=utf-8",
		"/app.js":     "text/javascript; charset=utf-8",
		"/keypost.js": "text/javascript; charset=utf-8",
		"/style.css":  "text/css; charset=utf-8",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", path, got)
		}
		if rec.Body.Len() == 0 {
			t.Errorf("GET %s: empty body", path)
		}
		// Revalidation by ETag.
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		rec2 := httptest.NewRecorder()
		h.ServeHTTP(rec2, req)
		if rec2.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, rec2.Code)
		}
	}
}

func TestHandlerRefuses(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/package.json", 404},
		{"GET", "/test/devserver/main.go", 404},
		{"GET", "/node_modules/typescript/package.json", 404},
		{"GET", "/embed.go", 404},
		{"POST", "/", 405},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
		}
	}
}

// Mount must work on the relay's own server, whose mux already has "/".
func TestMountOnRelayServer(t *testing.T) {
	srv := httpapi.New(relay.New(relay.Config{}), httpapi.Config{})
	Mount(srv)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for path, want := range map[string]string{"/": "<!doctype html>", "/keypost.js": "// @ts-check", "/healthz": `{"ok":true}`} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(string(b), want) {
			t.Errorf("GET %s: %d %.40q", path, res.StatusCode, b)
		}
	}
	res, err := http.Get(ts.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("GET /nope: %d %s, want the relay's problem 404", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
