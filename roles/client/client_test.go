package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewAcceptsHostPortAndKeepsAPathPrefix(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1:3000":              "http://127.0.0.1:3000",
		"https://q.example.com/":      "https://q.example.com",
		"http://host:1/qasmat/?x=1#y": "http://host:1/qasmat",
		" http://localhost:3000 ":     "http://localhost:3000",
	}
	for in, want := range cases {
		c, err := New(in)
		if err != nil {
			t.Errorf("New(%q): %v", in, err)
			continue
		}
		if c.BaseURL() != want {
			t.Errorf("New(%q) = %s, want %s", in, c.BaseURL(), want)
		}
	}
	for _, bad := range []string{"", "ftp://host", "http://"} {
		if _, err := New(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestClientUsesThePathPrefix(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		writeData(w, 200, map[string]any{"version": "v9", "limit": 4, "max_file_size": 10})
	}))
	defer srv.Close()
	c, _ := New(srv.URL + "/qasmat")
	cf, err := c.Configuration(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if path != "/qasmat/api/configuration" || cf.Version != "v9" || cf.Limit != 4 || cf.MaxFileSize != 10 {
		t.Errorf("path %s, configuration %+v", path, cf)
	}
}

func TestClientTypedRoundTrip(t *testing.T) {
	fake, srv := newFake(t)
	c, _ := New(srv.URL)
	ctx := context.Background()
	content := testBytes(70000, 20)
	if _, err := c.Protect(ctx, "a", strings.NewReader(string(content)), int64(len(content)), ProtectOptions{Threshold: 2}); err != nil {
		t.Fatal(err)
	}
	l, err := c.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Files) != 1 || l.Files[0].Filename != "a" || l.Files[0].Size != 70000 || l.Files[0].K != 2 || l.Files[0].N != 3 ||
		len(l.Files[0].Hash) != 3 || l.Files[0].DateOfProtection.IsZero() {
		t.Errorf("files %+v", l.Files)
	}
	dl, err := c.Retrieve(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(dl)
	dl.Close()
	if err != nil || string(got) != string(content) || dl.Size != 70000 || dl.BytesRead() != 70000 {
		t.Errorf("retrieve: %d bytes, size %d, err %v", len(got), dl.Size, err)
	}
	if _, err := c.Retrieve(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}
	if _, err := c.Protect(ctx, "a", strings.NewReader("x"), 1, ProtectOptions{Threshold: 2}); !errors.Is(err, ErrConflict) {
		t.Errorf("second protect: %v, want ErrConflict", err)
	}
	if _, err := c.Protect(ctx, "b", strings.NewReader("x"), 1, ProtectOptions{Threshold: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("k=1: %v, want ErrInvalid", err)
	}
	if len(fake.protects) != 2 {
		t.Errorf("%d protect requests reached the API, want 2 (k=1 is refused locally)", len(fake.protects))
	}
	if _, err := c.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}

// A source shorter or longer than announced is an error, never a silently
// different file.
func TestProtectRefusesAFileThatChangedSize(t *testing.T) {
	_, srv := newFake(t)
	c, _ := New(srv.URL)
	for _, tc := range []struct {
		content string
		size    int64
	}{{"12345", 4}, {"123", 4}} {
		_, err := c.Protect(context.Background(), "f", strings.NewReader(tc.content), tc.size, ProtectOptions{Threshold: 2})
		if !errors.Is(err, errFileChanged) {
			t.Errorf("%d bytes announced as %d: %v, want errFileChanged", len(tc.content), tc.size, err)
		}
	}
}

func TestAnswersThatAreNotTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/file" {
			w.Write([]byte("<html>dashboard</html>"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	if _, err := c.Files(context.Background()); !errors.Is(err, ErrNotAPI) {
		t.Errorf("HTML answer: %v, want ErrNotAPI", err)
	}
	_, err := c.Remove(context.Background(), "x")
	if !errors.Is(err, ErrNoRoute) || errors.Is(err, ErrNotFound) {
		t.Errorf("plain 404: %v, want ErrNoRoute and not ErrNotFound", err)
	}
	if code, hint, ok := ExitStatus(err); !ok || code != ExitGeneral || !strings.Contains(hint, "--api") {
		t.Errorf("ExitStatus = %d %q %v", code, hint, ok)
	}
}

func TestTimeoutWaitingForAnAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := New(srv.URL)
	c.Timeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Storage(ctx)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if code, _, _ := ExitStatus(err); code != ExitGeneral {
		t.Errorf("exit code %d, want %d", code, ExitGeneral)
	}
}

func TestStorageAndTimestampDecoding(t *testing.T) {
	var s Storage
	if err := json.Unmarshal([]byte(`{"servers":["a"],"hosts":["h"],"pings":[1.5],"connected":1}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Connected != nil || len(s.Servers) != 1 || s.Pings[0] != 1.5 {
		t.Errorf("storage %+v: a count for connected should be ignored, not fail", s)
	}
	if err := json.Unmarshal([]byte(`{"servers":["a","b"],"connected":[true,false]}`), &s); err != nil || len(s.Connected) != 2 || s.Connected[1] {
		t.Errorf("storage %+v %v", s, err)
	}
	var f File
	if err := json.Unmarshal([]byte(`{"date_of_protection":"2026-11-28T10:24:00Z","last_renewal":1795861440}`), &f); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 28, 10, 24, 0, 0, time.UTC)
	if !f.DateOfProtection.Equal(want) || !f.LastRenewal.Equal(want) {
		t.Errorf("dates %v %v, want %v", f.DateOfProtection, f.LastRenewal, want)
	}
	if err := json.Unmarshal([]byte(`{"date_of_protection":null}`), &f); err != nil || !f.DateOfProtection.IsZero() {
		t.Errorf("null date: %v %v", f.DateOfProtection, err)
	}
	if err := json.Unmarshal([]byte(`{"date_of_protection":"yesterday"}`), &f); err == nil {
		t.Error("a date that is not RFC 3339 was accepted")
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 1 << 40: "1.0 TiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A body that ends cleanly before its Content-Length (a transport or
// middlebox that does not check it) is still a broken transfer.
func TestDownloadChecksTheByteCountAgainstContentLength(t *testing.T) {
	c, _ := New("http://qasmat.invalid")
	c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode:    200,
			Header:        http.Header{"X-File-Integrity": {"true"}},
			Body:          io.NopCloser(strings.NewReader("only part")),
			ContentLength: 1000,
			Request:       r,
		}, nil
	})}
	dl, err := c.Retrieve(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	_, err = io.ReadAll(dl)
	if !errors.Is(err, ErrBrokenTransfer) || !strings.Contains(err.Error(), "got 9 of the 1000 bytes") {
		t.Fatalf("err %v, want ErrBrokenTransfer with the byte counts", err)
	}
	if code, _, _ := ExitStatus(err); code != ExitIntegrity {
		t.Errorf("exit code %d, want %d", code, ExitIntegrity)
	}
}
