// Package client talks to a Qasmat proxy's REST API, as a typed Go client
// and as the put/get/ls/rm/servers/renew commands of the qasmat binary.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPI is the API address used when neither --api nor QASMAT_API is given.
const DefaultAPI = "http://127.0.0.1:3000"

// DefaultTimeout is how long the commands wait without any progress.
const DefaultTimeout = time.Minute

// Limits on what is read into memory from JSON answers; file bodies are
// streamed and not limited here.
const (
	maxJSONBody  = 64 << 20
	maxErrorBody = 64 << 10
)

// Client is a client of one proxy's REST API. Set the exported fields
// before the first call; a Client is safe for concurrent use afterwards.
type Client struct {
	base *url.URL

	// User and Email are sent as X-Remote-User and X-Remote-Email when not
	// empty. The email identifies the user on the proxy.
	User  string
	Email string

	// HTTPClient does the requests; nil means http.DefaultClient. Its own
	// Timeout, if any, bounds whole transfers, so leave it zero for big files.
	HTTPClient *http.Client

	// Timeout is the longest the client waits while nothing moves:
	// connecting, waiting for an answer, or a stalled transfer. Zero waits
	// forever. A steady transfer may take any time.
	Timeout time.Duration
}

// New returns a client of the API at apiURL ("http://host:port", or
// "host:port" for plain HTTP). A path in the URL is kept as a prefix, for an
// API served under a sub-path by a reverse proxy.
func New(apiURL string) (*Client, error) {
	raw := strings.TrimSpace(apiURL)
	if raw == "" {
		return nil, fmt.Errorf("%w: empty API URL", ErrInvalid)
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: API URL %q: %v", ErrInvalid, apiURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: API URL %q: scheme must be http or https", ErrInvalid, apiURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: API URL %q has no host", ErrInvalid, apiURL)
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &Client{base: u}, nil
}

// BaseURL is the API address the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// Storage is the data of GET /api/storage: the storage servers the proxy
// knows, as parallel lists.
type Storage struct {
	Servers   []string  `json:"servers"`
	Locations []string  `json:"locations"`
	Hosts     []string  `json:"hosts"`
	Pings     []float64 `json:"pings"` // milliseconds; -1 for a server not connected
	// Connected tells, per server, whether it is connected now; nil when the
	// proxy did not send a per-server list.
	Connected []bool `json:"-"`

	Raw json.RawMessage `json:"-"` // the data exactly as the API sent it
}

// UnmarshalJSON accepts "connected" as a per-server list of booleans (the
// form this client expects) and ignores other forms, such as a count,
// rather than failing the whole listing.
func (s *Storage) UnmarshalJSON(b []byte) error {
	type plain Storage
	var aux struct {
		plain
		Connected json.RawMessage `json:"connected"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = Storage(aux.plain)
	var flags []bool
	if json.Unmarshal(aux.Connected, &flags) == nil {
		s.Connected = flags
	}
	return nil
}

// FileList is the data of GET /api/file.
type FileList struct {
	Files      []File  `json:"files"`
	Percentage float64 `json:"percentage"` // storage use, in percent

	Raw json.RawMessage `json:"-"` // the data exactly as the API sent it
}

// File is one protected file as the API lists it.
type File struct {
	Filename         string    `json:"filename"`
	Size             int64     `json:"size"`
	K                int       `json:"k"`
	N                int       `json:"n"`
	StorageServers   []string  `json:"storage_servers"`
	DateOfProtection Timestamp `json:"date_of_protection"`
	LastRenewal      Timestamp `json:"last_renewal"`
	Expired          bool      `json:"expired"`
	// Hash is the file's commitment as the API gives it (an array of ints).
	Hash []int `json:"hash"`
}

// Timestamp is a date of the API. It reads RFC 3339 strings, Unix seconds
// and null, so that one odd date does not make a whole listing unreadable.
type Timestamp struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	switch {
	case s == "null" || s == `""`:
		t.Time = time.Time{}
		return nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return fmt.Errorf("date %q: %w", str, err)
		}
		t.Time = v
		return nil
	default:
		var secs float64
		if err := json.Unmarshal(b, &secs); err != nil {
			return fmt.Errorf("date %s: not a string or a number", s)
		}
		t.Time = time.Unix(0, int64(secs*float64(time.Second)))
		return nil
	}
}

// MarshalJSON writes the RFC 3339 form (null for the zero time).
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Time)
}

// Configuration is the data of GET /api/configuration.
type Configuration struct {
	Version     string `json:"version"`
	Limit       int    `json:"limit"` // storage servers connected: the highest usable k
	MaxFileSize int64  `json:"max_file_size"`

	Raw json.RawMessage `json:"-"`
}

// Storage lists the storage servers (GET /api/storage).
func (c *Client) Storage(ctx context.Context) (*Storage, error) {
	var s Storage
	raw, err := c.getJSON(ctx, "api/storage", &s)
	if err != nil {
		return nil, err
	}
	s.Raw = raw
	return &s, nil
}

// Files lists the user's files (GET /api/file).
func (c *Client) Files(ctx context.Context) (*FileList, error) {
	var l FileList
	raw, err := c.getJSON(ctx, "api/file", &l)
	if err != nil {
		return nil, err
	}
	l.Raw = raw
	return &l, nil
}

// Configuration returns the proxy's version and limits (GET /api/configuration).
func (c *Client) Configuration(ctx context.Context) (*Configuration, error) {
	var cf Configuration
	raw, err := c.getJSON(ctx, "api/configuration", &cf)
	if err != nil {
		return nil, err
	}
	cf.Raw = raw
	return &cf, nil
}

// Remove deletes a file (POST /api/file/remove) and returns the API's data.
func (c *Client) Remove(ctx context.Context, name string) (json.RawMessage, error) {
	return c.postName(ctx, "api/file/remove", name)
}

// Renew renews a file's shares now (POST /api/file/renew) and returns the
// API's data.
func (c *Client) Renew(ctx context.Context, name string) (json.RawMessage, error) {
	return c.postName(ctx, "api/file/renew", name)
}

func (c *Client) getJSON(ctx context.Context, route string, v any) (json.RawMessage, error) {
	resp, dog, err := c.send(ctx, http.MethodGet, route, nil, 0, "")
	if err != nil {
		return nil, err
	}
	defer dog.stop()
	defer resp.Body.Close()
	raw, err := readData(resp, "GET /"+route)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%w: GET /%s: data: %v", ErrNotAPI, route, err)
	}
	return raw, nil
}

func (c *Client) postName(ctx context.Context, route, name string) (json.RawMessage, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty file name", ErrInvalid)
	}
	form := url.Values{"name": {name}}.Encode()
	resp, dog, err := c.send(ctx, http.MethodPost, route, strings.NewReader(form), int64(len(form)), "application/x-www-form-urlencoded")
	if err != nil {
		return nil, err
	}
	defer dog.stop()
	defer resp.Body.Close()
	return readData(resp, "POST /"+route)
}

// send makes one request under an idle watchdog. On success the caller
// closes resp.Body, then stops the watchdog (which also ends the request's
// context).
func (c *Client) send(ctx context.Context, method, route string, body io.Reader, size int64, contentType string) (*http.Response, *watchdog, error) {
	ctx, dog := newWatchdog(ctx, c.Timeout)
	if body != nil {
		body = &kickReader{r: body, dog: dog}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(route).String(), body)
	if err != nil {
		dog.stop()
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size < 0 {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", contentType)
	}
	if c.User != "" {
		req.Header.Set("X-Remote-User", c.User)
	}
	if c.Email != "" {
		req.Header.Set("X-Remote-Email", c.Email)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		err = c.transportError(ctx, err)
		dog.stop()
		return nil, nil, err
	}
	dog.kick()
	return resp, dog, nil
}

// transportError explains a failed request: an API that cannot be reached,
// a timeout of the watchdog, or an interruption by the caller.
func (c *Client) transportError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
		return cause
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, innermost(err))
	}
	return err
}

// innermost drops the url.Error and net.OpError wrapping ("Get "...":
// dial tcp ...: connect: connection refused" -> "connection refused") so the
// message says what went wrong once.
func innermost(err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// envelope is the API's answer shape: {code, status, data} or
// {code, status: "error", message}.
type envelope struct {
	Code    int             `json:"code"`
	Status  string          `json:"status"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// readData returns the data of a successful answer, or the API's error.
func readData(resp *http.Response, route string) (json.RawMessage, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, readAPIError(resp, route)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", route, err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %s answered %d with a body that is not JSON", ErrNotAPI, route, resp.StatusCode)
	}
	if len(env.Data) == 0 {
		return json.RawMessage("null"), nil
	}
	return env.Data, nil
}

// readAPIError reads an error answer into an *APIError.
func readAPIError(resp *http.Response, route string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{StatusCode: resp.StatusCode, Route: route}
	var env envelope
	if json.Unmarshal(b, &env) == nil {
		e.Message = strings.TrimSpace(env.Message)
	}
	return e
}
