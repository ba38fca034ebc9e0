package webui

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// cors applies the spec's CORS rules: allow the configured origins; let
// browsers read X-File-Integrity; accept any request header; allow
// credentials unless the origins are "*" (public mode).
func (a *api) cors() gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions},
		// Content-Disposition lets a cross-origin dashboard read the name of
		// a retrieved file.
		ExposeHeaders: []string{"X-File-Integrity", "Content-Disposition"},
		MaxAge:        12 * time.Hour,
	}
	if a.public {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOriginFunc = func(origin string) bool { return a.origins[origin] }
		cfg.AllowCredentials = true
	}
	apply := cors.New(cfg)
	return func(c *gin.Context) {
		origin := c.Request.Header.Get("Origin")
		if origin == "" || isSameHost(origin, c.Request.Host) {
			return // not a cross-origin request
		}
		if !a.public && !a.origins[origin] {
			// gin-contrib/cors would answer an empty 403; say why instead.
			writeError(c, http.StatusForbidden, fmt.Sprintf("origin %s is not in the proxy's allowed CORS origins", origin))
			return
		}
		if c.Request.Method == http.MethodOptions {
			// "Accept any header": reflect what the browser asks for, which,
			// unlike "*", also holds for requests with credentials.
			if h := requestedHeaders(c.Request.Header); h != "" {
				c.Header("Access-Control-Allow-Headers", h)
			}
		}
		apply(c)
	}
}

// isSameHost is gin-contrib/cors's test for a request from the page's own
// origin (browsers send Origin on same-origin POSTs too).
func isSameHost(origin, host string) bool {
	return origin == "http://"+host || origin == "https://"+host
}

// requestedHeaders returns the preflight's Access-Control-Request-Headers,
// keeping only header-name characters, commas and spaces.
func requestedHeaders(h http.Header) string {
	v := strings.Join(h.Values("Access-Control-Request-Headers"), ",")
	return strings.Map(func(r rune) rune {
		switch {
		case r == ',' || r == ' ',
			'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9',
			strings.ContainsRune("!#$%&'*+-.^_`|~", r):
			return r
		}
		return -1
	}, v)
}
