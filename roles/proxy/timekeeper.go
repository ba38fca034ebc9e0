package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport/wire"
)

// timeKeeper renews, every CheckInterval, the files whose last renewal is
// older than RenewalDuration, one file at a time so that uploads and
// downloads keep most of the bandwidth, and refreshes the expired-files
// gauge.
func (p *Proxy) timeKeeper(ctx context.Context) {
	t := time.NewTicker(p.opts.CheckInterval)
	defer t.Stop()
	p.updateExpired()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.renewDue(ctx)
		p.updateExpired()
	}
}

// renewDue renews every file due for renewal; a failure leaves the file for
// the next check (it expires if that keeps happening).
func (p *Proxy) renewDue(ctx context.Context) {
	var due []store.FileRecord
	err := p.catalog.AllFiles(func(r store.FileRecord) error {
		if time.Since(lastRenewal(r)) >= p.opts.RenewalDuration {
			due = append(due, r)
		}
		return nil
	})
	if err != nil {
		p.log.Error("time keeper: reading the catalog", "err", err)
		return
	}
	// The oldest first: they are closest to expiry.
	slices.SortFunc(due, func(a, b store.FileRecord) int { return lastRenewal(a).Compare(lastRenewal(b)) })
	for _, r := range due {
		if ctx.Err() != nil {
			return
		}
		if _, err := p.renewFile(ctx, r); err != nil {
			p.log.Warn("time keeper: renewal failed; will retry at the next check",
				"file_id", fmt.Sprintf("%x", r.ID[:4]), "err", err)
		}
	}
}

func lastRenewal(r store.FileRecord) time.Time {
	if r.LastRenewal.IsZero() {
		return r.Protected
	}
	return r.LastRenewal
}

// updateExpired sets the gauge of expired files.
func (p *Proxy) updateExpired() {
	n := 0
	err := p.catalog.AllFiles(func(r store.FileRecord) error {
		if p.expired(r) {
			n++
		}
		return nil
	})
	if err == nil {
		p.metrics.expired.Set(float64(n))
	}
}

// convergeLoop brings the epochs held by storage servers to the catalog's:
// a full pass over a server's files whenever it (re)connects, and a pass
// over the files whose last commit or abort did not reach every holder.
func (p *Proxy) convergeLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range p.reg.connected() {
			p.renew.mu.Lock()
			done := p.renew.converged[m.key] == m.conn
			p.renew.mu.Unlock()
			if done {
				continue
			}
			if p.convergeServer(ctx, m) {
				p.renew.mu.Lock()
				p.renew.converged[m.key] = m.conn
				p.renew.mu.Unlock()
			}
		}
		p.renew.mu.Lock()
		var ids [][16]byte
		for id := range p.renew.unsettled {
			ids = append(ids, id)
		}
		p.renew.mu.Unlock()
		for _, id := range ids {
			p.convergeFile(ctx, id)
		}
	}
}

// convergeServer settles every live file m holds: RenewCommit at the
// catalog's epoch where m holds a slot (it drops a prepared-but-uncommitted
// epoch as well as an old one left by a missed commit), DeleteFile where
// its slot was dropped by a renewal it missed. Files the catalog does not
// know are the orphan sweeper's. It returns false if it must be retried.
func (p *Proxy) convergeServer(ctx context.Context, m member) bool {
	var after wire.FileID
	ok := true
	for {
		reply, err := call(ctx, m.conn, &wire.ListFiles{After: after})
		if err != nil {
			return false
		}
		fl, isList := reply.(*wire.FileList)
		if !isList {
			return false
		}
		for _, id := range fl.IDs {
			if !p.convergeOn(ctx, m, id) {
				ok = false
			}
		}
		if !fl.More || len(fl.IDs) == 0 {
			return ok
		}
		after = fl.IDs[len(fl.IDs)-1]
	}
}

// convergeOn settles one file on one server; false if it must be retried.
func (p *Proxy) convergeOn(ctx context.Context, m member, id [16]byte) bool {
	if !p.renew.claim(id) {
		return false // being renewed: settled by the renewal, or retried
	}
	defer p.renew.release(id)
	rec, err := p.catalog.FileByID(id)
	if errors.Is(err, store.ErrNotFound) {
		return true // unknown or tombstoned: the sweeper's
	} else if err != nil {
		return false
	}
	var msg wire.Message = &wire.DeleteFile{FileID: id}
	for _, s := range rec.Shares {
		if s.ServerKey == m.key {
			msg = &wire.RenewCommit{FileID: id, Epoch: rec.Epoch}
		}
	}
	if _, err := call(ctx, m.conn, msg); err != nil {
		p.log.Warn("renewal: converging epochs failed; will retry", "storage", m.name, "err", err)
		return false
	}
	if _, dropped := msg.(*wire.DeleteFile); dropped {
		p.log.Info("renewal: deleted the shares of a slot dropped while the storage server was away",
			"storage", m.name, "file_id", fmt.Sprintf("%x", id[:4]))
	}
	return true
}

// convergeFile settles one file on every connected holder.
func (p *Proxy) convergeFile(ctx context.Context, id [16]byte) {
	rec, err := p.catalog.FileByID(id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			p.renew.setUnsettled(id, false)
		}
		return
	}
	ok := true
	for _, s := range rec.Shares {
		c := p.reg.conn(s.ServerKey)
		if c == nil {
			ok = false // settled by the full pass when it reconnects
			continue
		}
		if !p.convergeOn(ctx, member{key: s.ServerKey, name: s.ServerName, conn: c}, id) {
			ok = false
		}
	}
	if ok {
		p.renew.setUnsettled(id, false)
	}
}
