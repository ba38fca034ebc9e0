package webui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProtectStoresFile(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	w := protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"},
		part{name: "file", filename: "été 2026.txt", value: "hello world"}).do(h)
	if d := wantSuccess(t, w); d != nil {
		t.Fatalf("data %v, want null", d)
	}
	f := svc.files[alice]["été 2026.txt"]
	if f == nil || string(f.data) != "hello world" {
		t.Fatalf("stored %+v", f)
	}
	if svc.lastProtect.K != 2 || svc.lastProtect.Servers != nil {
		t.Fatalf("request %+v, want K 2 and nil servers (all connected)", svc.lastProtect)
	}
	if svc.lastUser.Email != alice {
		t.Fatalf("acted for %+v", svc.lastUser)
	}
}

func TestProtectEmptyFile(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantSuccess(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"},
		part{name: "file", filename: "empty", value: ""}).do(h))
	if f := svc.files[alice]["empty"]; f == nil || len(f.data) != 0 {
		t.Fatalf("empty file not stored: %+v", f)
	}
}

func TestProtectNameFieldOverridesFilename(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantSuccess(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"},
		part{name: "name", value: "chosen.txt"},
		part{name: "file", filename: "upload.bin", value: "x"}).do(h))
	if svc.lastProtect.Name != "chosen.txt" {
		t.Fatalf("name %q", svc.lastProtect.Name)
	}
}

func TestProtectThresholdInQuery(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantSuccess(t, protectReq(t, "/api/file/protect?threshold=2", alice,
		part{name: "file", filename: "a", value: "x"}).do(h))
	if svc.lastProtect.K != 2 {
		t.Fatalf("K %d", svc.lastProtect.K)
	}
	// Query and field must agree.
	wantError(t, protectReq(t, "/api/file/protect?threshold=2", alice,
		part{name: "threshold", value: "3"},
		part{name: "file", filename: "b", value: "x"}).do(h), 400, "disagrees")
}

// Every refused upload: its status, its message, and the service untouched.
func TestProtectRefusals(t *testing.T) {
	long := strings.Repeat("a", MaxFileNameBytes+1)
	cases := []struct {
		name  string
		parts []part
		code  int
		msg   string
	}{
		{"threshold not a number", []part{{name: "threshold", value: "two"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold 1", []part{{name: "threshold", value: "1"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold 0", []part{{name: "threshold", value: "0"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold negative", []part{{name: "threshold", value: "-3"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold fraction", []part{{name: "threshold", value: "2.5"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold empty", []part{{name: "threshold", value: ""}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"threshold huge", []part{{name: "threshold", value: "99999999999999999999999"}, {name: "file", filename: "a", value: "x"}}, 400, msgThreshold},
		{"file before threshold", []part{{name: "file", filename: "a", value: "x"}, {name: "threshold", value: "2"}}, 400, msgThresholdFirst},
		{"no threshold", []part{{name: "file", filename: "a", value: "x"}}, 400, msgThresholdFirst},
		{"no file", []part{{name: "threshold", value: "2"}}, 400, msgFileMissing},
		{"file without name", []part{{name: "threshold", value: "2"}, {name: "file", value: "x"}}, 400, "the file has no name"},
		{"empty name field", []part{{name: "threshold", value: "2"}, {name: "name", value: ""}, {name: "file", filename: "a", value: "x"}}, 400, "the file name is empty"},
		{"dot", []part{{name: "threshold", value: "2"}, {name: "file", filename: ".", value: "x"}}, 400, `cannot be "."`},
		{"dot dot", []part{{name: "threshold", value: "2"}, {name: "file", filename: "..", value: "x"}}, 400, `cannot be ".."`},
		{"slash", []part{{name: "threshold", value: "2"}, {name: "file", filename: "../etc/passwd", value: "x"}}, 400, "path separator '/'"},
		{"backslash", []part{{name: "threshold", value: "2"}, {name: "name", value: `a\b`}, {name: "file", filename: "a", value: "x"}}, 400, `path separator '\\'`},
		{"control character", []part{{name: "threshold", value: "2"}, {name: "name", value: "a\x01b"}, {name: "file", filename: "a", value: "x"}}, 400, "control character U+0001"},
		{"newline", []part{{name: "threshold", value: "2"}, {name: "name", value: "a\nb"}, {name: "file", filename: "a", value: "x"}}, 400, "control character U+000A"},
		{"bidi override", []part{{name: "threshold", value: "2"}, {name: "name", value: "a\u202Eb"}, {name: "file", filename: "a", value: "x"}}, 400, "control character U+202E"},
		{"too long", []part{{name: "threshold", value: "2"}, {name: "name", value: long}, {name: "file", filename: "a", value: "x"}}, 400, "256 bytes long"},
		{"invalid UTF-8", []part{{name: "threshold", value: "2"}, {name: "name", value: "a\xffb"}, {name: "file", filename: "a", value: "x"}}, 400, "not valid UTF-8"},
		{"storage_servers not JSON", []part{{name: "threshold", value: "2"}, {name: "storage_servers", value: "s1,s2"}, {name: "file", filename: "a", value: "x"}}, 400, "storage_servers must be a JSON list"},
		{"storage_servers duplicate", []part{{name: "threshold", value: "2"}, {name: "storage_servers", value: `["s1","s1"]`}, {name: "file", filename: "a", value: "x"}}, 400, `names "s1" twice`},
		{"threshold above chosen servers", []part{{name: "threshold", value: "3"}, {name: "storage_servers", value: `["s1","s2"]`}, {name: "file", filename: "a", value: "x"}}, 400, "greater than the 2 storage servers chosen"},
		{"long field", []part{{name: "threshold", value: "2"}, {name: "comment", value: strings.Repeat("z", maxFieldBytes+1)}, {name: "file", filename: "a", value: "x"}}, 400, "longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := newFake()
			h, _ := testRouter(t, svc, publicOpts())
			wantError(t, protectReq(t, "/api/file/protect", alice, tc.parts...).do(h), tc.code, tc.msg)
			if n := svc.called("protect"); n != 0 {
				t.Fatalf("Protect was called %d times", n)
			}
		})
	}
}

func TestProtectNotMultipart(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantError(t, form("/api/file/protect", alice, "threshold", "2", "file", "x").do(h), 400, "multipart/form-data")
	if svc.called("protect") != 0 {
		t.Fatal("Protect called")
	}
}

func TestProtectMalformedMultipart(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	r := req{method: "POST", path: "/api/file/protect", email: alice, ctype: "multipart/form-data; boundary=xyz",
		body: strings.NewReader("--xyz\r\nContent-Disposition: form-data; name=\"threshold\"\r\n\r\n2")}
	wantError(t, r.do(h), 400, "malformed request body")
	if svc.called("protect") != 0 {
		t.Fatal("Protect called")
	}
}

func TestProtectServiceErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"threshold above connected", nil, 400, "greater than the 2 connected storage servers"},
		{"unavailable", Errorf(ErrUnavailable, "storage servers s2, s3 are not connected"), 503, "s2, s3 are not connected"},
		{"forbidden", fmt.Errorf("%w: quota exceeded", ErrForbidden), 403, "quota exceeded"},
		{"unknown", errors.New("noise: handshake failed with s2"), 500, internalMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := newFake()
			svc.protectErr = tc.err
			h, _ := testRouter(t, svc, publicOpts())
			k := "2"
			if tc.err == nil {
				k = "3"
			}
			wantError(t, protectReq(t, "/api/file/protect", alice,
				part{name: "threshold", value: k}, part{name: "file", filename: "a", value: "x"}).do(h), tc.code, tc.msg)
			if len(svc.files[alice]) != 0 {
				t.Fatal("a file was stored")
			}
		})
	}
}

func TestProtectNameInUse(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a.txt", []byte("old"))
	h, _ := testRouter(t, svc, publicOpts())
	wantError(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "a.txt", value: "new"}).do(h), 409, `"a.txt" already exists`)
	if string(svc.files[alice]["a.txt"].data) != "old" {
		t.Fatal("the existing file changed")
	}
	// Another user may use the same name.
	wantSuccess(t, protectReq(t, "/api/file/protect", bob,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "a.txt", value: "bob's"}).do(h))
}

// countingReader counts what the handler consumed of a request body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endlessUpload is a multipart body whose file part holds size bytes,
// produced lazily.
func endlessUpload(t *testing.T, size int64) (io.Reader, string) {
	head, ct := multipartBody(t, part{name: "threshold", value: "2"})
	// Re-open the writer's trailing boundary: build head and tail by hand.
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	headStr := strings.TrimSuffix(head.String(), "--"+boundary+"--\r\n")
	headStr += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	return io.MultiReader(strings.NewReader(headStr), io.LimitReader(zeroReader{}, size), strings.NewReader(tail)), ct
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestProtectTooLargeStopsReading(t *testing.T) {
	const limit = 256 << 10
	const size = 64 << 20
	svc := newFake()
	h, _ := testRouter(t, svc, Options{AllowedOrigins: []string{"*"}, MaxFileSize: limit})
	body, ct := endlessUpload(t, size)
	cr := &countingReader{r: body}
	// No Content-Length (chunked): only reading can find the size out.
	w := req{method: "POST", path: "/api/file/protect", email: alice, body: cr, ctype: ct}.do(h)
	wantError(t, w, http.StatusRequestEntityTooLarge, fmt.Sprintf("maximum file size of %d bytes", limit))
	if cr.n > 4<<20 {
		t.Fatalf("read %d bytes of a %d-byte upload before refusing it", cr.n, size)
	}
	if svc.called("protect") != 1 || len(svc.files[alice]) != 0 {
		t.Fatal("the service must have been stopped with nothing stored")
	}
}

func TestProtectExactlyAtLimit(t *testing.T) {
	const limit = 1000
	svc := newFake()
	h, _ := testRouter(t, svc, Options{AllowedOrigins: []string{"*"}, MaxFileSize: limit})
	wantSuccess(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "a", value: strings.Repeat("x", limit)}).do(h))
	wantError(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "b", value: strings.Repeat("x", limit+1)}).do(h), 413, "maximum file size")
}

func TestProtectContentLengthRefusedUnread(t *testing.T) {
	const limit = 1 << 20
	svc := newFake()
	h, _ := testRouter(t, svc, Options{AllowedOrigins: []string{"*"}, MaxFileSize: limit})
	body, ct := endlessUpload(t, 1<<30)
	cr := &countingReader{r: body}
	hr := httptest.NewRequest("POST", "/api/file/protect", cr)
	hr.Header.Set("Content-Type", ct)
	hr.Header.Set("X-Remote-Email", alice)
	hr.ContentLength = 1 << 30
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	wantError(t, w, 413, "maximum file size is 1048576 bytes")
	if svc.called("protect") != 0 {
		t.Fatal("Protect called")
	}
	if cr.n > drainAfterError {
		t.Fatalf("read %d bytes", cr.n)
	}
}

// Over a real connection, a client still sending a too-large upload reads
// the JSON error rather than a reset.
func TestProtectTooLargeClientSeesJSON(t *testing.T) {
	const limit = 64 << 10
	svc := newFake()
	h, _ := testRouter(t, svc, Options{AllowedOrigins: []string{"*"}, MaxFileSize: limit})
	srv := httptest.NewServer(h)
	defer srv.Close()
	body, ct := endlessUpload(t, 8<<20)
	hr, _ := http.NewRequest("POST", srv.URL+"/api/file/protect", body)
	hr.Header.Set("Content-Type", ct)
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatalf("client saw a transport error instead of the 413: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"status":"error"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestProtectInterruptedUploadIsClientError(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	body, ct := endlessUpload(t, 1<<20)
	broken := io.MultiReader(io.LimitReader(body, 100_000), errReader{io.ErrUnexpectedEOF})
	w := req{method: "POST", path: "/api/file/protect", email: alice, body: broken, ctype: ct}.do(h)
	wantError(t, w, 400, "interrupted")
	if len(svc.files[alice]) != 0 {
		t.Fatal("stored")
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A service that stops reading early must not get a success.
func TestProtectServiceStoppingEarlyIsNoSuccess(t *testing.T) {
	svc := newFake()
	svc.protectBody = func(r io.Reader) error {
		_, err := io.ReadFull(r, make([]byte, 10))
		return err
	}
	h, logs := testRouter(t, svc, publicOpts())
	wantError(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "a", value: strings.Repeat("x", 100)}).do(h), 500, "internal")
	if !strings.Contains(logs.String(), "without reading it to the end") {
		t.Fatal("not logged")
	}
}

// Invariant 1: the upload is streamed; nothing of it lands in the temp
// folder (as ParseMultipartForm or gin's FormFile would do past 32 MiB).
func TestProtectWritesNoTempFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	before := listFiles(t, tmp)
	const marker = "QASMAT-MARKER-7f3a9c"
	svc := newFake()
	var got int64
	sawMarker := false
	svc.protectBody = func(r io.Reader) error {
		b, err := io.ReadAll(r)
		got = int64(len(b))
		sawMarker = bytes.Contains(b, []byte(marker))
		return err
	}
	h, _ := testRouter(t, svc, Options{AllowedOrigins: []string{"*"}, MaxFileSize: 64 << 20})
	const size = 40 << 20 // above gin's 32 MiB in-memory multipart limit
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("threshold", "2")
		fw, _ := mw.CreateFormFile("file", "marked.bin")
		chunk := bytes.Repeat([]byte(marker+" "), 1<<10)
		var n int64
		for n < size {
			k, err := fw.Write(chunk)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			n += int64(k)
		}
		mw.Close()
		pw.Close()
	}()
	wantSuccess(t, req{method: "POST", path: "/api/file/protect", email: alice, body: pr, ctype: mw.FormDataContentType()}.do(h))
	if got < size || !sawMarker {
		t.Fatalf("service read %d bytes (marker seen: %v)", got, sawMarker)
	}
	for f := range listFiles(t, tmp) {
		if before[f] {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			t.Fatalf("temp file %s holds the upload", f)
		}
		t.Errorf("protect created temp file %s", f)
	}
}

func listFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[p] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
