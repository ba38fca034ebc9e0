package webui

import (
	"net/http"
	"strings"
	"testing"
)

func preflight(path, origin, headers string) req {
	return req{method: http.MethodOptions, path: path, header: http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {headers},
	}}
}

func TestCORSPublic(t *testing.T) {
	h, _ := testRouter(t, newFake(), publicOpts())
	w := preflight("/api/file/protect", "https://anywhere.example", "x-remote-email, content-type, x-custom").do(h)
	if w.Code != http.StatusNoContent {
		t.Fatalf("preflight status %d", w.Code)
	}
	hd := w.Header()
	if hd.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("Allow-Origin %q, want *", hd.Get("Access-Control-Allow-Origin"))
	}
	if hd.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("public mode must not allow credentials")
	}
	if got := hd.Get("Access-Control-Allow-Headers"); got != "x-remote-email, content-type, x-custom" {
		t.Errorf("Allow-Headers %q, want the requested headers", got)
	}
	if !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Allow-Methods %q", hd.Get("Access-Control-Allow-Methods"))
	}
	r := get("/api/configuration", "")
	r.header = http.Header{"Origin": {"https://anywhere.example"}}
	w = r.do(h)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "X-File-Integrity") {
		t.Errorf("simple request: %d %v", w.Code, w.Header())
	}
}

func TestCORSPrivate(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a", []byte("x"))
	h, _ := testRouter(t, svc, privateOpts())
	w := preflight("/api/file/retrieve", "https://app.example.com", "x-remote-email").do(h)
	hd := w.Header()
	if w.Code != http.StatusNoContent || hd.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		hd.Get("Access-Control-Allow-Credentials") != "true" || hd.Get("Access-Control-Allow-Headers") != "x-remote-email" {
		t.Fatalf("preflight: %d %v", w.Code, hd)
	}
	if !strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %v must name Origin", hd.Values("Vary"))
	}
	r := form("/api/file/retrieve", alice, "name", "a")
	r.header = http.Header{"Origin": {"https://app.example.com"}}
	w = r.do(h)
	hd = w.Header()
	if w.Code != 200 || hd.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		hd.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(hd.Get("Access-Control-Expose-Headers"), "X-File-Integrity") {
		t.Fatalf("retrieve: %d %v", w.Code, hd)
	}

	// Another origin is refused with a readable error, before any work.
	r = form("/api/file/remove", alice, "name", "a")
	r.header = http.Header{"Origin": {"https://evil.example"}}
	wantError(t, r.do(h), http.StatusForbidden, "not in the proxy's allowed CORS origins")
	if svc.called("remove") != 0 {
		t.Fatal("Remove called for a refused origin")
	}
	w = preflight("/api/file/remove", "https://evil.example", "x-remote-email").do(h)
	if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused preflight: %d %v", w.Code, w.Header())
	}

	// The embedded dashboard's own origin is not cross-origin.
	r = get("/api/file", alice)
	r.header = http.Header{"Origin": {"http://example.com"}} // httptest's Host is example.com
	wantSuccess(t, r.do(h))
}
