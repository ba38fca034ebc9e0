package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// fakeAPI is an in-memory stand-in for the proxy's REST API, with knobs to
// misbehave the ways a real network and a broken proxy do.
type fakeAPI struct {
	mu    sync.Mutex
	files map[string]*fakeFile

	// Knobs.
	private        bool                 // 401 without identity headers
	renew          bool                 // serve POST /api/file/renew
	retrieveMode   string               // "", "short", "abort", "integrity-false", "no-integrity", "stall"
	onFileRead     func(received int64) // called as protect reads the file part
	midRetrieve    func(written int64)  // called after the first half of a retrieve body
	storage        map[string]any       // data of GET /api/storage
	extraFileField map[string]any       // extra fields added to every listed file
	forceError     func(r *http.Request) (code int, msg string, ok bool)
	stall          chan struct{} // closed at cleanup; "stall" waits on it

	// Records.
	protects  []protectRecord
	retrieves int
	headers   []http.Header
}

type fakeFile struct {
	data    []byte
	k, n    int
	expired bool
	when    time.Time
}

type protectRecord struct {
	parts         []string // form names in the order they arrived
	threshold     string
	servers       string
	filename      string
	data          []byte
	contentLength int64
	rejected      int // status when refused, 0 when stored
}

func newFake(t *testing.T) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{files: map[string]*fakeFile{}, stall: make(chan struct{})}
	f.storage = map[string]any{
		"servers":   []string{"storage-1", "storage-2", "storage-3"},
		"locations": []string{"paris", "", "lyon"},
		"hosts":     []string{"127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40003"},
		"pings":     []float64{0.42, -1, 12.6},
		"connected": []bool{true, false, true},
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.stall)
		srv.CloseClientConnections()
		srv.Close()
	})
	return f, srv
}

func (f *fakeAPI) put(name string, data []byte, k, n int, expired bool, when time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[name] = &fakeFile{data: data, k: k, n: n, expired: expired, when: when}
}

func (f *fakeAPI) file(name string) (*fakeFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ff, ok := f.files[name]
	return ff, ok
}

func writeData(w http.ResponseWriter, code int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "status": "success", "data": data})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "status": "error", "message": msg})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	forceError := f.forceError
	f.mu.Unlock()
	if forceError != nil {
		if code, msg, ok := forceError(r); ok {
			writeError(w, code, msg)
			return
		}
	}
	if f.private && (r.Header.Get("X-Remote-User") == "" || r.Header.Get("X-Remote-Email") == "") {
		writeError(w, http.StatusUnauthorized, "identity headers missing")
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /api/storage":
		f.mu.Lock()
		data := f.storage
		f.mu.Unlock()
		writeData(w, 200, data)
	case "GET /api/configuration":
		writeData(w, 200, map[string]any{"version": "test", "limit": 3, "max_file_size": 1000000000})
	case "GET /api/file":
		f.list(w)
	case "POST /api/file/protect":
		f.protect(w, r)
	case "POST /api/file/retrieve":
		f.retrieve(w, r)
	case "POST /api/file/remove":
		name := r.PostFormValue("name")
		f.mu.Lock()
		_, ok := f.files[name]
		delete(f.files, name)
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "file "+strconv.Quote(name)+" not found")
			return
		}
		writeData(w, 200, nil)
	case "POST /api/file/renew":
		if !f.renew {
			writeError(w, http.StatusNotFound, "no route POST /api/file/renew") // as webui's router
			return
		}
		name := r.PostFormValue("name")
		if _, ok := f.file(name); !ok {
			writeError(w, http.StatusNotFound, "file "+strconv.Quote(name)+" not found")
			return
		}
		writeData(w, 200, nil)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) list(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	files := []map[string]any{}
	for name, ff := range f.files {
		m := map[string]any{
			"filename": name, "size": len(ff.data), "k": ff.k, "n": ff.n,
			"storage_servers":    []string{"storage-1", "storage-2", "storage-3"}[:ff.n],
			"date_of_protection": ff.when, "last_renewal": ff.when,
			"expired": ff.expired, "hash": []int{1, 2, 255},
		}
		for k, v := range f.extraFileField {
			m[k] = v
		}
		files = append(files, m)
	}
	writeData(w, 200, map[string]any{"files": files, "percentage": 12.5})
}

// protect reads the multipart body part by part, as the real proxy must:
// the threshold has to arrive before the file.
func (f *fakeAPI) protect(w http.ResponseWriter, r *http.Request) {
	rec := protectRecord{contentLength: r.ContentLength}
	defer func() {
		f.mu.Lock()
		f.protects = append(f.protects, rec)
		f.mu.Unlock()
	}()
	mr, err := r.MultipartReader()
	if err != nil {
		rec.rejected = 400
		writeError(w, 400, "not a multipart body")
		return
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			rec.rejected = 400
			writeError(w, 400, "bad multipart body: "+err.Error())
			return
		}
		rec.parts = append(rec.parts, p.FormName())
		switch p.FormName() {
		case "threshold":
			b, _ := io.ReadAll(p)
			rec.threshold = string(b)
		case "storage_servers":
			b, _ := io.ReadAll(p)
			rec.servers = string(b)
		case "file":
			rec.filename = p.FileName()
			if rec.threshold == "" {
				rec.rejected = 400
				writeError(w, 400, "the threshold must come before the file")
				return
			}
			if _, exists := f.file(rec.filename); exists {
				// Refused on the part header, before reading the content,
				// as the real proxy does.
				rec.rejected = 409
				writeError(w, http.StatusConflict, "the file name "+strconv.Quote(rec.filename)+" is already used")
				return
			}
			var buf bytes.Buffer
			chunk := make([]byte, 64<<10)
			for {
				n, err := p.Read(chunk)
				buf.Write(chunk[:n])
				if n > 0 && f.onFileRead != nil {
					f.onFileRead(int64(buf.Len()))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					rec.rejected = 400
					writeError(w, 400, "reading the file: "+err.Error())
					return
				}
			}
			rec.data = buf.Bytes()
		}
	}
	if rec.filename == "" {
		rec.rejected = 400
		writeError(w, 400, "missing file field")
		return
	}
	k, _ := strconv.Atoi(rec.threshold)
	f.put(rec.filename, rec.data, k, 3, false, time.Now())
	writeData(w, 200, nil)
}

func (f *fakeAPI) retrieve(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	f.mu.Lock()
	f.retrieves++
	mode, mid := f.retrieveMode, f.midRetrieve
	f.mu.Unlock()
	ff, ok := f.file(name)
	if !ok {
		writeError(w, http.StatusNotFound, "file "+strconv.Quote(name)+" not found")
		return
	}
	half := len(ff.data) / 2
	switch mode {
	case "integrity-false":
		w.Header().Set("X-File-Integrity", "false")
	case "no-integrity":
	default:
		w.Header().Set("X-File-Integrity", "true")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	switch mode {
	case "short":
		// Announces more than it sends; the server then drops the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(ff.data)+100))
		w.Write(ff.data)
		return
	case "abort":
		// Chunked, cut off in the middle.
		w.Write(ff.data[:half])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case "stall":
		w.Header().Set("Content-Length", strconv.Itoa(len(ff.data)))
		w.Write(ff.data[:half])
		w.(http.Flusher).Flush()
		select {
		case <-f.stall:
		case <-r.Context().Done():
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(ff.data)))
	w.Write(ff.data[:half])
	w.(http.Flusher).Flush()
	if mid != nil {
		mid(int64(half))
	}
	w.Write(ff.data[half:])
}

func (f *fakeAPI) lastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.headers) == 0 {
		return nil
	}
	return f.headers[len(f.headers)-1]
}

func (f *fakeAPI) lastProtect(t *testing.T) protectRecord {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.protects) == 0 {
		t.Fatal("the fake API received no protect request")
	}
	return f.protects[len(f.protects)-1]
}

// result is the outcome of one CLI run, as main.go reports it.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the client commands in-process the way main.go mounts them,
// with standard input, output and error captured.
func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &cli.App{
		Name:           "qasmat",
		Writer:         &stdout,
		ErrWriter:      &stderr,
		Reader:         stdin,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       Commands(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := app.RunContext(ctx, append([]string{"qasmat"}, args...))
	res := result{code: 0}
	if err != nil {
		code, hint, ok := ExitStatus(err)
		if !ok {
			t.Fatalf("qasmat %s: error %v (%T) is not an *ExitError", strings.Join(args, " "), err, err)
		}
		res.code = code
		stderr.WriteString("qasmat: error: " + err.Error() + "\n")
		if hint != "" {
			stderr.WriteString("qasmat: hint: " + hint + "\n")
		}
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}
