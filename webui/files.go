package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Limits on what a request may carry besides the file itself.
const (
	maxFieldBytes   = 64 << 10 // one form field (storage_servers is the longest)
	maxFormParts    = 32       // form fields before the file part
	multipartSlack  = 1 << 20  // multipart headers and fields around the file
	drainAfterError = 1 << 20  // request body read and dropped after an early error
)

// Messages that clients (and the dashboard) rely on.
const (
	msgThreshold      = "threshold must be a whole number of at least 2"
	msgThresholdFirst = "the threshold field must come before the file field in the multipart body (or pass ?threshold=N in the URL)"
	msgFileMissing    = "the file field is missing from the multipart body"
	msgNameMissing    = "the name field is missing"
)

// protect handles POST /api/file/protect (and /protect_file): a multipart
// body whose fields threshold, storage_servers and name come before file.
// The file part is handed to the service as it arrives: nothing of it is
// buffered whole or written to disk (no ParseMultipartForm, no FormFile).
func (a *api) protect(c *gin.Context) {
	start := time.Now()
	r := c.Request
	body := r.Body
	if r.ContentLength > a.maxSize+multipartSlack {
		a.protectFailed(c, start, body, Errorf(ErrTooLarge, "the upload is %d bytes; the maximum file size is %d bytes", r.ContentLength, a.maxSize))
		return
	}
	// r.Body itself stays net/http's: replacing it would hide the unread rest
	// of the upload from the server, which then resets the connection instead
	// of letting the client read our error first.
	req, file, err := a.readProtectFields(r, http.MaxBytesReader(c.Writer, body, a.maxSize+multipartSlack))
	if err != nil {
		a.protectFailed(c, start, body, err)
		return
	}
	lb := &limitedBody{r: file, max: a.maxSize}
	_, err = a.svc.Protect(r.Context(), user(c), req, lb)
	a.metrics.bytesIn.Add(float64(lb.n))
	switch {
	case err != nil && lb.exceeded:
		err = Errorf(ErrTooLarge, "the file is larger than the maximum file size of %d bytes", a.maxSize)
	case err != nil && lb.readErr != nil:
		// The client's upload broke off: its mistake (or its network), not ours.
		err = Errorf(ErrBadRequest, "the upload was interrupted: %v", lb.readErr)
	case err == nil && !lb.eof && !lb.atEOF():
		a.log.ErrorContext(r.Context(), "protect: the service acknowledged a file without reading it to the end")
		err = errors.New("service returned before the end of the file")
	}
	if err != nil {
		a.protectFailed(c, start, body, err)
		return
	}
	ok(c, nil)
	a.metrics.operation("protect", outcome(c), time.Since(start))
}

// protectFailed answers err, sends it at once, then reads and drops a
// bounded part of the rest of the upload: a client still sending gets time
// to read the error before the connection is closed (closing with unread
// data makes the kernel reset the connection, which a client may see first).
func (a *api) protectFailed(c *gin.Context, start time.Time, body io.Reader, err error) {
	c.Header("Connection", "close")
	a.fail(c, err)
	c.Writer.Flush()
	_, _ = io.CopyN(io.Discard, body, drainAfterError)
	a.metrics.operation("protect", outcome(c), time.Since(start))
}

// readProtectFields reads the multipart body up to the file part and
// returns the validated request and the file part's reader.
func (a *api) readProtectFields(r *http.Request, body io.Reader) (ProtectRequest, io.Reader, error) {
	var req ProtectRequest
	haveK := false
	if q := r.URL.Query(); q.Has("threshold") {
		k, err := parseThreshold(q.Get("threshold"))
		if err != nil {
			return req, nil, err
		}
		req.K, haveK = k, true
	}
	mr := multipartReader(r, body)
	if mr == nil {
		return req, nil, Errorf(ErrBadRequest, "the request must be multipart/form-data with the fields threshold and file")
	}
	nameField := ""
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return req, nil, Errorf(ErrBadRequest, msgFileMissing)
		}
		if err != nil {
			return req, nil, bodyError(err)
		}
		if parts >= maxFormParts {
			return req, nil, Errorf(ErrBadRequest, "too many form fields before the file field (at most %d)", maxFormParts)
		}
		field := part.FormName()
		if field == "file" {
			if !haveK {
				return req, nil, Errorf(ErrBadRequest, msgThresholdFirst)
			}
			req.Name = nameField
			if req.Name == "" {
				req.Name = partFileName(part)
			}
			if req.Name == "" {
				return req, nil, Errorf(ErrBadRequest, "the file has no name: send it with a filename or a name field before it")
			}
			if err := ValidateFileName(req.Name); err != nil {
				return req, nil, err
			}
			if len(req.Servers) > 0 && req.K > len(req.Servers) {
				return req, nil, Errorf(ErrBadThreshold, "threshold %d is greater than the %d storage servers chosen", req.K, len(req.Servers))
			}
			return req, part, nil
		}
		value, err := readField(part, field)
		if err != nil {
			return req, nil, err
		}
		switch field {
		case "threshold":
			k, err := parseThreshold(value)
			if err != nil {
				return req, nil, err
			}
			if haveK && k != req.K {
				return req, nil, Errorf(ErrBadRequest, "the threshold field (%d) disagrees with ?threshold= (%d)", k, req.K)
			}
			req.K, haveK = k, true
		case "storage_servers":
			if req.Servers, err = parseServers(value); err != nil {
				return req, nil, err
			}
		case "name":
			nameField = value
			if nameField == "" {
				return req, nil, Errorf(ErrBadRequest, "the file name is empty")
			}
		}
		// Other fields are ignored, as browsers' forms may carry extras.
	}
}

// multipartReader reads body as the request's multipart/form-data, or
// returns nil when the request is not one.
func multipartReader(r *http.Request, body io.Reader) *multipart.Reader {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil
	}
	return multipart.NewReader(body, params["boundary"])
}

// parseThreshold parses k; more than the connected servers is the service's
// to refuse, as only it knows how many are connected.
func parseThreshold(v string) (int, error) {
	k, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || k < 2 {
		return 0, Errorf(ErrBadThreshold, msgThreshold)
	}
	return k, nil
}

// parseServers parses storage_servers: a JSON list of distinct server names.
// An empty list means every connected server, as when the field is absent.
func parseServers(v string) ([]string, error) {
	var names []string
	if err := json.Unmarshal([]byte(v), &names); err != nil {
		return nil, Errorf(ErrBadRequest, `storage_servers must be a JSON list of server names, like ["s1","s2"]`)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			return nil, Errorf(ErrBadRequest, "storage_servers contains an empty name")
		}
		if seen[n] {
			return nil, Errorf(ErrBadRequest, "storage_servers names %q twice", n)
		}
		seen[n] = true
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, nil
}

// partFileName returns the file part's filename exactly as sent
// (multipart.Part.FileName strips directories, which would hide a "../").
func partFileName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// readField reads a small form field.
func readField(r io.Reader, field string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFieldBytes+1))
	if err != nil {
		return "", bodyError(err)
	}
	if len(b) > maxFieldBytes {
		return "", Errorf(ErrBadRequest, "the %s field is longer than %d bytes", field, maxFieldBytes)
	}
	return string(b), nil
}

// bodyError explains a failure to read the request body, which is always
// the client's (a malformed or cut multipart body, or one too large).
func bodyError(err error) error {
	if mbe, isMax := errors.AsType[*http.MaxBytesError](err); isMax {
		return Errorf(ErrTooLarge, "the request body is larger than %d bytes", mbe.Limit)
	}
	return Errorf(ErrBadRequest, "malformed request body: %v", err)
}

// limitedBody is the file as the service reads it: it fails with ErrTooLarge
// as soon as more than max bytes have come, and records how the read ended.
type limitedBody struct {
	r        io.Reader
	n, max   int64
	exceeded bool
	eof      bool
	readErr  error // a failure reading the client's body (not the limit)
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, l.tooLarge()
	}
	if room := l.max - l.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.exceeded = true
		n -= int(l.n - l.max)
		l.n = l.max
		return n, l.tooLarge()
	}
	switch {
	case err == io.EOF:
		l.eof = true
	case err != nil:
		l.readErr = err
		if _, isMax := errors.AsType[*http.MaxBytesError](err); isMax {
			l.exceeded = true
			return n, l.tooLarge()
		}
	}
	return n, err
}

// atEOF reports whether nothing is left to read (for a reader that stopped
// right at the end without seeing io.EOF).
func (l *limitedBody) atEOF() bool {
	var b [1]byte
	n, _ := l.Read(b[:])
	return n == 0 && l.eof
}

func (l *limitedBody) tooLarge() error {
	return Errorf(ErrTooLarge, "the file is larger than the maximum file size of %d bytes", l.max)
}

// retrieve handles POST /api/file/retrieve (and /retrieve_file): the file's
// verified bytes as application/octet-stream with X-File-Integrity: true.
func (a *api) retrieve(c *gin.Context) {
	start := time.Now()
	name, err := a.fileNameField(c)
	if err != nil {
		a.fail(c, err)
		a.metrics.operation("retrieve", outcome(c), time.Since(start))
		return
	}
	var out *countingWriter
	err = a.svc.Retrieve(c.Request.Context(), user(c), name, func(f FileInfo) io.Writer {
		if out != nil {
			return failingWriter{errors.New("webui: Retrieve called start twice")}
		}
		h := c.Writer.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", contentDisposition(f.Name))
		h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
		h.Set("X-File-Integrity", "true")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		c.Writer.WriteHeaderNow()
		out = &countingWriter{w: c.Writer, size: f.Size}
		return out
	})
	if out != nil {
		a.metrics.bytesOut.Add(float64(out.n))
	}
	switch {
	case out == nil && err != nil:
		a.fail(c, err)
	case out == nil:
		a.fail(c, errors.New("webui: Retrieve returned without calling start"))
	case err == nil && out.n != out.size:
		err = fmt.Errorf("service wrote %d of the %d bytes", out.n, out.size)
		fallthrough
	case err != nil:
		// Bytes already left with a 200: the only honest signal left is a
		// broken transfer.
		cause := "service error"
		if c.Request.Context().Err() != nil {
			cause = "client gone"
		}
		a.log.WarnContext(c.Request.Context(), "retrieve aborted after streaming began",
			slog.String("cause", cause), slog.Int64("bytes_sent", out.n),
			slog.Int64("size", out.size), slog.String("error", err.Error()))
		c.Set(ctxAbort, true)
		c.Set(ctxOutcome, outcomeAborted)
	}
	a.metrics.operation("retrieve", outcome(c), time.Since(start))
}

// remove handles POST /api/file/remove (and /remove_file).
func (a *api) remove(c *gin.Context) {
	start := time.Now()
	name, err := a.fileNameField(c)
	if err == nil {
		err = a.svc.Remove(c.Request.Context(), user(c), name)
	}
	if err != nil {
		a.fail(c, err)
	} else {
		ok(c, nil)
	}
	a.metrics.operation("remove", outcome(c), time.Since(start))
}

// renew handles POST /api/file/renew (and /renew_file): the file's shares
// are renewed now; the answer is the renewed file, in the later API's File
// entry shape (with its new last_renewal).
func (a *api) renew(c *gin.Context) {
	start := time.Now()
	name, err := a.fileNameField(c)
	var f FileInfo
	if err == nil {
		f, err = a.svc.Renew(c.Request.Context(), user(c), name)
	}
	if err != nil {
		a.fail(c, err)
	} else {
		ok(c, fileEntry(f))
	}
	a.metrics.operation("renew", outcome(c), time.Since(start))
}

// fileNameField reads the name field of a retrieve or remove: from a JSON,
// urlencoded or multipart body, or else the URL query. The later API's
// optional owner field must be the user's own email (sharing between users
// is not supported).
func (a *api) fileNameField(c *gin.Context) (string, error) {
	fields, err := smallForm(c.Request)
	if err != nil {
		return "", err
	}
	q := c.Request.URL.Query()
	get := func(k string) (string, bool) {
		if v, isSet := fields[k]; isSet {
			return v, true
		}
		if q.Has(k) {
			return q.Get(k), true
		}
		return "", false
	}
	if owner, isSet := get("owner"); isSet && owner != "" && owner != user(c).Email {
		return "", Errorf(ErrForbidden, "files of other users cannot be reached: sharing is not supported")
	}
	name, isSet := get("name")
	if !isSet {
		return "", Errorf(ErrBadRequest, msgNameMissing)
	}
	if err := ValidateFileName(name); err != nil {
		return "", err
	}
	return name, nil
}

// smallForm reads a small request body (JSON object of strings, urlencoded
// or multipart form) into a map; a request without a body gives none.
func smallForm(r *http.Request) (map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody) {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, Errorf(ErrBadRequest, "invalid Content-Type %q", ct)
	}
	body := http.MaxBytesReader(nil, r.Body, maxFieldBytes)
	fields := map[string]string{}
	switch mt {
	case "application/json":
		var obj map[string]any
		if err := json.NewDecoder(body).Decode(&obj); err != nil {
			if _, isMax := errors.AsType[*http.MaxBytesError](err); isMax {
				return nil, bodyError(err)
			}
			return nil, Errorf(ErrBadRequest, "the body is not a JSON object: %v", err)
		}
		for k, v := range obj {
			s, isString := v.(string)
			switch {
			case isString:
				fields[k] = s
			case k == "name" || k == "owner":
				return nil, Errorf(ErrBadRequest, "the %s field must be a string", k)
			}
		}
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, bodyError(err)
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, Errorf(ErrBadRequest, "malformed form body: %v", err)
		}
		for k := range vals {
			fields[k] = vals.Get(k)
		}
	case "multipart/form-data":
		mr := multipartReader(r, body)
		if mr == nil {
			return nil, Errorf(ErrBadRequest, "the multipart body has no boundary")
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, bodyError(err)
			}
			v, err := readField(part, part.FormName())
			if err != nil {
				return nil, err
			}
			fields[part.FormName()] = v
		}
	default:
		return nil, Errorf(ErrBadRequest, "unsupported Content-Type %q: send the name as JSON, urlencoded or multipart form", mt)
	}
	return fields, nil
}

// countingWriter is the retrieve response body as the service sees it.
type countingWriter struct {
	w    io.Writer
	n    int64
	size int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	if cw.n+int64(len(p)) > cw.size {
		return 0, fmt.Errorf("webui: the service wrote more than the file's %d bytes", cw.size)
	}
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }
