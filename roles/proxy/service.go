package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/webui"
)

var _ webui.Service = (*Proxy)(nil)

// Storage lists every storage server the proxy has met, connected or not.
func (p *Proxy) Storage(ctx context.Context) ([]webui.StorageInfo, error) {
	var out []webui.StorageInfo
	for _, m := range p.reg.snapshot() {
		out = append(out, webui.StorageInfo{
			Name: m.name, Location: m.location, Host: m.host,
			PingMs: m.pingMs, Connected: m.conn != nil,
			Transit: p.transitStatus(m.name),
		})
	}
	return out, nil
}

// Files lists u's files and the fill of the cluster: the used share of the
// connected storage servers' disks, in percent.
func (p *Proxy) Files(ctx context.Context, u webui.User) ([]webui.FileInfo, float64, error) {
	if err := p.catalog.TouchUser(u.Email, u.Name); err != nil {
		return nil, 0, err
	}
	recs, err := p.catalog.ListFiles(u.Email)
	if err != nil {
		return nil, 0, err
	}
	files := make([]webui.FileInfo, 0, len(recs))
	for _, r := range recs {
		files = append(files, p.fileInfo(r))
	}
	var used, total float64
	for _, m := range p.reg.connected() {
		if m.stats.TotalBytes > 0 {
			total += float64(m.stats.TotalBytes)
			used += float64(m.stats.TotalBytes - min(m.stats.FreeBytes, m.stats.TotalBytes))
		}
	}
	pct := 0.0
	if total > 0 {
		pct = 100 * used / total
	}
	return files, pct, nil
}

// Ready is nil once the catalog is open and a storage server is connected.
func (p *Proxy) Ready(ctx context.Context) error {
	if len(p.reg.connected()) == 0 {
		return errors.New("no storage server is connected")
	}
	return nil
}

// expired tells whether a file's shares were last renewed longer ago than
// the expiry duration.
func (p *Proxy) expired(r store.FileRecord) bool {
	last := r.LastRenewal
	if last.IsZero() {
		last = r.Protected
	}
	return time.Since(last) > p.opts.ExpiryDuration
}

func (p *Proxy) fileInfo(r store.FileRecord) webui.FileInfo {
	names := make([]string, len(r.Shares))
	for i, s := range r.Shares {
		names[i] = s.ServerName
	}
	return webui.FileInfo{
		Name: r.Name, Size: r.Size, K: r.K, N: r.N, Servers: names,
		DateOfProtection: r.Protected, LastRenewal: r.LastRenewal,
		Expired: p.expired(r), Hash: r.Hash[:], Owner: r.Owner,
	}
}
