package webui

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStorageShape(t *testing.T) {
	h, _ := testRouter(t, newFake(), publicOpts())
	data := wantSuccess(t, get("/api/storage", alice).do(h))
	if got := keys(t, data); got != "connected,hosts,locations,pings,servers" {
		t.Fatalf("data keys %q", got)
	}
	d := data.(map[string]any)
	want := map[string][]any{
		"servers":   {"s1", "s2", "s3"},
		"locations": {"Paris", "Lyon", "Nice"},
		"hosts":     {"10.0.0.1:49999", "10.0.0.2:49999", "10.0.0.3:49999"},
		"pings":     {1.5, 2.25, float64(-1)}, // a disconnected server's ping is -1
		"connected": {true, true, false},
	}
	for k, w := range want {
		got, _ := d[k].([]any)
		if len(got) != len(w) {
			t.Fatalf("%s = %v, want %v", k, d[k], w)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("%s = %v, want %v", k, got, w)
			}
		}
	}
}

func TestStorageEmptyListsAreArrays(t *testing.T) {
	svc := newFake()
	svc.servers = nil
	h, _ := testRouter(t, svc, publicOpts())
	w := get("/api/storage", alice).do(h)
	wantSuccess(t, w)
	if !strings.Contains(w.Body.String(), `"servers":[]`) {
		t.Fatalf("no servers must be [], not null: %s", w.Body.String())
	}
}

func TestFilesShape(t *testing.T) {
	svc := newFake()
	svc.put(alice, "report.pdf", []byte("hello"))
	svc.put(bob, "bob-only.txt", []byte("secret"))
	h, _ := testRouter(t, svc, publicOpts())

	data := wantSuccess(t, get("/api/file", alice).do(h))
	if got := keys(t, data); got != "files,percentage" {
		t.Fatalf("data keys %q", got)
	}
	d := data.(map[string]any)
	if d["percentage"] != 12.5 {
		t.Fatalf("percentage %v", d["percentage"])
	}
	files := d["files"].([]any)
	if len(files) != 1 {
		t.Fatalf("alice sees %d files, want only her own 1: %v", len(files), files)
	}
	if got := keys(t, files[0]); got != "date_of_protection,expired,filename,hash,k,last_renewal,n,size,storage_servers" {
		t.Fatalf("file keys %q", got)
	}
	f := files[0].(map[string]any)
	checks := map[string]any{
		"filename": "report.pdf", "k": float64(2), "n": float64(3), "size": float64(5), "expired": false,
		"date_of_protection": "2026-11-28T10:00:00Z", "last_renewal": "2026-11-29T10:00:00Z",
	}
	for k, v := range checks {
		if f[k] != v {
			t.Errorf("%s = %#v, want %#v", k, f[k], v)
		}
	}
	hash := f["hash"].([]any)
	if len(hash) != 2 || hash[0] != float64(7) || hash[1] != float64(200) {
		t.Errorf("hash %v, want [7 200] as numbers", hash)
	}
	if ss := f["storage_servers"].([]any); len(ss) != 3 || ss[0] != "s1" {
		t.Errorf("storage_servers %v", ss)
	}
	for _, k := range []string{"date_of_protection", "last_renewal"} {
		if _, err := time.Parse(time.RFC3339, f[k].(string)); err != nil {
			t.Errorf("%s is not RFC 3339: %v", k, err)
		}
	}

	// Bob sees only his.
	files = wantSuccess(t, get("/api/file", bob).do(h)).(map[string]any)["files"].([]any)
	if len(files) != 1 || files[0].(map[string]any)["filename"] != "bob-only.txt" {
		t.Fatalf("bob's list %v", files)
	}
}

func TestFilesNeverRenewedShowsProtectionDate(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a", []byte("x"))
	svc.files[alice]["a"].info.LastRenewal = time.Time{}
	h, _ := testRouter(t, svc, publicOpts())
	f := wantSuccess(t, get("/api/file", alice).do(h)).(map[string]any)["files"].([]any)[0].(map[string]any)
	if f["last_renewal"] != "2026-11-28T10:00:00Z" {
		t.Fatalf("last_renewal %v, want the date of protection", f["last_renewal"])
	}
}

func TestConfigurationShowsQKDTransit(t *testing.T) {
	h, _ := testRouter(t, newFake(), Options{AllowedOrigins: []string{"*"}, Version: "1", MaxFileSize: 4096, Transit: "OTP"})
	data := wantSuccess(t, get("/api/configuration", alice).do(h))
	if got := keys(t, data); got != "limit,max_file_size,transit,version" {
		t.Fatalf("keys %q, want transit beside the spec's keys", got)
	}
	if m := data.(map[string]any)["transit"]; m != "OTP" {
		t.Fatalf("transit %v, want OTP", m)
	}
}

func TestConfigurationShape(t *testing.T) {
	h, _ := testRouter(t, newFake(), Options{AllowedOrigins: []string{"*"}, Version: "1.2.3", MaxFileSize: 4096})
	for _, p := range []string{"/api/configuration", "/configuration"} {
		data := wantSuccess(t, get(p, alice).do(h))
		if got := keys(t, data); got != "limit,max_file_size,version" {
			t.Fatalf("%s keys %q", p, got)
		}
		d := data.(map[string]any)
		if d["version"] != "1.2.3" || d["limit"] != float64(2) || d["max_file_size"] != float64(4096) {
			t.Fatalf("%s = %v, want version 1.2.3, limit 2 (connected servers), max_file_size 4096", p, d)
		}
	}
}

func TestConfigurationDefaultMaxFileSize(t *testing.T) {
	h, _ := testRouter(t, newFake(), publicOpts())
	d := wantSuccess(t, get("/api/configuration", alice).do(h)).(map[string]any)
	if d["max_file_size"] != float64(DefaultMaxFileSize) {
		t.Fatalf("max_file_size %v, want the spec default %d", d["max_file_size"], DefaultMaxFileSize)
	}
}

func TestPingNeedsNoIdentity(t *testing.T) {
	h, _ := testRouter(t, newFake(), privateOpts())
	for _, p := range []string{"/ping", "/api/ping"} {
		if d := wantSuccess(t, get(p, "").do(h)); d != "pong" {
			t.Fatalf("%s data %v", p, d)
		}
	}
}

func TestWhoAmI(t *testing.T) {
	h, _ := testRouter(t, newFake(), privateOpts())
	for _, p := range []string{"/who_am_i", "/api/who_am_i"} {
		r := get(p, "")
		r.header = http.Header{"Remote-User": {"Alice Martin"}, "Remote-Email": {alice}}
		if d := wantSuccess(t, r.do(h)); d != "Alice Martin" {
			t.Fatalf("%s data %v, want the user's name", p, d)
		}
	}
	// Without a name header, the email stands for the name.
	r := get("/who_am_i", "")
	r.header = http.Header{"X-Remote-Email": {alice}}
	if d := wantSuccess(t, r.do(h)); d != alice {
		t.Fatalf("data %v, want the email", d)
	}
}

func TestLaterStorageShape(t *testing.T) {
	h, _ := testRouter(t, newFake(), publicOpts())
	data := wantSuccess(t, get("/storage", alice).do(h)).([]any)
	if len(data) != 3 {
		t.Fatalf("%v", data)
	}
	if got := keys(t, data[0]); got != "connected,host,location,name,ping" {
		t.Fatalf("connected server keys %q", got)
	}
	if got := keys(t, data[2]); got != "connected,host,location,name" {
		t.Fatalf("disconnected server keys %q (no ping)", got)
	}
	if data[0].(map[string]any)["ping"] != 1.5 {
		t.Fatalf("ping %v", data[0])
	}
}

func TestLaterFileShape(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a.txt", []byte("12345"))
	svc.put(alice, "b.txt", []byte("123"))
	h, _ := testRouter(t, svc, publicOpts())
	data := wantSuccess(t, get("/file", alice).do(h))
	if got := keys(t, data); got != "amount_stored,files" {
		t.Fatalf("data keys %q", got)
	}
	d := data.(map[string]any)
	if d["amount_stored"] != float64(8) {
		t.Fatalf("amount_stored %v, want 8 bytes", d["amount_stored"])
	}
	entry := d["files"].([]any)[0]
	if got := keys(t, entry); got != "file,storage" {
		t.Fatalf("entry keys %q", got)
	}
	if got := keys(t, entry.(map[string]any)["file"]); got != "byte_size,date_of_protection,expired,hash,last_renewal,name,threshold,user_id" {
		t.Fatalf("later file keys %q", got)
	}
	if f := entry.(map[string]any)["file"].(map[string]any); f["user_id"] != alice || f["threshold"] != float64(2) {
		t.Fatalf("later file %v", f)
	}
}

// Every later write route works with and without /api, with the spec's
// envelope.
func TestLaterWriteAliases(t *testing.T) {
	for _, prefix := range []string{"", "/api"} {
		svc := newFake()
		h, _ := testRouter(t, svc, publicOpts())
		w := protectReq(t, prefix+"/protect_file", alice,
			part{name: "threshold", value: "2"},
			part{name: "storage_servers", value: `["s1","s2"]`},
			part{name: "file", filename: "x.bin", value: "data"}).do(h)
		if d := wantSuccess(t, w); d != nil {
			t.Fatalf("protect data %v, want null", d)
		}
		if got := svc.lastProtect.Servers; len(got) != 2 || got[1] != "s2" {
			t.Fatalf("storage_servers reached the service as %v", got)
		}
		w = form(prefix+"/retrieve_file", alice, "name", "x.bin").do(h)
		if w.Code != 200 || w.Body.String() != "data" {
			t.Fatalf("%s/retrieve_file: %d %q", prefix, w.Code, w.Body.String())
		}
		wantSuccess(t, form(prefix+"/remove_file", alice, "name", "x.bin").do(h))
		if svc.called("remove") != 1 || len(svc.files[alice]) != 0 {
			t.Fatalf("%s/remove_file did not remove", prefix)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	h, _ := testRouter(t, newFake(), publicOpts())
	wantError(t, get("/api/nothing", alice).do(h), http.StatusNotFound, "no route GET /api/nothing")
	wantError(t, get("/api", alice).do(h), http.StatusNotFound, "no route")
	wantError(t, form("/nothing", alice).do(h), http.StatusNotFound, "no route POST /nothing")
	wantError(t, get("/api/file/protect", alice).do(h), http.StatusMethodNotAllowed, "method GET is not allowed")
	// Other GET paths belong to the dashboard (here: not built).
	w := get("/some/app/page", "").do(h)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "make build") {
		t.Fatalf("GET /some/app/page: %d %q", w.Code, w.Body.String())
	}
}

func TestHealthAndReadiness(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, privateOpts())
	w := get("/healthz", "").do(h)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", w.Code, w.Body.String())
	}
	w = get("/readyz", "").do(h)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ready"`) {
		t.Fatalf("readyz ready: %d %s", w.Code, w.Body.String())
	}
	svc.readyErr = Errorf(ErrUnavailable, "no storage server is connected")
	w = get("/readyz", "").do(h)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no storage server is connected") {
		t.Fatalf("readyz not ready: %d %s", w.Code, w.Body.String())
	}
}

func TestUnknownServiceErrorIs500WithGenericMessage(t *testing.T) {
	svc := newFake()
	svc.storageErr = errInternalDetail
	h, logs := testRouter(t, svc, publicOpts())
	msg := wantError(t, get("/api/storage", alice).do(h), http.StatusInternalServerError, "internal error")
	if strings.Contains(msg, "pebble") {
		t.Fatalf("internal detail leaked to the client: %q", msg)
	}
	if !strings.Contains(logs.String(), "pebble: disk on fire") {
		t.Fatalf("internal detail not logged: %s", logs.String())
	}
}

var errInternalDetail = errorString("pebble: disk on fire")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestNewRouterRejectsBadOptions(t *testing.T) {
	cases := map[string]Options{
		"origin without scheme": {AllowedOrigins: []string{"example.com"}},
		"origin with path":      {AllowedOrigins: []string{"https://example.com/app"}},
		"client config":         {ClientConfig: []byte("{not json")},
	}
	for name, o := range cases {
		if _, err := NewRouter(newFake(), o); err == nil {
			t.Errorf("%s: NewRouter accepted it", name)
		}
	}
	if _, err := NewRouter(nil, Options{}); err == nil {
		t.Error("nil service accepted")
	}
}
