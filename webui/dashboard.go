package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// dist is the dashboard's build output. .placeholder keeps the folder in git
// so that a Go-only build compiles and serves fallbackPage instead.
//
//go:embed all:dist
var dist embed.FS

//go:embed fallback.html
var fallbackPage []byte

func embeddedDashboard() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path in every build
	}
	return sub
}

// dashboard serves the web client's files with a single-page-app fallback.
type dashboard struct {
	files map[string]asset // by clean path without leading slash
	index *asset           // nil when the dashboard was not built
}

type asset struct {
	data  []byte
	ctype string
	etag  string
}

// newDashboard loads every file of fsys into memory (the built dashboard is
// a few hundred kilobytes), with its MIME type and an ETag.
func newDashboard(fsys fs.FS) (*dashboard, error) {
	d := &dashboard{files: map[string]asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if strings.HasPrefix(path.Base(p), ".") {
			return nil // .placeholder and the like are not part of the site
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		d.files[p] = asset{data: data, ctype: contentType(p, data), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if idx, found := d.files["index.html"]; found {
		d.index = &idx
	}
	return d, nil
}

// contentType names a file's MIME type from its extension, with the web
// font and source-map types the standard table may lack.
func contentType(p string, data []byte) string {
	ext := strings.ToLower(path.Ext(p))
	switch ext {
	case ".woff2":
		return "font/woff2"
	case ".woff":
		return "font/woff"
	case ".map":
		return "application/json"
	case ".ico":
		return "image/x-icon"
	case ".webmanifest":
		return "application/manifest+json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return http.DetectContentType(data)
}

// serve answers a GET or HEAD for a dashboard path: the file if it exists,
// 404 for a missing file with an extension (a missing script must not come
// back as HTML), and index.html (the app's own routes) for anything else.
func (d *dashboard) serve(c *gin.Context) {
	p := strings.TrimPrefix(path.Clean("/"+c.Request.URL.Path), "/")
	a, found := d.files[p]
	switch {
	case found:
	case p != "" && path.Ext(p) != "":
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n"))
		return
	case d.index != nil:
		a = *d.index
		p = "index.html"
	default:
		a = asset{data: fallbackPage, ctype: "text/html; charset=utf-8"}
	}
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(p, "assets/") {
		// Vite names assets by content hash: they never change.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if a.etag != "" {
		h.Set("ETag", a.etag)
	}
	h.Set("Content-Type", a.ctype)
	http.ServeContent(c.Writer, c.Request, p, time.Time{}, bytes.NewReader(a.data))
}

// clientConfig serves /config/config.json: the operator's file when given,
// else one that points the dashboard at this proxy.
func (a *api) clientConfig(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	if a.opts.ClientConfig != nil {
		c.Data(http.StatusOK, "application/json", a.opts.ClientConfig)
		return
	}
	c.Data(http.StatusOK, "application/json", a.defaultClientConfig())
}

// defaultClientConfig is the spec's config.json for a dashboard served by
// this proxy: a relative APIAddress so that it works whatever host name,
// port or scheme the browser used.
func (a *api) defaultClientConfig() []byte {
	b, err := json.MarshalIndent(struct {
		AuthAddress      string `json:"authAddress"`
		APIAddress       string `json:"APIAddress"`
		IsPublicInstance bool   `json:"isPublicInstance"`
		MinThreshold     int    `json:"minThreshold"`
		CanEditConfig    bool   `json:"canEditConfig"`
	}{"", "/api", a.public, 2, a.public}, "", "  ")
	if err != nil {
		panic(err) // a struct of strings, bools and ints always marshals
	}
	return b
}
