package webui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

// StatusSuccess is the "status" of every 2xx JSON response; errors carry
// "error", as the spec's skeletons say.
const StatusSuccess = "success"

// envelope is the spec's 2xx skeleton: {code, status, data}.
type envelope struct {
	Code   int    `json:"code"`
	Status string `json:"status"`
	Data   any    `json:"data"`
}

// errorBody is the spec's 3xx-5xx skeleton: {code, status: "error", message}.
type errorBody struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// statusOf is the one place an error becomes an HTTP status. The order
// matters only for errors that wrap several sentinels: the first wins.
var statusOf = []struct {
	err  error
	code int
}{
	{ErrTooLarge, http.StatusRequestEntityTooLarge},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{errUnauthenticated, http.StatusUnauthorized},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrExists, http.StatusConflict},
	{ErrConflict, http.StatusConflict},
	{ErrBadThreshold, http.StatusBadRequest},
	{ErrBadRequest, http.StatusBadRequest},
}

// internalMessage is all a client learns about an unexpected failure; the
// details go to the log.
const internalMessage = "internal error; the proxy's log has the details"

// classify returns the status and client message for err.
func classify(ctx context.Context, err error) (int, string) {
	for _, s := range statusOf {
		if errors.Is(err, s.err) {
			return s.code, err.Error()
		}
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client went away: nothing it reads, but it is not our failure.
		return http.StatusBadRequest, "request canceled by the client"
	}
	return http.StatusInternalServerError, internalMessage
}

// ok writes the 2xx envelope.
func ok(c *gin.Context, data any) {
	c.JSON(http.StatusOK, envelope{Code: http.StatusOK, Status: StatusSuccess, Data: data})
}

// fail writes err in the error shape, logging what the client does not see.
func (a *api) fail(c *gin.Context, err error) {
	code, msg := classify(c.Request.Context(), err)
	if code == http.StatusInternalServerError {
		a.log.ErrorContext(c.Request.Context(), "request failed",
			slog.String("method", c.Request.Method), slog.String("route", routeOf(c)),
			slog.String("error", err.Error()))
	}
	c.Set(ctxOutcome, outcomeOf(code))
	writeError(c, code, msg)
}

// writeError writes {code, status: "error", message} and stops the chain.
func writeError(c *gin.Context, code int, msg string) {
	c.AbortWithStatusJSON(code, errorBody{Code: code, Status: "error", Message: msg})
}
