package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxFileSize is the spec's default max_file_size (1 GB), used when
// Options.MaxFileSize is not positive.
const DefaultMaxFileSize = 1_000_000_000

// The user a public instance (allowed origins "*") acts for when a request
// carries no identity headers.
const (
	DefaultUserName  = "local"
	DefaultUserEmail = "local@qasmat"
)

// Options configures the router. The zero value is a private instance
// (no cross-origin access, identity headers required) with the spec's
// default size limit and the embedded dashboard.
type Options struct {
	// AllowedOrigins are the CORS origins (scheme://host[:port]). "*" makes
	// the instance public: any origin, no credentials, and requests without
	// identity headers act as DefaultUserEmail. Empty means private with
	// same-origin access only; the proxy's config layer supplies the spec's
	// default ["*"] when the field is absent from its file.
	AllowedOrigins []string
	// TrustedProxies, when set, are the only TCP peers whose identity headers
	// are believed; identity headers from any other peer get 403. The peer
	// is the connection's address, never X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// MaxFileSize is the largest file a protect accepts, in bytes.
	MaxFileSize int64
	// Version is reported by /api/configuration.
	Version string
	// Transit is the QKD transit mode ("AES", "OTP"), "" without QKD;
	// reported by /api/configuration and per server by /api/storage.
	Transit string
	// ClientConfig, when set, is served as /config/config.json instead of
	// the default (it must be a JSON object).
	ClientConfig []byte
	// Registerer receives the HTTP metrics and Gatherer is what /metrics
	// serves. Both nil: a private registry used for both. Registerer alone:
	// it is used as the Gatherer too if it is one (a *prometheus.Registry is).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger receives the access log and server-side errors (default
	// slog.Default()). Identity header values and file contents are never
	// logged.
	Logger *slog.Logger
	// Dashboard holds the web client's files (index.html at its root);
	// nil means the files embedded from webui/dist at build time.
	Dashboard fs.FS
}

// api holds what the handlers share.
type api struct {
	svc         Service
	opts        Options
	log         *slog.Logger
	public      bool
	origins     map[string]bool
	maxSize     int64
	metrics     *metrics
	metricsHTTP http.Handler
	dash        *dashboard
}

// route is one line of the route table.
type route struct {
	method  string
	path    string
	auth    bool // the handler acts for a user (identity middleware runs first)
	handler gin.HandlerFunc
}

// routes is the one route table of the API; docs/api.md describes each line.
func (a *api) routes() []route {
	rs := []route{
		{http.MethodGet, "/api/storage", true, a.storage},
		{http.MethodGet, "/api/file", true, a.files},
		{http.MethodGet, "/api/configuration", true, a.configuration},
		{http.MethodPost, "/api/file/protect", true, a.protect},
		{http.MethodPost, "/api/file/retrieve", true, a.retrieve},
		{http.MethodPost, "/api/file/remove", true, a.remove},
		{http.MethodPost, "/api/file/renew", true, a.renew},

		// The later documentation's routes, where their shapes differ.
		{http.MethodGet, "/storage", true, a.storageLater},
		{http.MethodGet, "/file", true, a.filesLater},

		{http.MethodGet, "/healthz", false, a.healthz},
		{http.MethodGet, "/readyz", false, a.readyz},
		{http.MethodGet, "/metrics", false, a.serveMetrics},
		{http.MethodGet, "/config/config.json", false, a.clientConfig},
	}
	// The later documentation's routes, with and without the /api prefix.
	for _, prefix := range []string{"/api", ""} {
		rs = append(rs,
			route{http.MethodGet, prefix + "/ping", false, a.ping},
			route{http.MethodGet, prefix + "/who_am_i", true, a.whoAmI},
			route{http.MethodPost, prefix + "/protect_file", true, a.protect},
			route{http.MethodPost, prefix + "/retrieve_file", true, a.retrieve},
			route{http.MethodPost, prefix + "/remove_file", true, a.remove},
			route{http.MethodPost, prefix + "/renew_file", true, a.renew},
		)
	}
	rs = append(rs, route{http.MethodGet, "/configuration", true, a.configuration})
	return rs
}

// NewRouter returns the HTTP handler of the REST API, the health and metrics
// endpoints and the dashboard. It fails on an invalid option (the message
// names it) or when the metrics cannot be registered.
func NewRouter(svc Service, opts Options) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("webui: nil Service")
	}
	a := &api{svc: svc, opts: opts, log: opts.Logger, maxSize: opts.MaxFileSize, origins: map[string]bool{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.maxSize <= 0 {
		a.maxSize = DefaultMaxFileSize
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			a.public = true
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("webui: allowed CORS origin %q: %w", o, err)
		}
		a.origins[o] = true
	}
	if opts.ClientConfig != nil {
		var obj map[string]any
		if err := json.Unmarshal(opts.ClientConfig, &obj); err != nil {
			return nil, fmt.Errorf("webui: client config is not a JSON object: %w", err)
		}
	}
	for _, p := range opts.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("webui: invalid trusted proxy prefix %v", p)
		}
	}
	reg, gath := opts.Registerer, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if gath == nil {
			gath = r
		}
	}
	if gath == nil {
		g, isGatherer := reg.(prometheus.Gatherer)
		if !isGatherer {
			return nil, errors.New("webui: Options.Registerer is not a Gatherer; set Options.Gatherer")
		}
		gath = g
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("webui: registering metrics: %w", err)
	}
	a.metrics = m
	a.metricsHTTP = promhttp.HandlerFor(gath, promhttp.HandlerOpts{})
	dist := opts.Dashboard
	if dist == nil {
		dist = embeddedDashboard()
	}
	if a.dash, err = newDashboard(dist); err != nil {
		return nil, fmt.Errorf("webui: dashboard files: %w", err)
	}
	return a.engine()
}

// checkOrigin accepts what a browser sends as Origin: scheme://host[:port].
func checkOrigin(o string) error {
	scheme, rest, found := strings.Cut(o, "://")
	switch {
	case !found || scheme == "" || rest == "":
		return errors.New(`want "*" or scheme://host[:port], for example https://example.com`)
	case strings.ContainsAny(rest, "/?#@ ") || strings.ToLower(o) != o:
		return errors.New("want scheme://host[:port] in lower case, without path, query or user")
	}
	return nil
}

// engine builds the gin engine from the route table.
func (a *api) engine() (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.HandleMethodNotAllowed = true
	// gin trusts every X-Forwarded-For by default; believe it (for the
	// access log's client address only) from the trusted proxies alone.
	var trusted []string
	for _, p := range a.opts.TrustedProxies {
		trusted = append(trusted, p.String())
	}
	if err := e.SetTrustedProxies(trusted); err != nil {
		return nil, fmt.Errorf("webui: trusted proxies: %w", err)
	}
	e.Use(abortMarked, a.recoverPanic, a.observe, a.cors())
	for _, r := range a.routes() {
		if r.auth {
			e.Handle(r.method, r.path, a.identify, r.handler)
		} else {
			e.Handle(r.method, r.path, r.handler)
		}
	}
	e.NoRoute(a.noRoute)
	e.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	return e, nil
}

// noRoute answers JSON 404 under /api (and for anything but GET or HEAD)
// and serves the dashboard everywhere else.
func (a *api) noRoute(c *gin.Context) {
	p := c.Request.URL.Path
	isAPI := p == "/api" || strings.HasPrefix(p, "/api/")
	if isAPI || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) {
		writeError(c, http.StatusNotFound, fmt.Sprintf("no route %s %s", c.Request.Method, p))
		return
	}
	a.dash.serve(c)
}

// Context keys the middleware share.
const (
	ctxUser    = "webui.user"
	ctxAbort   = "webui.abort"
	ctxOutcome = "webui.outcome"
)

// abortMarked is the outermost middleware: when a handler marked the
// response as broken (a retrieve that failed after streaming began), it
// panics with http.ErrAbortHandler once logging and metrics are done, so
// net/http cuts the connection and the client sees an incomplete transfer.
func abortMarked(c *gin.Context) {
	c.Next()
	if c.GetBool(ctxAbort) {
		panic(http.ErrAbortHandler)
	}
}

// recoverPanic turns a handler panic into a logged 500 (or an aborted
// response when bytes were already sent).
func (a *api) recoverPanic(c *gin.Context) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		a.log.ErrorContext(c.Request.Context(), "handler panic",
			slog.String("method", c.Request.Method), slog.String("route", routeOf(c)),
			slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		if c.Writer.Written() {
			c.Set(ctxAbort, true)
			return
		}
		writeError(c, http.StatusInternalServerError, internalMessage)
	}()
	c.Next()
}

// observe writes the access log line and the HTTP metrics of a request. It
// logs no header values and no bodies.
func (a *api) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route, status := routeOf(c), c.Writer.Status()
	aborted := c.GetBool(ctxAbort)
	a.metrics.observeRequest(route, c.Request.Method, status, elapsed)
	level := slog.LevelInfo
	if status >= 500 || aborted {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(c.Request.Context(), level, "http request",
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Int("bytes_out", max(c.Writer.Size(), 0)),
		slog.Int64("bytes_in", max(c.Request.ContentLength, 0)),
		slog.Duration("duration", elapsed),
		slog.String("client", c.ClientIP()),
		slog.Bool("aborted", aborted),
	)
}

// routeOf names the matched route (bounded, for metrics and logs).
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// user returns the identity set by the identify middleware.
func user(c *gin.Context) User {
	u, _ := c.Get(ctxUser)
	uu, _ := u.(User)
	return uu
}
