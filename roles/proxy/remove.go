package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport/wire"
	"github.com/qasmat/qasmat/webui"
)

// Remove deletes a file: the catalog tombstone first (the file disappears at
// once and for good), then the shares; what cannot be deleted now is left to
// the sweeper.
func (p *Proxy) Remove(ctx context.Context, u webui.User, name string) error {
	rec, err := p.catalog.Tombstone(u.Email, name)
	if errors.Is(err, store.ErrNotFound) {
		return webui.Errorf(webui.ErrNotFound, "there is no file named %q", name)
	} else if err != nil {
		return err
	}
	p.metrics.removes.Inc()
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.purge(dctx, rec) {
		return nil
	}
	p.log.Info("file removed; some shares wait for their storage servers", "file_id", fmt.Sprintf("%x", rec.ID[:4]))
	return nil
}

// purge deletes a tombstoned file's shares from every server that holds
// them, then the tombstone; false if some server could not be reached.
func (p *Proxy) purge(ctx context.Context, rec store.FileRecord) bool {
	done := true
	for _, s := range rec.Shares {
		c := p.reg.conn(s.ServerKey)
		if c == nil {
			done = false
			continue
		}
		if _, err := call(ctx, c, &wire.DeleteFile{FileID: rec.ID}); err != nil {
			p.log.Warn("deleting shares failed; will retry", "storage", s.ServerName, "err", err)
			done = false
		}
	}
	if !done {
		return false
	}
	if err := p.catalog.Purge(rec.ID); err != nil {
		p.log.Error("purging a tombstone", "err", err)
		return false
	}
	return true
}

// kickSweeper asks for a sweep soon (a storage server just connected).
func (p *Proxy) kickSweeper() {
	select {
	case p.sweepNow <- struct{}{}:
	default:
	}
}

// sweepLoop finishes interrupted removals and deletes orphaned shares: shares
// of uploads that never reached the catalog (a failed or crashed protect).
func (p *Proxy) sweepLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.sweepNow:
			// Let a burst of reconnections settle.
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		p.sweep(ctx)
	}
}

func (p *Proxy) sweep(ctx context.Context) {
	tombs, err := p.catalog.Tombstones()
	if err != nil {
		p.log.Error("sweeper: reading tombstones", "err", err)
		return
	}
	for _, rec := range tombs {
		p.purge(ctx, rec)
	}
	for _, m := range p.reg.connected() {
		p.sweepServer(ctx, m)
	}
}

// sweepServer deletes the files a server holds that the catalog does not
// know. The server's list is read first and the catalog second, and a
// protect writes the catalog before it stops being in flight, so a file
// being uploaded is never taken for an orphan.
func (p *Proxy) sweepServer(ctx context.Context, m member) {
	var ids []wire.FileID
	var after wire.FileID
	for {
		reply, err := call(ctx, m.conn, &wire.ListFiles{After: after})
		if err != nil {
			p.log.Warn("sweeper: listing files", "storage", m.name, "err", err)
			return
		}
		fl, ok := reply.(*wire.FileList)
		if !ok {
			return
		}
		ids = append(ids, fl.IDs...)
		if !fl.More || len(fl.IDs) == 0 {
			break
		}
		after = fl.IDs[len(fl.IDs)-1]
	}
	known, err := p.catalog.KnownFileIDs()
	if err != nil {
		p.log.Error("sweeper: reading the catalog", "err", err)
		return
	}
	p.uploadsMu.Lock()
	for id := range p.inflight {
		known[id] = struct{}{}
	}
	p.uploadsMu.Unlock()
	for _, id := range ids {
		if _, ok := known[id]; ok {
			continue
		}
		if _, err := call(ctx, m.conn, &wire.DeleteFile{FileID: id}); err != nil {
			p.log.Warn("sweeper: deleting orphaned shares", "storage", m.name, "err", err)
			continue
		}
		p.metrics.orphans.Inc()
		p.log.Info("sweeper: deleted orphaned shares", "storage", m.name, "file_id", fmt.Sprintf("%x", id[:4]))
	}
}
