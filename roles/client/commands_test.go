package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noPartFiles fails if a temporary download file was left in dir.
func noPartFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

func TestPutSendsThresholdFirstAndTheExactBytes(t *testing.T) {
	fake, srv := newFake(t)
	data := testBytes(3<<20+17, 1)
	path := writeTemp(t, "report.bin", data)

	res := runCLI(t, nil, "put", "--api", srv.URL, "-k", "2", "--servers", "storage-1, storage-3", path)
	res.want(t, ExitOK)

	rec := fake.lastProtect(t)
	if got, want := strings.Join(rec.parts, ","), "threshold,storage_servers,file"; got != want {
		t.Errorf("parts arrived as %s, want %s", got, want)
	}
	if rec.threshold != "2" {
		t.Errorf("threshold %q, want 2", rec.threshold)
	}
	if rec.servers != `["storage-1","storage-3"]` {
		t.Errorf("storage_servers %q", rec.servers)
	}
	if rec.filename != "report.bin" {
		t.Errorf("file name %q, want the base name report.bin", rec.filename)
	}
	if !bytes.Equal(rec.data, data) {
		t.Errorf("the API received %d bytes that differ from the %d bytes of the file", len(rec.data), len(data))
	}
	if rec.contentLength <= int64(len(data)) {
		t.Errorf("Content-Length %d: a regular file's upload should announce its exact length", rec.contentLength)
	}
	if !strings.Contains(res.stdout, "protected report.bin (3.0 MiB), threshold k=2") {
		t.Errorf("stdout: %q", res.stdout)
	}
}

// The upload must stream: the API sees the first bytes while the source
// still withholds the rest. A client that read the whole input first would
// never get there.
func TestPutStreamsFromStandardInput(t *testing.T) {
	fake, srv := newFake(t)
	first := testBytes(1<<20, 2)
	rest := testBytes(2<<20, 3)
	got1MiB := make(chan struct{})
	var once bool
	fake.onFileRead = func(n int64) {
		if n >= int64(len(first)) && !once {
			once = true
			close(got1MiB)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write(first)
		select {
		case <-got1MiB:
			pw.Write(rest)
			pw.Close()
		case <-time.After(10 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	res := runCLI(t, pr, "put", "-", "--name", "piped", "-k", "2", "--api", srv.URL)
	res.want(t, ExitOK)
	rec := fake.lastProtect(t)
	if !bytes.Equal(rec.data, append(append([]byte{}, first...), rest...)) {
		t.Fatalf("the API received %d bytes, not the %d piped", len(rec.data), len(first)+len(rest))
	}
	if rec.contentLength != -1 {
		t.Errorf("Content-Length %d for standard input, want chunked (-1)", rec.contentLength)
	}
}

func TestPutFlagsAfterTheFileAndDefaultThreshold(t *testing.T) {
	fake, srv := newFake(t)
	path := writeTemp(t, "a.txt", []byte("hello"))

	runCLI(t, nil, "put", path, "--name", "b.txt", "--api", srv.URL).want(t, ExitOK)
	rec := fake.lastProtect(t)
	if rec.filename != "b.txt" || rec.threshold != "3" {
		t.Errorf("name %q threshold %q, want b.txt and the default 3", rec.filename, rec.threshold)
	}
	if strings.Contains(strings.Join(rec.parts, ","), "storage_servers") {
		t.Error("storage_servers sent although --servers was not given")
	}

	runCLI(t, nil, "put", path, "-k=2", "--api="+srv.URL).want(t, ExitOK)
	if rec := fake.lastProtect(t); rec.filename != "a.txt" || rec.threshold != "2" {
		t.Errorf("name %q threshold %q, want a.txt and 2", rec.filename, rec.threshold)
	}
}

// The proxy refuses a used name on the file part's header, before reading
// the content; the client must report the API's message, not a write error.
func TestPutConflictExitsWith4AndTheAPIMessage(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("big.bin", []byte("old"), 2, 3, false, time.Now())
	path := writeTemp(t, "big.bin", testBytes(8<<20, 4))

	res := runCLI(t, nil, "put", "--api", srv.URL, path)
	res.want(t, ExitConflict)
	if !strings.Contains(res.stderr, `qasmat: error: the file name "big.bin" is already used`) {
		t.Errorf("stderr: %q", res.stderr)
	}
	if !strings.Contains(res.stderr, "qasmat: hint: choose another name with --name") {
		t.Errorf("no hint in stderr: %q", res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("stdout %q, want nothing", res.stdout)
	}
}

func TestPutUsageErrors(t *testing.T) {
	_, srv := newFake(t)
	path := writeTemp(t, "x", []byte("x"))
	cases := [][]string{
		{"put", "--api", srv.URL},                       // no FILE
		{"put", "--api", srv.URL, "-k", "1", path},      // k below 2
		{"put", "--api", srv.URL, "-"},                  // stdin without --name
		{"put", "--api", srv.URL, path, "--bogus"},      // unknown flag after the argument
		{"put", "--api", srv.URL, "--bogus", path},      // unknown flag before it
		{"put", "--api", srv.URL, path, "-k"},           // flag without its value
		{"put", "--api", "ftp://example.com", path},     // not an HTTP URL
		{"put", "--api", srv.URL, filepath.Dir(path)},   // a folder
		{"ls", "--api", srv.URL, "extra"},               // ls takes no argument
		{"get", "--api", srv.URL, "a", "b"},             // two names
		{"get", "--api", srv.URL, "--timeout=-1s", "a"}, // negative timeout
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := runCLI(t, nil, args...)
			res.want(t, ExitUsage)
			if !strings.HasPrefix(res.stderr, "qasmat: error: ") {
				t.Errorf("stderr %q does not start with the one error path", res.stderr)
			}
		})
	}
}

func TestGetWritesTheExactBytesUnderTheName(t *testing.T) {
	fake, srv := newFake(t)
	data := testBytes(1<<20+3, 5)
	fake.put("photo.jpg", data, 2, 3, false, time.Now())
	dir := t.TempDir()
	t.Chdir(dir)

	res := runCLI(t, nil, "get", "photo.jpg", "--api", srv.URL)
	res.want(t, ExitOK)
	got, err := os.ReadFile(filepath.Join(dir, "photo.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes that differ from the %d stored", len(got), len(data))
	}
	noPartFiles(t, dir)
	if !strings.Contains(res.stdout, "retrieved photo.jpg -> photo.jpg (1.0 MiB, integrity verified)") {
		t.Errorf("stdout %q", res.stdout)
	}
}

// The bytes stream into a temporary file in the destination folder while
// the transfer runs; the destination appears only at the end.
func TestGetStreamsIntoATemporaryFileBesideTheDestination(t *testing.T) {
	fake, srv := newFake(t)
	data := testBytes(4<<20, 6)
	fake.put("movie", data, 2, 3, false, time.Now())
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.bin")
	var sawPart, sawDest bool
	fake.midRetrieve = func(half int64) {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !sawPart {
			matches, _ := filepath.Glob(filepath.Join(dir, ".out.bin.*.part"))
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Size() >= half {
					sawPart = true
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		_, err := os.Stat(dest)
		sawDest = err == nil
	}
	runCLI(t, nil, "get", "movie", "-o", dest, "--api", srv.URL).want(t, ExitOK)
	if !sawPart {
		t.Error("no temporary file holding the first half appeared beside the destination during the transfer")
	}
	if sawDest {
		t.Error("the destination existed before the transfer completed")
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Error("wrong bytes in the destination")
	}
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("destination mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	noPartFiles(t, dir)
}

func TestGetBrokenTransferLeavesNoFile(t *testing.T) {
	for _, mode := range []string{"short", "abort", "integrity-false", "no-integrity"} {
		t.Run(mode, func(t *testing.T) {
			fake, srv := newFake(t)
			fake.put("f", testBytes(256<<10, 7), 2, 3, false, time.Now())
			fake.retrieveMode = mode
			dir := t.TempDir()
			dest := filepath.Join(dir, "f")

			res := runCLI(t, nil, "get", "f", "-o", dest, "--api", srv.URL)
			res.want(t, ExitIntegrity)
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Errorf("output file exists after a failed transfer (%v)", err)
			}
			noPartFiles(t, dir)

			// With --force over an existing file, the old file stays intact.
			os.WriteFile(dest, []byte("keep me"), 0o644)
			runCLI(t, nil, "get", "f", "-o", dest, "--force", "--api", srv.URL).want(t, ExitIntegrity)
			if got, _ := os.ReadFile(dest); string(got) != "keep me" {
				t.Errorf("existing file replaced by a failed transfer: %q", got)
			}
			noPartFiles(t, dir)
			if !strings.Contains(res.stderr, "qasmat: hint: nothing was written") {
				t.Errorf("stderr %q", res.stderr)
			}
		})
	}
}

// A transfer that stalls mid-body is broken off after --timeout.
func TestGetStalledTransferTimesOut(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("f", testBytes(256<<10, 8), 2, 3, false, time.Now())
	fake.retrieveMode = "stall"
	dir := t.TempDir()
	start := time.Now()
	res := runCLI(t, nil, "get", "f", "-o", filepath.Join(dir, "f"), "--timeout", "300ms", "--api", srv.URL)
	res.want(t, ExitIntegrity)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("gave up after %s, want about 300ms", elapsed)
	}
	if !strings.Contains(res.stderr, "nothing moved for 300ms") {
		t.Errorf("stderr %q does not say it timed out", res.stderr)
	}
	noPartFiles(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "f")); !os.IsNotExist(err) {
		t.Error("output file exists after a stalled transfer")
	}
}

func TestGetRefusesToOverwriteWithoutForce(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("doc", []byte("new content"), 2, 3, false, time.Now())
	dest := writeTemp(t, "doc", []byte("old content"))

	res := runCLI(t, nil, "get", "doc", "-o", dest, "--api", srv.URL)
	res.want(t, ExitConflict)
	if got, _ := os.ReadFile(dest); string(got) != "old content" {
		t.Errorf("file overwritten without --force: %q", got)
	}
	if fake.retrieves != 0 {
		t.Errorf("%d retrieve requests made although the output exists", fake.retrieves)
	}
	if !strings.Contains(res.stderr, "--force") {
		t.Errorf("hint does not mention --force: %q", res.stderr)
	}

	runCLI(t, nil, "get", "doc", "-o", dest, "--force", "--api", srv.URL).want(t, ExitOK)
	if got, _ := os.ReadFile(dest); string(got) != "new content" {
		t.Errorf("--force did not replace the file: %q", got)
	}
}

func TestSaveFileNeverReplacesAFileThatAppearedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "x")
	r := io.MultiReader(strings.NewReader("new"), readerFunc(func([]byte) (int, error) {
		os.WriteFile(dest, []byte("someone else's"), 0o644)
		return 0, io.EOF
	}))
	_, err := SaveFile(dest, r, false)
	if !errors.Is(err, ErrFileExists) {
		t.Fatalf("err %v, want ErrFileExists", err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "someone else's" {
		t.Errorf("file replaced: %q", got)
	}
	noPartFiles(t, dir)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestGetToStandardOutputAndIntoAFolder(t *testing.T) {
	fake, srv := newFake(t)
	data := testBytes(100<<10, 9)
	fake.put("blob", data, 2, 3, false, time.Now())

	res := runCLI(t, nil, "get", "blob", "-o", "-", "--api", srv.URL)
	res.want(t, ExitOK)
	if res.stdout != string(data) {
		t.Errorf("stdout holds %d bytes, want exactly the %d of the file", len(res.stdout), len(data))
	}

	dir := t.TempDir()
	res = runCLI(t, nil, "get", "--api", srv.URL, "-o", dir, "--json", "blob")
	res.want(t, ExitOK)
	if got, _ := os.ReadFile(filepath.Join(dir, "blob")); !bytes.Equal(got, data) {
		t.Error("-o FOLDER did not write FOLDER/NAME")
	}
	var summary struct {
		Filename, Path string
		Size           int64
	}
	if err := json.Unmarshal([]byte(res.stdout), &summary); err != nil || summary.Size != int64(len(data)) || summary.Path != filepath.Join(dir, "blob") {
		t.Errorf("--json summary %q (%v)", res.stdout, err)
	}
}

func TestLsTableAndJSON(t *testing.T) {
	fake, srv := newFake(t)
	when := time.Date(2026, 11, 28, 10, 24, 0, 0, time.UTC)
	fake.put("report.pdf", testBytes(1536, 10), 2, 3, false, when)
	fake.put("a-much-longer-name.tar", testBytes(5<<20, 11), 3, 3, true, when)
	fake.extraFileField = map[string]any{"future_field": "kept"}

	res := runCLI(t, nil, "ls", "--api", srv.URL)
	res.want(t, ExitOK)
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header, two rows, footer; got:\n%s", res.stdout)
	}
	col := strings.Index(lines[0], "SIZE")
	date := when.Local().Format("2006-01-02 15:04")
	for _, l := range lines[1:3] {
		if strings.Index(l, " ") > col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q not aligned under the SIZE column at %d", l, col)
		}
		if !strings.Contains(l, date) {
			t.Errorf("row %q lacks the date %s", l, date)
		}
	}
	for _, want := range []string{"1.5 KiB", "2/3", "5.0 MiB", "3/3", "EXPIRED", "2 files, 5.0 MiB; storage used: 12.5%"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, res.stdout)
		}
	}

	res = runCLI(t, nil, "ls", "--json", "--api", srv.URL)
	res.want(t, ExitOK)
	var data struct {
		Files      []map[string]any `json:"files"`
		Percentage float64          `json:"percentage"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &data); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, res.stdout)
	}
	if len(data.Files) != 2 || data.Percentage != 12.5 || data.Files[0]["future_field"] != "kept" {
		t.Errorf("--json is not the API's data as sent: %s", res.stdout)
	}
	if strings.Count(res.stdout, "\n") != 1 {
		t.Errorf("--json output is not one line: %q", res.stdout)
	}
}

func TestServersTableAndJSON(t *testing.T) {
	_, srv := newFake(t)
	res := runCLI(t, nil, "servers", "--api", srv.URL)
	res.want(t, ExitOK)
	want := `NAME       HOST             LOCATION  PING    STATUS
storage-1  127.0.0.1:40001  paris     0.4 ms  connected
storage-2  127.0.0.1:40002  -         -       DISCONNECTED
storage-3  127.0.0.1:40003  lyon      13 ms   connected
2 of 3 storage servers connected
`
	if res.stdout != want {
		t.Errorf("servers printed:\n%s\nwant:\n%s", res.stdout, want)
	}

	res = runCLI(t, nil, "servers", "--json", "--api", srv.URL)
	res.want(t, ExitOK)
	var data map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &data); err != nil {
		t.Fatalf("--json output is not JSON: %v", err)
	}
	for _, k := range []string{"servers", "locations", "hosts", "pings", "connected"} {
		if _, ok := data[k]; !ok {
			t.Errorf("--json lacks %q: %s", k, res.stdout)
		}
	}
}

func TestRmRemovesAndThenReportsNotFound(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("gone", []byte("x"), 2, 3, false, time.Now())
	res := runCLI(t, nil, "rm", "gone", "--api", srv.URL)
	res.want(t, ExitOK)
	if res.stdout != "removed gone\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	if _, ok := fake.file("gone"); ok {
		t.Fatal("file still stored after rm")
	}
	res = runCLI(t, nil, "rm", "gone", "--api", srv.URL)
	res.want(t, ExitNotFound)
	if !strings.Contains(res.stderr, `qasmat: error: file "gone" not found`) {
		t.Errorf("stderr %q", res.stderr)
	}
}

func TestRenew(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("f", []byte("x"), 2, 3, false, time.Now())

	res := runCLI(t, nil, "renew", "f", "--api", srv.URL)
	res.want(t, ExitGeneral) // the route is missing: not "file not found"
	if !strings.Contains(res.stderr, "does not offer renewal") {
		t.Errorf("stderr %q", res.stderr)
	}

	fake.renew = true
	runCLI(t, nil, "renew", "f", "--api", srv.URL).want(t, ExitOK)
	runCLI(t, nil, "renew", "nope", "--api", srv.URL).want(t, ExitNotFound)
}

func TestAPIErrorsMapToExitCodes(t *testing.T) {
	cases := []struct {
		status int
		code   int
		hint   string
	}{
		{http.StatusBadRequest, ExitUsage, ""},
		{http.StatusUnauthorized, ExitGeneral, "--user and --email"},
		{http.StatusForbidden, ExitGeneral, "trusted proxies"},
		{http.StatusNotFound, ExitNotFound, "qasmat ls"},
		{http.StatusConflict, ExitConflict, ""},
		{http.StatusRequestEntityTooLarge, ExitGeneral, "max_file_size"},
		{http.StatusInternalServerError, ExitGeneral, ""},
		{http.StatusServiceUnavailable, ExitUnavailable, "storage servers"},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			fake, srv := newFake(t)
			msg := "message number " + http.StatusText(tc.status)
			fake.forceError = func(*http.Request) (int, string, bool) { return tc.status, msg, true }
			res := runCLI(t, nil, "rm", "x", "--api", srv.URL)
			res.want(t, tc.code)
			if !strings.HasPrefix(res.stderr, "qasmat: error: "+msg+"\n") {
				t.Errorf("stderr %q does not carry the API's message", res.stderr)
			}
			if tc.hint != "" && !strings.Contains(res.stderr, "qasmat: hint: ") || !strings.Contains(res.stderr, tc.hint) {
				t.Errorf("stderr %q lacks the hint %q", res.stderr, tc.hint)
			}
		})
	}
}

func TestRetrieveUnavailableExitsWith5(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("f", []byte("x"), 2, 3, false, time.Now())
	fake.forceError = func(r *http.Request) (int, string, bool) {
		return 503, "storage servers storage-2, storage-3 are not connected", r.URL.Path == "/api/file/retrieve"
	}
	dir := t.TempDir()
	res := runCLI(t, nil, "get", "f", "-o", filepath.Join(dir, "f"), "--api", srv.URL)
	res.want(t, ExitUnavailable)
	if !strings.Contains(res.stderr, "storage-2, storage-3 are not connected") {
		t.Errorf("stderr %q", res.stderr)
	}
	noPartFiles(t, dir)
}

func TestConnectionRefusedExitsWith7AndAHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"ls"}, {"put", writeTemp(t, "f", []byte("x"))}, {"get", "-o", "-", "f"}} {
		res := runCLI(t, nil, append(args, "--api", "http://"+addr)...)
		res.want(t, ExitUnreachable)
		if !strings.Contains(res.stderr, "qasmat: error: cannot reach the Qasmat API at http://"+addr+": connection refused") {
			t.Errorf("stderr %q", res.stderr)
		}
		if !strings.Contains(res.stderr, "qasmat: hint: is 'qasmat dev' or the proxy running? check --api") {
			t.Errorf("stderr %q lacks the hint", res.stderr)
		}
	}
}

func TestEnvironmentVariablesAndFlags(t *testing.T) {
	fake, srv := newFake(t)
	fake.private = true
	t.Setenv("QASMAT_API", srv.URL)
	t.Setenv("QASMAT_USER", "alice")
	t.Setenv("QASMAT_EMAIL", "alice@example.com")

	runCLI(t, nil, "ls").want(t, ExitOK)
	h := fake.lastHeader()
	if h.Get("X-Remote-User") != "alice" || h.Get("X-Remote-Email") != "alice@example.com" {
		t.Errorf("identity headers %q %q", h.Get("X-Remote-User"), h.Get("X-Remote-Email"))
	}

	runCLI(t, nil, "ls", "--email", "bob@example.com", "--user", "bob").want(t, ExitOK)
	if h := fake.lastHeader(); h.Get("X-Remote-Email") != "bob@example.com" || h.Get("X-Remote-User") != "bob" {
		t.Errorf("flags did not override the environment: %q", h.Get("X-Remote-Email"))
	}

	t.Setenv("QASMAT_EMAIL", "")
	t.Setenv("QASMAT_USER", "")
	res := runCLI(t, nil, "ls")
	res.want(t, ExitGeneral)
	if !strings.Contains(res.stderr, "this instance is private") {
		t.Errorf("stderr %q", res.stderr)
	}
}

func TestProgressBarOnlyOnATerminalAndNeverWithJSON(t *testing.T) {
	fake, srv := newFake(t)
	path := writeTemp(t, "p.bin", testBytes(512<<10, 12))
	old := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { isTerminal = old })

	res := runCLI(t, nil, "put", path, "--api", srv.URL)
	res.want(t, ExitOK)
	if !strings.Contains(res.stderr, "put p.bin") || !strings.Contains(res.stderr, "100%") {
		t.Errorf("no progress on the (pretend) terminal: %q", res.stderr)
	}
	if strings.Contains(res.stdout, "%") {
		t.Errorf("progress leaked into stdout: %q", res.stdout)
	}

	runCLI(t, nil, "rm", "p.bin", "--api", srv.URL).want(t, ExitOK)
	res = runCLI(t, nil, "put", path, "--json", "--api", srv.URL)
	res.want(t, ExitOK)
	if res.stderr != "" {
		t.Errorf("stderr %q with --json, want nothing", res.stderr)
	}
	if strings.TrimSpace(res.stdout) != "null" {
		t.Errorf("--json stdout %q, want the API's data (null)", res.stdout)
	}
	if _, ok := fake.file("p.bin"); !ok {
		t.Error("not stored")
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	for _, args := range [][]string{{"get", "--help"}, {"get", "NAME", "--help"}} {
		res := runCLI(t, nil, args...)
		res.want(t, ExitOK)
		if !strings.Contains(res.stdout, "EXIT CODES:") || !strings.Contains(res.stdout, "6  integrity failure") {
			t.Errorf("%v: help lacks the exit codes:\n%s", args, res.stdout)
		}
	}
}

// urfave/cli would otherwise treat "help" and "h" as subcommands.
func TestFilesNamedLikeTheHelpCommand(t *testing.T) {
	fake, srv := newFake(t)
	for _, name := range []string{"h", "help"} {
		fake.put(name, []byte("content of "+name), 2, 3, false, time.Now())
		res := runCLI(t, nil, "get", name, "-o", "-", "--api", srv.URL)
		res.want(t, ExitOK)
		if res.stdout != "content of "+name {
			t.Errorf("get %s printed %q", name, res.stdout)
		}
	}
}

func TestDoubleDashBeforeANameStartingWithADash(t *testing.T) {
	fake, srv := newFake(t)
	fake.put("-dash", []byte("dashing"), 2, 3, false, time.Now())
	res := runCLI(t, nil, "get", "--api", srv.URL, "-o", "-", "--", "-dash")
	res.want(t, ExitOK)
	if res.stdout != "dashing" {
		t.Errorf("stdout %q", res.stdout)
	}
	runCLI(t, nil, "rm", "-dash", "--api", srv.URL).want(t, ExitUsage)
	runCLI(t, nil, "rm", "--api", srv.URL, "--", "-dash").want(t, ExitOK)
}
