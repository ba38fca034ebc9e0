// Package webui serves Qasmat's REST API and the embedded web dashboard over HTTP.
package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Service is what the HTTP layer needs from the proxy. roles/proxy implements
// it; webui never imports the roles, so the interface lives here, next to its
// only caller.
//
// Errors the client should see as anything but a 500 must wrap one of the
// sentinel errors below (with %w or Errorf); the message of such an error is
// shown to the user as is, so it must read well and must not hold secrets.
// Any other error becomes a 500 with a generic message and is logged.
type Service interface {
	// Storage lists the storage servers the proxy knows, connected or not.
	// The number of connected ones is the largest threshold a protect can
	// use (the API's "limit").
	Storage(ctx context.Context) ([]StorageInfo, error)

	// Files lists u's files and the fill of the cluster in percent (0-100).
	Files(ctx context.Context, u User) (files []FileInfo, percentage float64, err error)

	// Protect stores the file read from body under req.Name for u.
	// It must read body to io.EOF before it acknowledges the file: body
	// fails with an error wrapping ErrTooLarge as soon as the upload passes
	// the size limit, and Protect must then return an error (wrapping it) and
	// leave nothing behind. It returns the stored file's description.
	// Refusals that need no content (threshold above the connected servers,
	// name in use, unknown server) should come before reading body, so that
	// the client is answered without uploading the file.
	Protect(ctx context.Context, u User, req ProtectRequest, body io.Reader) (FileInfo, error)

	// Retrieve rebuilds u's file name. Once it knows the file's description
	// and before writing any byte it calls start exactly once, then writes
	// exactly FileInfo.Size verified bytes to the writer start returns.
	// An error returned before start is mapped to an HTTP error; an error
	// after start aborts the response, so the client sees a broken transfer
	// and never wrong bytes.
	Retrieve(ctx context.Context, u User, name string, start func(FileInfo) io.Writer) error

	// Remove deletes u's file name.
	Remove(ctx context.Context, u User, name string) error

	// Renew renews the shares of u's file name now (proactive secret
	// sharing) and returns the file's new description. ErrNotFound for an
	// unknown file, ErrUnavailable if fewer than k of its storage servers
	// are connected, ErrConflict if a renewal of it is already running.
	Renew(ctx context.Context, u User, name string) (FileInfo, error)

	// Ready reports why the proxy cannot serve requests yet, or nil.
	Ready(ctx context.Context) error
}

// User is the person a request acts for, from the identity headers. Email is
// the key that owns files; Name is only shown.
type User struct {
	Name  string
	Email string
}

// StorageInfo describes one storage server for GET /api/storage.
type StorageInfo struct {
	Name      string
	Location  string
	Host      string
	PingMs    float64 // round trip of the last ping; ignored when not Connected
	Connected bool
	// Transit is the state of the server's QKD transit link: "" without
	// QKD, "ok", "unused" (no transfer yet) or the last error (key manager
	// down, keys exhausted).
	Transit string
}

// FileInfo describes one protected file.
type FileInfo struct {
	Name             string
	Size             int64
	K, N             int
	Servers          []string // names of the storage servers holding its shares
	DateOfProtection time.Time
	LastRenewal      time.Time // zero means never renewed: DateOfProtection is shown
	Expired          bool
	Hash             []byte // the file's commitment (not a plain hash of the content)
	Owner            string // the owner's email
}

// ProtectRequest is a validated protect request.
type ProtectRequest struct {
	Name    string   // passed ValidateFileName
	K       int      // at least 2; at most len(Servers) when Servers is set
	Servers []string // storage server names chosen by the client; nil means every connected server
}

// Sentinel errors the Service wraps; the router maps each to its HTTP status
// in one place (statusOf).
var (
	ErrBadRequest   = errors.New("invalid request")                      // 400
	ErrBadThreshold = errors.New("invalid threshold")                    // 400
	ErrForbidden    = errors.New("forbidden")                            // 403
	ErrNotFound     = errors.New("file not found")                       // 404
	ErrExists       = errors.New("file name already in use")             // 409
	ErrConflict     = errors.New("operation already in progress")        // 409
	ErrTooLarge     = errors.New("file too large")                       // 413
	ErrUnavailable  = errors.New("not enough storage servers connected") // 503
)

// errUnauthenticated is the router's own: a private instance got no identity.
var errUnauthenticated = errors.New("authentication required") // 401

// Errorf returns an error whose message is exactly the formatted text (what
// the client reads) and which matches kind with errors.Is, as well as any
// error wrapped with %w in format. kind is one of the sentinels above.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
