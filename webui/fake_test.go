package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// fakeService keeps files in memory, per user, and counts calls.
type fakeService struct {
	mu      sync.Mutex
	servers []StorageInfo
	files   map[string]map[string]*fakeFile // email -> name -> file
	calls   map[string]int
	pct     float64

	// Injected behaviour.
	protectBody  func(io.Reader) error // replaces storing the body when set
	protectErr   error                 // returned before reading the body
	retrieveErr  error                 // returned before start
	lateErrAfter int64                 // >= 0: Retrieve fails after writing this many bytes
	removeErr    error
	renewErr     error
	storageErr   error
	readyErr     error

	lastUser    User
	lastProtect ProtectRequest
}

type fakeFile struct {
	info FileInfo
	data []byte
}

var testTime = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func newFake() *fakeService {
	return &fakeService{
		servers: []StorageInfo{
			{Name: "s1", Location: "Paris", Host: "10.0.0.1:49999", PingMs: 1.5, Connected: true},
			{Name: "s2", Location: "Lyon", Host: "10.0.0.2:49999", PingMs: 2.25, Connected: true},
			{Name: "s3", Location: "Nice", Host: "10.0.0.3:49999", PingMs: 9, Connected: false},
		},
		files:        map[string]map[string]*fakeFile{},
		calls:        map[string]int{},
		pct:          12.5,
		lateErrAfter: -1,
	}
}

func (f *fakeService) called(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeService) note(op string, u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	f.lastUser = u
}

func (f *fakeService) connected() []string {
	var names []string
	for _, s := range f.servers {
		if s.Connected {
			names = append(names, s.Name)
		}
	}
	return names
}

func (f *fakeService) Storage(context.Context) ([]StorageInfo, error) {
	f.note("storage", User{})
	return f.servers, f.storageErr
}

func (f *fakeService) Files(_ context.Context, u User) ([]FileInfo, float64, error) {
	f.note("files", u)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []FileInfo
	for _, ff := range f.files[u.Email] {
		out = append(out, ff.info)
	}
	return out, f.pct, nil
}

func (f *fakeService) Protect(_ context.Context, u User, req ProtectRequest, body io.Reader) (FileInfo, error) {
	f.note("protect", u)
	f.mu.Lock()
	f.lastProtect = req
	_, exists := f.files[u.Email][req.Name]
	f.mu.Unlock()
	if f.protectErr != nil {
		return FileInfo{}, f.protectErr
	}
	if exists {
		return FileInfo{}, Errorf(ErrExists, "a file named %q already exists", req.Name)
	}
	servers := req.Servers
	if servers == nil {
		servers = f.connected()
	}
	if req.K > len(servers) {
		return FileInfo{}, Errorf(ErrBadThreshold, "threshold %d is greater than the %d connected storage servers", req.K, len(servers))
	}
	if f.protectBody != nil {
		if err := f.protectBody(body); err != nil {
			return FileInfo{}, fmt.Errorf("reading the upload: %w", err)
		}
		return FileInfo{Name: req.Name}, nil
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return FileInfo{}, fmt.Errorf("reading the upload: %w", err)
	}
	info := FileInfo{
		Name: req.Name, Size: int64(len(data)), K: req.K, N: len(servers), Servers: servers,
		DateOfProtection: testTime, Hash: []byte{0, 1, 254, 255}, Owner: u.Email,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files[u.Email] == nil {
		f.files[u.Email] = map[string]*fakeFile{}
	}
	f.files[u.Email][req.Name] = &fakeFile{info: info, data: data}
	return info, nil
}

func (f *fakeService) Retrieve(_ context.Context, u User, name string, start func(FileInfo) io.Writer) error {
	f.note("retrieve", u)
	if f.retrieveErr != nil {
		return f.retrieveErr
	}
	f.mu.Lock()
	ff := f.files[u.Email][name]
	f.mu.Unlock()
	if ff == nil {
		return Errorf(ErrNotFound, "no file named %q", name)
	}
	w := start(ff.info)
	data := ff.data
	if f.lateErrAfter >= 0 {
		if _, err := w.Write(data[:f.lateErrAfter]); err != nil {
			return err
		}
		return errors.New("share of chunk 3 failed verification on every server")
	}
	_, err := w.Write(data)
	return err
}

func (f *fakeService) Remove(_ context.Context, u User, name string) error {
	f.note("remove", u)
	if f.removeErr != nil {
		return f.removeErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files[u.Email][name] == nil {
		return Errorf(ErrNotFound, "no file named %q", name)
	}
	delete(f.files[u.Email], name)
	return nil
}

func (f *fakeService) Renew(_ context.Context, u User, name string) (FileInfo, error) {
	f.note("renew", u)
	if f.renewErr != nil {
		return FileInfo{}, f.renewErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ff := f.files[u.Email][name]
	if ff == nil {
		return FileInfo{}, Errorf(ErrNotFound, "no file named %q", name)
	}
	ff.info.LastRenewal = testTime.Add(time.Hour)
	ff.info.Expired = false
	return ff.info, nil
}

func (f *fakeService) Ready(context.Context) error { return f.readyErr }

// put stores a file directly, as if protected earlier.
func (f *fakeService) put(email, name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files[email] == nil {
		f.files[email] = map[string]*fakeFile{}
	}
	f.files[email][name] = &fakeFile{data: data, info: FileInfo{
		Name: name, Size: int64(len(data)), K: 2, N: 3, Servers: []string{"s1", "s2", "s3"},
		DateOfProtection: testTime, LastRenewal: testTime.Add(24 * time.Hour),
		Hash: []byte{7, 200}, Owner: email,
	}}
}

// Test identities.
const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
)

// testRouter builds a router over svc; the log goes to the returned buffer.
func testRouter(t *testing.T, svc Service, opts Options) (http.Handler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	if opts.Dashboard == nil {
		opts.Dashboard = fstest.MapFS{}
	}
	h, err := NewRouter(svc, opts)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return h, logs
}

// publicOpts and privateOpts are the two instance kinds.
func publicOpts() Options  { return Options{AllowedOrigins: []string{"*"}, Version: "1.2.3"} }
func privateOpts() Options { return Options{AllowedOrigins: []string{"https://app.example.com"}} }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// req is a request under construction.
type req struct {
	method, path string
	body         io.Reader
	ctype        string
	email        string // X-Remote-Email when set
	header       http.Header
	remote       string
}

func (r req) do(h http.Handler) *httptest.ResponseRecorder {
	hr := httptest.NewRequest(r.method, r.path, r.body)
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.email != "" {
		hr.Header.Set("X-Remote-Email", r.email)
		hr.Header.Set("X-Remote-User", strings.Split(r.email, "@")[0])
	}
	for k, vs := range r.header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

func get(path, email string) req { return req{method: http.MethodGet, path: path, email: email} }

// form returns a urlencoded POST.
func form(path, email string, kv ...string) req {
	v := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		v = append(v, kv[i]+"="+strings.ReplaceAll(kv[i+1], "&", "%26"))
	}
	return req{method: http.MethodPost, path: path, email: email,
		body: strings.NewReader(strings.Join(v, "&")), ctype: "application/x-www-form-urlencoded"}
}

// part is one multipart part; a non-empty filename makes it a file part.
type part struct{ name, filename, value string }

// multipartBody encodes parts in order.
func multipartBody(t testing.TB, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			h := make(map[string][]string)
			h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.filename)}
			h["Content-Type"] = []string{"application/octet-stream"}
			w, err = mw.CreatePart(h)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.value)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func protectReq(t testing.TB, path, email string, parts ...part) req {
	body, ct := multipartBody(t, parts...)
	return req{method: http.MethodPost, path: path, email: email, body: body, ctype: ct}
}

// decode parses a JSON response body into a generic map.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, w.Body.String())
	}
	return m
}

// keys returns the sorted keys of a JSON object, joined with commas.
func keys(t *testing.T, v any) string {
	t.Helper()
	m, isObj := v.(map[string]any)
	if !isObj {
		t.Fatalf("not a JSON object: %#v", v)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

// wantSuccess checks a 200 {code, status: "success", data} and returns data.
func wantSuccess(t *testing.T, w *httptest.ResponseRecorder) any {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", w.Code, w.Body.String())
	}
	m := decode(t, w)
	if got := keys(t, m); got != "code,data,status" {
		t.Fatalf("envelope keys %q, want code,data,status", got)
	}
	if m["code"] != float64(200) || m["status"] != "success" {
		t.Fatalf("envelope %v, want code 200 status success", m)
	}
	return m["data"]
}

// wantError checks {code, status: "error", message} with the given code and
// a message containing msg; it returns the message.
func wantError(t *testing.T, w *httptest.ResponseRecorder, code int, msg string) string {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body %s", w.Code, code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	m := decode(t, w)
	if got := keys(t, m); got != "code,message,status" {
		t.Fatalf("error keys %q, want code,message,status", got)
	}
	if m["code"] != float64(code) || m["status"] != "error" {
		t.Fatalf("error body %v, want code %d status error", m, code)
	}
	s, _ := m["message"].(string)
	if !strings.Contains(s, msg) {
		t.Fatalf("message %q does not contain %q", s, msg)
	}
	return s
}
