package webui

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
)

func builtDashboard() fstest.MapFS {
	return fstest.MapFS{
		"index.html":               {Data: []byte("<!doctype html><div id=app></div>")},
		"assets/index-3f2a.js":     {Data: []byte("console.log(1)")},
		"assets/index-9c1b.css":    {Data: []byte("body{}")},
		"assets/font-77aa.woff2":   {Data: []byte("wOF2")},
		"favicon.svg":              {Data: []byte("<svg/>")},
		"config/config.json":       {Data: []byte(`{"from":"dist"}`)},
		".placeholder":             {Data: []byte("keep")},
		"assets/index-3f2a.js.map": {Data: []byte("{}")},
	}
}

func TestDashboardServesFiles(t *testing.T) {
	opts := publicOpts()
	opts.Dashboard = builtDashboard()
	h, _ := testRouter(t, newFake(), opts)
	cases := []struct {
		path, ctype, body, cache string
	}{
		{"/", "text/html; charset=utf-8", "<!doctype html>", "no-cache"},
		{"/index.html", "text/html; charset=utf-8", "<!doctype html>", "no-cache"},
		{"/assets/index-3f2a.js", "text/javascript; charset=utf-8", "console.log", "immutable"},
		{"/assets/index-9c1b.css", "text/css; charset=utf-8", "body{}", "immutable"},
		{"/assets/font-77aa.woff2", "font/woff2", "wOF2", "immutable"},
		{"/assets/index-3f2a.js.map", "application/json", "{}", "immutable"},
		{"/favicon.svg", "image/svg+xml", "<svg/>", "no-cache"},
		// The app's own routes get index.html.
		{"/files", "text/html; charset=utf-8", "<!doctype html>", "no-cache"},
		{"/settings/advanced", "text/html; charset=utf-8", "<!doctype html>", "no-cache"},
	}
	for _, tc := range cases {
		w := get(tc.path, "").do(h)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ctype ||
			!strings.HasPrefix(w.Body.String(), tc.body) || !strings.Contains(w.Header().Get("Cache-Control"), tc.cache) {
			t.Errorf("GET %s: %d %q %q %q", tc.path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), w.Body.String())
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
	// A missing script is a 404, not index.html; dotfiles are not served.
	for _, p := range []string{"/assets/gone-1234.js", "/.placeholder"} {
		if w := get(p, "").do(h); w.Code != 404 {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	// The proxy's /config/config.json wins over a stray one in dist.
	if w := get("/config/config.json", "").do(h); strings.Contains(w.Body.String(), "dist") {
		t.Errorf("config.json came from dist: %s", w.Body.String())
	}
	// Conditional requests use the ETag.
	w := get("/assets/index-3f2a.js", "").do(h)
	r := get("/assets/index-3f2a.js", "")
	r.header = http.Header{"If-None-Match": {w.Header().Get("ETag")}}
	if w2 := r.do(h); w.Header().Get("ETag") == "" || w2.Code != http.StatusNotModified {
		t.Errorf("ETag %q, conditional GET %d", w.Header().Get("ETag"), w2.Code)
	}
	if w := (req{method: http.MethodHead, path: "/"}).do(h); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD /: %d, %d body bytes", w.Code, w.Body.Len())
	}
}

func TestDashboardNotBuiltFallback(t *testing.T) {
	opts := publicOpts()
	opts.Dashboard = fstest.MapFS{".placeholder": {Data: []byte("keep")}}
	h, _ := testRouter(t, newFake(), opts)
	for _, p := range []string{"/", "/files"} {
		w := get(p, "").do(h)
		body := w.Body.String()
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "make build") || !strings.Contains(body, "Node 20") ||
			!strings.Contains(body, `href="/api/configuration"`) {
			t.Fatalf("GET %s: %d %q", p, w.Code, body)
		}
	}
}

// The embedded files (built or not) always give a page at /.
func TestEmbeddedDashboard(t *testing.T) {
	h, err := NewRouter(newFake(), Options{AllowedOrigins: []string{"*"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w := get("/", "").do(h)
	if w.Code != 200 || !strings.Contains(strings.ToLower(w.Body.String()), "<!doctype html>") {
		t.Fatalf("GET /: %d %q", w.Code, w.Body.String())
	}
}

func TestClientConfigDefault(t *testing.T) {
	for _, tc := range []struct {
		opts   Options
		public bool
	}{{publicOpts(), true}, {privateOpts(), false}} {
		h, _ := testRouter(t, newFake(), tc.opts)
		w := get("/config/config.json", "").do(h)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
		}
		var cfg map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
			t.Fatal(err)
		}
		if got := keys(t, cfg); got != "APIAddress,authAddress,canEditConfig,isPublicInstance,minThreshold" {
			t.Fatalf("keys %q", got)
		}
		if cfg["APIAddress"] != "/api" || cfg["authAddress"] != "" || cfg["minThreshold"] != float64(2) ||
			cfg["isPublicInstance"] != tc.public || cfg["canEditConfig"] != tc.public {
			t.Fatalf("public=%v: %v", tc.public, cfg)
		}
	}
}

func TestClientConfigOverride(t *testing.T) {
	opts := privateOpts()
	opts.ClientConfig = []byte(`{"authAddress":"https://auth.example.com/","APIAddress":"https://api.example.com/api","isPublicInstance":false,"minThreshold":3,"canEditConfig":false}`)
	h, _ := testRouter(t, newFake(), opts)
	w := get("/config/config.json", "").do(h)
	if w.Code != 200 || w.Body.String() != string(opts.ClientConfig) {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}
