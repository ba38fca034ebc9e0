package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Exit codes of the client commands. Scripts branch on them, so they never
// change meaning; they are listed in every command's help (ExitCodesHelp).
const (
	ExitOK          = 0 // success
	ExitGeneral     = 1 // any other failure, including a server error (5xx)
	ExitUsage       = 2 // bad flags or arguments, or a request the API rejected as invalid (400)
	ExitNotFound    = 3 // no such file (404)
	ExitConflict    = 4 // the name is already used (409), or the output file exists (no --force)
	ExitUnavailable = 5 // not enough storage servers connected (503)
	ExitIntegrity   = 6 // integrity not confirmed, or a transfer broke off: nothing was written
	ExitUnreachable = 7 // the API could not be reached (connection refused, unknown host)
)

// ExitCodesHelp documents the exit codes; every client command shows it in
// its help.
const ExitCodesHelp = `EXIT CODES:
   0  success
   1  general or server error
   2  usage error: bad flags or arguments, or a request the API rejected as invalid (400)
   3  not found: no such file (404)
   4  conflict: the name is already used (409), or the output file exists (use --force)
   5  unavailable: not enough storage servers connected (503)
   6  integrity failure or broken transfer (nothing was written)
   7  cannot reach the API (connection refused): is 'qasmat dev' or the proxy running?`

// Sentinel errors that callers branch on. Errors returned by Client wrap one
// of them whenever it applies (errors.Is).
var (
	// ErrNotFound: the API answered 404 with its JSON error shape.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the API answered 409 (the file name is already used).
	ErrConflict = errors.New("name already used")
	// ErrUnavailable: the API answered 503 (fewer than k storage servers).
	ErrUnavailable = errors.New("not enough storage servers")
	// ErrInvalid: the request was refused as invalid (400) or never sent
	// because it could not be valid (threshold below 2, empty name).
	ErrInvalid = errors.New("invalid request")
	// ErrIntegrity: the proxy did not answer X-File-Integrity: true.
	ErrIntegrity = errors.New("integrity not confirmed")
	// ErrBrokenTransfer: a body stopped short, was cut off or stalled.
	ErrBrokenTransfer = errors.New("broken transfer")
	// ErrUnreachable: no connection could be made to the API.
	ErrUnreachable = errors.New("cannot reach the Qasmat API")
	// ErrTimeout: nothing moved for the client's Timeout.
	ErrTimeout = errors.New("timed out")
	// ErrNotAPI: the answer did not have the API's JSON shape, so --api
	// probably names something else.
	ErrNotAPI = errors.New("not an answer of the Qasmat API")
	// ErrNoRoute: the server has no such route (a 404 that is not about a
	// file): a proxy older than this client, or --api names something else.
	ErrNoRoute = errors.New("no such route")
	// ErrFileExists: the local output file exists and overwriting was not asked for.
	ErrFileExists = errors.New("output file exists")
)

// APIError is an error answer of the REST API: its HTTP status and the
// API's message ({code, status: "error", message}).
type APIError struct {
	StatusCode int    // HTTP status code
	Route      string // e.g. "POST /api/file/remove"
	// Message is the API's message; empty when the body did not have the
	// API's error shape (another server, or a route this proxy lacks).
	Message string
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%s answered %d %s, not the Qasmat API's JSON", e.Route, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is maps the status to the sentinel errors. A 404 for a route the server
// lacks (a plain "404 page not found", or the proxy's JSON "no route ...")
// is ErrNoRoute, not ErrNotFound: "qasmat renew" against a proxy without
// renewal must not tell a script that the file does not exist.
func (e *APIError) Is(target error) bool {
	noRoute := e.StatusCode == http.StatusNotFound && (e.Message == "" || strings.HasPrefix(e.Message, "no route "))
	switch target {
	case ErrNoRoute:
		return noRoute
	case ErrNotAPI:
		return e.Message == ""
	}
	if e.Message == "" || noRoute {
		return false
	}
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}

// ExitError is what every client command returns on failure: the error to
// print ("qasmat: error: ..."), a hint for the next step ("qasmat: hint:
// ...", may be empty) and the process exit code. It implements
// cli.ExitCoder.
type ExitError struct {
	Code int
	Err  error
	Hint string
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode implements cli.ExitCoder.
func (e *ExitError) ExitCode() int { return e.Code }

// ExitStatus gives the exit code and hint for an error returned by a client
// command or by Client; ok is false for an error this package knows nothing
// about (and for nil).
func ExitStatus(err error) (code int, hint string, ok bool) {
	if err == nil {
		return 0, "", false
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code, ee.Hint, true
	}
	if ee := classify(err); ee != nil {
		return ee.Code, ee.Hint, true
	}
	return 0, "", false
}

const (
	hintUnreachable = "is 'qasmat dev' or the proxy running? check --api (or QASMAT_API)"
	hintNotAPI      = "is --api the address of a Qasmat proxy?"
	hintNoRoute     = "the proxy may be older than this client; or is --api the address of a Qasmat proxy?"
)

// classify maps a known error to its exit code and a generic hint; nil when
// the error is not one of this package's.
func classify(err error) *ExitError {
	var ae *APIError
	isAPI := errors.As(err, &ae)
	switch {
	case errors.Is(err, ErrUnreachable):
		return &ExitError{Code: ExitUnreachable, Err: err, Hint: hintUnreachable}
	case errors.Is(err, ErrFileExists):
		return &ExitError{Code: ExitConflict, Err: err, Hint: "pass --force to overwrite it, or -o to write elsewhere"}
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrBrokenTransfer):
		return &ExitError{Code: ExitIntegrity, Err: err, Hint: "nothing was written; retry, and see the proxy's log if it happens again"}
	case errors.Is(err, ErrTimeout):
		return &ExitError{Code: ExitGeneral, Err: err, Hint: "raise --timeout (0 waits forever), or check the proxy"}
	case errors.Is(err, ErrNotFound):
		return &ExitError{Code: ExitNotFound, Err: err, Hint: "run 'qasmat ls' to see your files"}
	case errors.Is(err, ErrConflict):
		return &ExitError{Code: ExitConflict, Err: err, Hint: "choose another name with --name, or remove the old file with 'qasmat rm'"}
	case errors.Is(err, ErrUnavailable):
		return &ExitError{Code: ExitUnavailable, Err: err, Hint: "start the missing storage servers ('qasmat servers' lists them) and retry"}
	case errors.Is(err, ErrInvalid):
		return &ExitError{Code: ExitUsage, Err: err}
	case errors.Is(err, ErrNoRoute):
		return &ExitError{Code: ExitGeneral, Err: err, Hint: hintNoRoute}
	case errors.Is(err, ErrNotAPI):
		return &ExitError{Code: ExitGeneral, Err: err, Hint: hintNotAPI}
	case isAPI && ae.StatusCode == http.StatusUnauthorized:
		return &ExitError{Code: ExitGeneral, Err: err, Hint: "this instance is private: pass --user and --email (or QASMAT_USER, QASMAT_EMAIL), or go through its authentication proxy"}
	case isAPI && ae.StatusCode == http.StatusForbidden:
		return &ExitError{Code: ExitGeneral, Err: err, Hint: "the API takes identity headers only from its trusted proxies: point --api at the authentication proxy"}
	case isAPI && ae.StatusCode == http.StatusRequestEntityTooLarge:
		return &ExitError{Code: ExitGeneral, Err: err, Hint: "the file is larger than the proxy's max_file_size (GET /api/configuration)"}
	case isAPI:
		return &ExitError{Code: ExitGeneral, Err: err}
	}
	return nil
}

// exitError turns whatever a command failed with into an *ExitError.
func exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	if ce := classify(err); ce != nil {
		return ce
	}
	return &ExitError{Code: ExitGeneral, Err: err}
}

// usageError is a mistake in the command line itself.
func usageError(hint, format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...), Hint: hint}
}
