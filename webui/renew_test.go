package webui

import (
	"net/http"
	"strings"
	"testing"
)

// POST /api/file/renew and the /renew_file aliases reach Service.Renew with
// the name from a form or JSON body and answer the renewed file.
func TestRenewRoutes(t *testing.T) {
	for _, r := range []req{
		form("/api/file/renew", alice, "name", "a b&c.txt"),
		form("/renew_file", alice, "name", "a b&c.txt"),
		form("/api/renew_file", alice, "name", "a b&c.txt"),
		{method: "POST", path: "/api/file/renew", email: alice, ctype: "application/json", body: strings.NewReader(`{"name":"a b&c.txt"}`)},
	} {
		svc := newFake()
		svc.put(alice, "a b&c.txt", []byte("data"))
		h, _ := testRouter(t, svc, publicOpts())
		d := wantSuccess(t, r.do(h))
		if svc.called("renew") != 1 {
			t.Fatalf("%s: Renew called %d times", r.path, svc.called("renew"))
		}
		f, _ := d.(map[string]any)["file"].(map[string]any)
		if f["name"] != "a b&c.txt" || f["last_renewal"] != "2026-11-28T11:00:00Z" || f["expired"] != false {
			t.Fatalf("%s: renewed file %v", r.path, d)
		}
	}
}

func TestRenewErrors(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantError(t, form("/api/file/renew", alice, "name", "nothing").do(h), http.StatusNotFound, "no file named")
	wantError(t, form("/api/file/renew", alice).do(h), http.StatusBadRequest, "")
	svc.put(alice, "x", []byte("data"))
	svc.renewErr = Errorf(ErrUnavailable, "too few storage servers")
	wantError(t, form("/api/file/renew", alice, "name", "x").do(h), http.StatusServiceUnavailable, "too few storage servers")
	svc.renewErr = Errorf(ErrConflict, "a renewal of %q is already running", "x")
	wantError(t, form("/api/file/renew", alice, "name", "x").do(h), http.StatusConflict, "already running")
	wantError(t, get("/api/file/renew", alice).do(h), http.StatusMethodNotAllowed, "method GET is not allowed")
}
