package webui

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a file operation, the "outcome" label of the metrics.
const (
	outcomeSuccess     = "success"
	outcomeClientError = "client_error" // 4xx: the request was refused
	outcomeUnavailable = "unavailable"  // 503: too few storage servers
	outcomeServerError = "server_error" // 500
	outcomeAborted     = "aborted"      // a retrieve cut after streaming began
)

// metrics are the HTTP layer's Prometheus metrics; the proxy registers its
// own (connected servers, share verification failures) on the same registry.
type metrics struct {
	requests    *prometheus.CounterVec
	reqDuration *prometheus.HistogramVec
	ops         *prometheus.CounterVec
	opDuration  *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qasmat_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qasmat_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"route"}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qasmat_file_operations_total",
			Help: "Protect, retrieve and remove requests, by outcome (success, client_error, unavailable, server_error, aborted).",
		}, []string{"operation", "outcome"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qasmat_file_operation_duration_seconds",
			Help:    "Duration of protect, retrieve and remove requests, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"operation", "outcome"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qasmat_file_bytes_received_total",
			Help: "File bytes received by protect requests.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qasmat_file_bytes_sent_total",
			Help: "Verified file bytes sent by retrieve requests.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.reqDuration, m.ops, m.opDuration, m.bytesIn, m.bytesOut} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Show every operation/outcome pair from the start, so rates and alerts
	// work before the first failure.
	for _, op := range []string{"protect", "retrieve", "remove", "renew"} {
		for _, o := range []string{outcomeSuccess, outcomeClientError, outcomeUnavailable, outcomeServerError} {
			m.ops.WithLabelValues(op, o)
		}
	}
	m.ops.WithLabelValues("retrieve", outcomeAborted)
	return m, nil
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.reqDuration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) operation(op, outcome string, d time.Duration) {
	m.ops.WithLabelValues(op, outcome).Inc()
	m.opDuration.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// outcome is the request's outcome label: set by fail or the retrieve
// abort, else success.
func outcome(c *gin.Context) string {
	if o := c.GetString(ctxOutcome); o != "" {
		return o
	}
	return outcomeOf(c.Writer.Status())
}

func outcomeOf(code int) string {
	switch {
	case code < 400:
		return outcomeSuccess
	case code == http.StatusServiceUnavailable:
		return outcomeUnavailable
	case code < 500:
		return outcomeClientError
	}
	return outcomeServerError
}
