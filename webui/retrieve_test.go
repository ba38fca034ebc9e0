package webui

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRetrieveHeadersAndBody(t *testing.T) {
	svc := newFake()
	content := strings.Repeat("0123456789", 1000)
	svc.put(alice, `résumé "final".pdf`, []byte(content))
	h, _ := testRouter(t, svc, publicOpts())
	w := form("/api/file/retrieve", alice, "name", `résumé "final".pdf`).do(h)
	if w.Code != 200 || w.Body.String() != content {
		t.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
	}
	want := map[string]string{
		"Content-Type":     "application/octet-stream",
		"Content-Length":   "10000",
		"X-File-Integrity": "true",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	disp, params, err := mime.ParseMediaType(w.Header().Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != `résumé "final".pdf` {
		t.Fatalf("Content-Disposition %q parses to %q %v (%v)", w.Header().Get("Content-Disposition"), disp, params, err)
	}
	if !strings.Contains(w.Header().Get("Content-Disposition"), `filename="r_sum_ _final_.pdf"`) {
		t.Errorf("ASCII fallback missing: %q", w.Header().Get("Content-Disposition"))
	}
}

// The name may come as urlencoded, JSON or multipart form, or in the query.
func TestRetrieveNameEncodings(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a b&c.txt", []byte("content"))
	h, _ := testRouter(t, svc, publicOpts())
	mp, mpType := multipartBody(t, part{name: "name", value: "a b&c.txt"})
	cases := map[string]req{
		"urlencoded": form("/api/file/retrieve", alice, "name", "a b&c.txt"),
		"json":       {method: "POST", path: "/api/file/retrieve", email: alice, ctype: "application/json", body: strings.NewReader(`{"name":"a b&c.txt"}`)},
		"multipart":  {method: "POST", path: "/api/file/retrieve", email: alice, ctype: mpType, body: mp},
		"json extra": {method: "POST", path: "/api/file/retrieve", email: alice, ctype: "application/json", body: strings.NewReader(`{"name":"a b&c.txt","n":3}`)},
		"query":      {method: "POST", path: "/api/file/retrieve?name=a+b%26c.txt", email: alice},
	}
	for name, r := range cases {
		w := r.do(h)
		if w.Code != 200 || w.Body.String() != "content" {
			t.Errorf("%s: %d %q", name, w.Code, w.Body.String())
		}
	}
}

func TestRetrieveRefusals(t *testing.T) {
	cases := []struct {
		name string
		r    req
		code int
		msg  string
	}{
		{"missing name", form("/api/file/retrieve", alice, "other", "x"), 400, msgNameMissing},
		{"empty name", form("/api/file/retrieve", alice, "name", ""), 400, "the file name is empty"},
		{"bad name", form("/api/file/retrieve", alice, "name", "../x"), 400, "path separator"},
		{"json not object", req{method: "POST", path: "/api/file/retrieve", email: alice, ctype: "application/json", body: strings.NewReader(`["x"]`)}, 400, "not a JSON object"},
		{"json name not string", req{method: "POST", path: "/api/file/retrieve", email: alice, ctype: "application/json", body: strings.NewReader(`{"name":3}`)}, 400, "the name field must be a string"},
		{"json too long", req{method: "POST", path: "/api/file/retrieve", email: alice, ctype: "application/json", body: strings.NewReader(`{"name":"` + strings.Repeat("a", maxFieldBytes) + `"}`)}, 413, "larger than"},
		{"unsupported type", req{method: "POST", path: "/api/file/retrieve", email: alice, ctype: "text/plain", body: strings.NewReader("a.txt")}, 400, "unsupported Content-Type"},
		{"other owner", form("/api/file/retrieve", alice, "name", "a.txt", "owner", bob), 403, "sharing is not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := newFake()
			svc.put(alice, "a.txt", []byte("x"))
			h, _ := testRouter(t, svc, publicOpts())
			wantError(t, tc.r.do(h), tc.code, tc.msg)
			if svc.called("retrieve") != 0 {
				t.Fatal("Retrieve was called")
			}
		})
	}
}

func TestRetrieveOwnOwnerAccepted(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a.txt", []byte("x"))
	h, _ := testRouter(t, svc, publicOpts())
	if w := form("/retrieve_file", alice, "name", "a.txt", "owner", alice).do(h); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}

func TestRetrieveServiceErrors(t *testing.T) {
	svc := newFake()
	svc.put(bob, "bob.txt", []byte("bob's"))
	h, _ := testRouter(t, svc, publicOpts())
	// Another user's file is simply not found.
	wantError(t, form("/api/file/retrieve", alice, "name", "bob.txt").do(h), 404, `no file named "bob.txt"`)
	svc.retrieveErr = Errorf(ErrUnavailable, "only 1 of the 2 storage servers needed is connected; missing: s2, s3")
	wantError(t, form("/api/file/retrieve", bob, "name", "bob.txt").do(h), 503, "missing: s2, s3")
}

// A failure after the first byte must reach the client as a broken
// transfer, never as a complete 200.
func TestRetrieveLateErrorAborts(t *testing.T) {
	svc := newFake()
	content := strings.Repeat("x", 1<<20)
	svc.put(alice, "big.bin", []byte(content))
	svc.lateErrAfter = 300 << 10
	h, logs := testRouter(t, svc, publicOpts())
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := postName(srv.URL+"/api/file/retrieve", "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "1048576" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("client read %d bytes and a clean end; want a broken transfer", len(b))
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("transfer error: %v", err)
	}
	if len(b) >= len(content) {
		t.Fatalf("client got the whole length")
	}
	if !strings.Contains(logs.String(), "retrieve aborted after streaming began") {
		t.Fatalf("abort not logged: %s", logs.String())
	}
	// The server survives and keeps serving.
	svc.lateErrAfter = -1
	resp2, err := postName(srv.URL+"/api/file/retrieve", "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || string(b) != content {
		t.Fatalf("second retrieve: %v, %d bytes", err, len(b))
	}
}

// shortService writes fewer bytes than the size it announced.
type shortService struct{ *fakeService }

func (s shortService) Retrieve(_ context.Context, _ User, _ string, start func(FileInfo) io.Writer) error {
	w := start(FileInfo{Name: "f", Size: 100})
	_, err := w.Write(make([]byte, 50))
	return err
}

func TestRetrieveShortWriteAborts(t *testing.T) {
	h, logs := testRouter(t, shortService{newFake()}, publicOpts())
	srv := httptest.NewServer(h)
	defer srv.Close()
	// The 50 bytes may not even have left the server's buffer: an error
	// before the response or while reading it are both a broken transfer.
	resp, err := postName(srv.URL+"/api/file/retrieve", "f")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a short body ended cleanly")
	}
	if !strings.Contains(logs.String(), "wrote 50 of the 100 bytes") {
		t.Fatalf("not logged: %s", logs.String())
	}
}

// postName posts name=... as alice over a real connection.
func postName(url, name string) (*http.Response, error) {
	r, err := http.NewRequest("POST", url, strings.NewReader("name="+name))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Remote-Email", alice)
	return http.DefaultClient.Do(r)
}

func TestRemove(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a.txt", []byte("x"))
	svc.put(bob, "a.txt", []byte("y"))
	h, _ := testRouter(t, svc, publicOpts())
	if d := wantSuccess(t, form("/api/file/remove", alice, "name", "a.txt").do(h)); d != nil {
		t.Fatalf("data %v", d)
	}
	if svc.files[alice]["a.txt"] != nil || svc.files[bob]["a.txt"] == nil {
		t.Fatal("removed the wrong file")
	}
	wantError(t, form("/api/file/remove", alice, "name", "a.txt").do(h), 404, "no file named")
	wantError(t, form("/api/file/remove", alice, "name", "x/y").do(h), 400, "path separator")
	wantError(t, form("/api/file/remove", alice).do(h), 400, msgNameMissing)
	if svc.called("remove") != 2 {
		t.Fatalf("Remove called %d times, want 2 (bad names never reach it)", svc.called("remove"))
	}
}
