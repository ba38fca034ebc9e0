package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProtectOptions are the choices of one upload.
type ProtectOptions struct {
	// Threshold is k: how many storage servers are needed to rebuild the
	// file (at least 2).
	Threshold int
	// Servers names the storage servers that receive shares; empty means
	// every connected server.
	Servers []string
}

// errFileChanged: the content was not as long as announced.
var errFileChanged = errors.New("the file changed while it was being uploaded")

// Protect uploads content under name (POST /api/file/protect) and returns the
// API's data. The body is streamed: the multipart framing is built around
// content, which is read once, in order, and never held in memory. size is
// the exact length of content, sent as Content-Length so that the proxy can
// refuse a file over its limit at once; -1 when unknown (the body is then
// sent chunked). content is not read any more once Protect has returned.
func (c *Client) Protect(ctx context.Context, name string, content io.Reader, size int64, opts ProtectOptions) (json.RawMessage, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty file name", ErrInvalid)
	}
	if opts.Threshold < 2 {
		return nil, fmt.Errorf("%w: threshold %d: k must be at least 2", ErrInvalid, opts.Threshold)
	}
	head, tail, contentType, err := multipartFrame(name, opts)
	if err != nil {
		return nil, err
	}
	src := &detachableReader{r: content}
	defer src.detach()
	var file io.Reader = src
	total := int64(-1)
	if size >= 0 {
		file = &exactReader{r: src, left: size}
		total = int64(len(head)) + size + int64(len(tail))
	}
	// The proxy reads the parts in order and needs the threshold before the
	// file: head carries threshold (and storage_servers) then the file
	// part's header; tail closes the multipart body.
	body := io.MultiReader(bytes.NewReader(head), file, bytes.NewReader(tail))

	const route = "api/file/protect"
	resp, dog, err := c.send(ctx, http.MethodPost, route, body, total, contentType)
	if err != nil {
		if readErr := src.readError(); readErr != nil {
			return nil, fmt.Errorf("reading %q: %w", name, readErr)
		}
		if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: upload of %q cut off: %w", ErrBrokenTransfer, name, innermost(err))
	}
	defer dog.stop()
	defer resp.Body.Close()
	return readData(resp, "POST /"+route)
}

// multipartFrame builds the multipart body around the file content: head
// ends with the file part's header, tail is the closing boundary.
func multipartFrame(name string, opts ProtectOptions) (head, tail []byte, contentType string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("threshold", strconv.Itoa(opts.Threshold)); err != nil {
		return nil, nil, "", err
	}
	if len(opts.Servers) > 0 {
		list, err := json.Marshal(opts.Servers)
		if err != nil {
			return nil, nil, "", err
		}
		if err := mw.WriteField("storage_servers", string(list)); err != nil {
			return nil, nil, "", err
		}
	}
	if _, err := mw.CreateFormFile("file", name); err != nil {
		return nil, nil, "", err
	}
	head = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return head, bytes.Clone(buf.Bytes()), mw.FormDataContentType(), nil
}

// detachableReader lets Protect return while the HTTP transport may still
// be reading the request body (when the proxy answered before the end of
// the upload, e.g. 409 or 413): detach waits for a read in progress and
// makes every later read fail, so the caller may close or reuse its reader.
// It also keeps the caller's read error apart from network errors.
type detachableReader struct {
	mu       sync.Mutex
	r        io.Reader
	detached bool
	err      error
}

var errDetached = errors.New("upload abandoned")

func (d *detachableReader) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.detached {
		return 0, errDetached
	}
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

func (d *detachableReader) detach() {
	d.mu.Lock()
	d.detached = true
	d.mu.Unlock()
}

func (d *detachableReader) readError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// exactReader yields exactly left bytes and fails if the source is shorter
// or longer, so a file that grows or shrinks during the upload is an error
// and not a silently different file.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		var probe [1]byte
		n, err := io.ReadFull(e.r, probe[:])
		switch {
		case n > 0:
			e.err = errFileChanged
		case err == io.EOF:
			e.err = io.EOF
		default:
			e.err = err
		}
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = errFileChanged
	}
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		e.err = err
	}
	return n, err
}

// Download is a file being retrieved. Read gives the bytes as they arrive
// and fails with ErrBrokenTransfer if the body stops short of its
// Content-Length, is cut off, or stalls longer than the client's Timeout.
// Close it when done.
type Download struct {
	Name string
	// Size is the Content-Length the proxy announced, -1 if none.
	Size int64

	resp *http.Response
	dog  *watchdog
	n    int64
	err  error
}

// Retrieve starts downloading a file (POST /api/file/retrieve). It fails
// with ErrIntegrity, before any byte is handed out, unless the proxy
// answered X-File-Integrity: true.
func (c *Client) Retrieve(ctx context.Context, name string) (*Download, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty file name", ErrInvalid)
	}
	const route = "api/file/retrieve"
	form := url.Values{"name": {name}}.Encode()
	resp, dog, err := c.send(ctx, http.MethodPost, route, strings.NewReader(form), int64(len(form)), "application/x-www-form-urlencoded")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Download, error) {
		resp.Body.Close()
		dog.stop()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(readAPIError(resp, "POST /"+route))
	}
	if v := resp.Header.Get("X-File-Integrity"); !isTrue(v) {
		return fail(fmt.Errorf("%w: the proxy did not confirm the integrity of %q (X-File-Integrity: %q)", ErrIntegrity, name, v))
	}
	return &Download{Name: name, Size: resp.ContentLength, resp: resp, dog: dog}, nil
}

func isTrue(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// Read implements io.Reader.
func (d *Download) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.resp.Body.Read(p)
	d.n += int64(n)
	if n > 0 {
		d.dog.kick()
	}
	switch {
	case err == io.EOF:
		if d.Size >= 0 && d.n != d.Size {
			err = fmt.Errorf("%w: got %d of the %d bytes of %q", ErrBrokenTransfer, d.n, d.Size, d.Name)
		} else if v, ok := d.resp.Trailer["X-File-Integrity"]; ok && (len(v) == 0 || !isTrue(v[0])) {
			// A proxy may confirm integrity at the end, in a trailer.
			err = fmt.Errorf("%w: the proxy reported a failed integrity check for %q", ErrIntegrity, d.Name)
		}
	case err != nil:
		if cause := context.Cause(d.resp.Request.Context()); errors.Is(cause, ErrTimeout) {
			err = cause
		}
		err = fmt.Errorf("%w: %q cut off after %d bytes: %w", ErrBrokenTransfer, d.Name, d.n, err)
	}
	if err != nil {
		d.err = err
	}
	return n, err
}

// BytesRead is how many bytes Read has handed out.
func (d *Download) BytesRead() int64 { return d.n }

// Close ends the download.
func (d *Download) Close() error {
	err := d.resp.Body.Close()
	d.dog.stop()
	return err
}

// SaveFile writes everything r yields to path, atomically: into a temporary
// file in path's folder, synced, then renamed onto path only once r has
// reached its end without error. On any error the temporary file is removed
// and path is untouched. Unless overwrite is set, an existing path is never
// replaced (ErrFileExists), even one created during the transfer. The new
// file's mode is 0600.
func SaveFile(path string, r io.Reader, overwrite bool) (n int64, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if n, err = io.Copy(tmp, r); err != nil {
		return n, err
	}
	if err = tmp.Sync(); err != nil {
		return n, err
	}
	if err = tmp.Close(); err != nil {
		return n, err
	}
	if overwrite {
		return n, os.Rename(tmp.Name(), path)
	}
	// A hard link fails if path exists, so no file appearing meanwhile is
	// replaced; rename is the fallback where hard links are not supported.
	if err = os.Link(tmp.Name(), path); err == nil {
		os.Remove(tmp.Name())
		return n, nil
	}
	if errors.Is(err, os.ErrExist) {
		return n, fmt.Errorf("%w: %s", ErrFileExists, path)
	}
	if _, statErr := os.Lstat(path); statErr == nil {
		return n, fmt.Errorf("%w: %s", ErrFileExists, path)
	}
	return n, os.Rename(tmp.Name(), path)
}

// watchdog cancels a request's context when nothing has moved for d.
type watchdog struct {
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newWatchdog(parent context.Context, d time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{d: d, cancel: cancel}
	if d > 0 {
		cause := fmt.Errorf("%w: nothing moved for %s", ErrTimeout, d)
		w.timer = time.AfterFunc(d, func() { cancel(cause) })
	}
	return ctx, w
}

func (w *watchdog) kick() {
	if w.timer != nil {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel(nil)
}

// kickReader resets the watchdog whenever the request body moves.
type kickReader struct {
	r   io.Reader
	dog *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.dog.kick()
	}
	return n, err
}
