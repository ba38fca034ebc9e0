package webui

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// storageData is GET /api/storage's data: parallel arrays, one entry per
// storage server (the spec's four, plus connected).
type storageData struct {
	Servers   []string  `json:"servers"`
	Locations []string  `json:"locations"`
	Hosts     []string  `json:"hosts"`
	Pings     []float64 `json:"pings"` // milliseconds; -1 when not connected
	Connected []bool    `json:"connected"`
	// Transit is each server's QKD transit link state (absent without
	// QKD): "ok", "unused", or the last error.
	Transit []string `json:"transit,omitempty"`
}

func (a *api) storage(c *gin.Context) {
	servers, err := a.svc.Storage(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	d := storageData{
		Servers:   make([]string, 0, len(servers)),
		Locations: make([]string, 0, len(servers)),
		Hosts:     make([]string, 0, len(servers)),
		Pings:     make([]float64, 0, len(servers)),
		Connected: make([]bool, 0, len(servers)),
	}
	for _, s := range servers {
		ping := s.PingMs
		if !s.Connected {
			ping = -1
		}
		d.Servers = append(d.Servers, s.Name)
		d.Locations = append(d.Locations, s.Location)
		d.Hosts = append(d.Hosts, s.Host)
		d.Pings = append(d.Pings, ping)
		d.Connected = append(d.Connected, s.Connected)
		if a.opts.Transit != "" {
			d.Transit = append(d.Transit, s.Transit)
		}
	}
	ok(c, d)
}

// laterServer is one entry of the later GET /storage.
type laterServer struct {
	Name      string   `json:"name"`
	Host      string   `json:"host,omitempty"`
	Location  string   `json:"location,omitempty"`
	Ping      *float64 `json:"ping,omitempty"` // absent when not connected
	Connected bool     `json:"connected"`
	Transit   string   `json:"transit,omitempty"` // QKD transit link state, absent without QKD
}

func (a *api) storageLater(c *gin.Context) {
	servers, err := a.svc.Storage(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]laterServer, 0, len(servers))
	for _, s := range servers {
		ls := laterServer{Name: s.Name, Host: s.Host, Location: s.Location, Connected: s.Connected, Transit: s.Transit}
		if s.Connected {
			ping := s.PingMs
			ls.Ping = &ping
		}
		out = append(out, ls)
	}
	ok(c, out)
}

// fileJSON is the spec's File object plus size, n and storage_servers.
type fileJSON struct {
	DateOfProtection string   `json:"date_of_protection"`
	Expired          bool     `json:"expired"`
	Filename         string   `json:"filename"`
	Hash             []int    `json:"hash"`
	K                int      `json:"k"`
	LastRenewal      string   `json:"last_renewal"`
	Size             int64    `json:"size"`
	N                int      `json:"n"`
	StorageServers   []string `json:"storage_servers"`
}

type filesData struct {
	Files      []fileJSON `json:"files"`
	Percentage float64    `json:"percentage"`
}

func (a *api) files(c *gin.Context) {
	files, pct, err := a.svc.Files(c.Request.Context(), user(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	d := filesData{Files: make([]fileJSON, 0, len(files)), Percentage: pct}
	for _, f := range files {
		d.Files = append(d.Files, fileJSON{
			DateOfProtection: jsonTime(f.DateOfProtection),
			Expired:          f.Expired,
			Filename:         f.Name,
			Hash:             hashInts(f.Hash),
			K:                f.K,
			LastRenewal:      jsonTime(lastRenewal(f)),
			Size:             f.Size,
			N:                f.N,
			StorageServers:   nonNil(f.Servers),
		})
	}
	ok(c, d)
}

// laterFile is the later File object.
type laterFile struct {
	Name             string `json:"name"`
	UserID           string `json:"user_id"`
	DateOfProtection string `json:"date_of_protection"`
	Threshold        int    `json:"threshold"`
	ByteSize         int64  `json:"byte_size"`
	LastRenewal      string `json:"last_renewal"`
	Expired          bool   `json:"expired"`
	Hash             []int  `json:"hash"`
}

type laterFileEntry struct {
	File    laterFile `json:"file"`
	Storage []string  `json:"storage"`
}

type laterFilesData struct {
	Files        []laterFileEntry `json:"files"`
	AmountStored int64            `json:"amount_stored"` // bytes the user stores
}

func (a *api) filesLater(c *gin.Context) {
	files, _, err := a.svc.Files(c.Request.Context(), user(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	d := laterFilesData{Files: make([]laterFileEntry, 0, len(files))}
	for _, f := range files {
		d.AmountStored += f.Size
		d.Files = append(d.Files, fileEntry(f))
	}
	ok(c, d)
}

func fileEntry(f FileInfo) laterFileEntry {
	return laterFileEntry{
		File: laterFile{
			Name:             f.Name,
			UserID:           f.Owner,
			DateOfProtection: jsonTime(f.DateOfProtection),
			Threshold:        f.K,
			ByteSize:         f.Size,
			LastRenewal:      jsonTime(lastRenewal(f)),
			Expired:          f.Expired,
			Hash:             hashInts(f.Hash),
		},
		Storage: nonNil(f.Servers),
	}
}

// configurationData is GET /api/configuration's data.
type configurationData struct {
	Version     string `json:"version"`
	Limit       int    `json:"limit"` // connected storage servers: the largest threshold
	MaxFileSize int64  `json:"max_file_size"`
	// Transit is the QKD transit mode of the shares, "AES" or "OTP";
	// absent without QKD, so the spec's shape is unchanged.
	Transit string `json:"transit,omitempty"`
}

func (a *api) configuration(c *gin.Context) {
	servers, err := a.svc.Storage(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	limit := 0
	for _, s := range servers {
		if s.Connected {
			limit++
		}
	}
	ok(c, configurationData{Version: a.opts.Version, Limit: limit, MaxFileSize: a.maxSize, Transit: a.opts.Transit})
}

func (a *api) ping(c *gin.Context) { ok(c, "pong") }

func (a *api) whoAmI(c *gin.Context) { ok(c, user(c).Name) }

func (a *api) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (a *api) readyz(c *gin.Context) {
	if err := a.svc.Ready(c.Request.Context()); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "reason": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (a *api) serveMetrics(c *gin.Context) {
	a.metricsHTTP.ServeHTTP(c.Writer, c.Request)
}

// jsonTime formats t as RFC 3339 in UTC, to the second.
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func lastRenewal(f FileInfo) time.Time {
	if f.LastRenewal.IsZero() {
		return f.DateOfProtection
	}
	return f.LastRenewal
}

// hashInts spells a hash as the spec's Int[] (encoding/json would give
// base64 for a []byte).
func hashInts(h []byte) []int {
	out := make([]int, len(h))
	for i, b := range h {
		out[i] = int(b)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
