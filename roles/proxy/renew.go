package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
	"github.com/qasmat/qasmat/webui"
)

// renewChunks is how many chunks of one file are prepared at once: enough
// to overlap the network with the storage servers' fsyncs, few enough that
// a renewal leaves bandwidth to uploads and downloads.
const renewChunks = 2

// crashEnv names the test-only hook that makes the proxy exit at a point of
// a renewal (docs/design.md ("Share renewal and expiry")); it is never set in production.
const crashEnv = "QASMAT_TEST_CRASH"

// testCrashPoint exits the process at once if the test hook asks for this
// point: a stand-in for a power cut at the worst moment.
func testCrashPoint(point string) {
	if os.Getenv(crashEnv) == point {
		fmt.Fprintf(os.Stderr, "%s=%s: exiting at this point (test hook)\n", crashEnv, point)
		os.Exit(99)
	}
}

// renewer remembers which files are being renewed or converged, so that a
// renewal never runs twice at once and the convergence step never commits or
// aborts an epoch a renewal is preparing.
type renewer struct {
	mu       sync.Mutex
	busy     map[[16]byte]bool // renewed or converged now
	renewing map[[16]byte]bool // renewed now
	// converged is the connection of each storage server whose files were
	// last brought to the catalog's epochs: a new connection (reconnect,
	// proxy restart) gets a full pass.
	converged map[[32]byte]*transport.Conn
	// unsettled are files whose commit or abort did not reach every holder.
	unsettled map[[16]byte]bool
}

func newRenewer() *renewer {
	return &renewer{busy: map[[16]byte]bool{}, renewing: map[[16]byte]bool{}, converged: map[[32]byte]*transport.Conn{}, unsettled: map[[16]byte]bool{}}
}

func (r *renewer) claim(id [16]byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[id] {
		return false
	}
	r.busy[id] = true
	return true
}

// claimForRenewal claims a file for a renewal. The convergence step holds a
// file only for one short call, so a renewal waits for it; a running
// renewal is refused at once.
func (r *renewer) claimForRenewal(ctx context.Context, id [16]byte) bool {
	for range 50 {
		r.mu.Lock()
		if !r.busy[id] {
			r.busy[id], r.renewing[id] = true, true
			r.mu.Unlock()
			return true
		}
		running := r.renewing[id]
		r.mu.Unlock()
		if running {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

func (r *renewer) release(id [16]byte) {
	r.mu.Lock()
	delete(r.busy, id)
	delete(r.renewing, id)
	r.mu.Unlock()
}

func (r *renewer) setUnsettled(id [16]byte, on bool) {
	r.mu.Lock()
	if on {
		r.unsettled[id] = true
	} else {
		delete(r.unsettled, id)
	}
	r.mu.Unlock()
}

// Renew renews the shares of u's file now.
func (p *Proxy) Renew(ctx context.Context, u webui.User, name string) (webui.FileInfo, error) {
	rec, err := p.catalog.GetFile(u.Email, name)
	if errors.Is(err, store.ErrNotFound) {
		return webui.FileInfo{}, webui.Errorf(webui.ErrNotFound, "there is no file named %q", name)
	} else if err != nil {
		return webui.FileInfo{}, err
	}
	rec, err = p.renewFile(ctx, rec)
	if err != nil {
		return webui.FileInfo{}, err
	}
	p.updateExpired() // the time keeper refreshes it after its own renewals
	return p.fileInfo(rec), nil
}

// holder is a share slot of the file being renewed whose server is connected.
type holder struct {
	slot store.ShareSlot
	conn *transport.Conn
}

// renewFile moves a file from epoch e to e+1 without rebuilding it:
// prepare on every connected holder, then the catalog commit (the commit
// point), then RenewCommit. Holders that are not connected lose their slot;
// fewer than k connected holders change nothing.
func (p *Proxy) renewFile(ctx context.Context, rec store.FileRecord) (store.FileRecord, error) {
	if !p.renew.claimForRenewal(ctx, rec.ID) {
		p.metrics.renewals.WithLabelValues("busy").Inc()
		return rec, webui.Errorf(webui.ErrConflict, "a renewal of %q is already running", rec.Name)
	}
	defer p.renew.release(rec.ID)
	// Re-read under the claim: the record may have moved on meanwhile.
	cur, err := p.catalog.FileByID(rec.ID)
	if errors.Is(err, store.ErrNotFound) {
		return rec, webui.Errorf(webui.ErrNotFound, "there is no file named %q", rec.Name)
	} else if err != nil {
		return rec, err
	}
	rec = cur
	start := time.Now()
	var holders []holder
	var missing []string
	for _, s := range rec.Shares {
		if c := p.reg.conn(s.ServerKey); c != nil {
			holders = append(holders, holder{slot: s, conn: c})
		} else {
			missing = append(missing, s.ServerName)
		}
	}
	if len(holders) < rec.K {
		p.metrics.renewals.WithLabelValues("unavailable").Inc()
		return rec, webui.Errorf(webui.ErrUnavailable,
			"%q cannot be renewed: it needs %d of its %d storage servers but only %d are connected",
			rec.Name, rec.K, len(rec.Shares), len(holders))
	}
	from, to := rec.Epoch, rec.Epoch+1
	chunks, err := p.prepareAll(ctx, rec, holders, from, to)
	if err != nil {
		p.abortRenewal(rec.ID, holders, to)
		p.metrics.renewals.WithLabelValues("error").Inc()
		if ctx.Err() != nil {
			return rec, ctx.Err()
		}
		// Storage servers failed or went away: nothing changed, and a
		// later attempt may succeed.
		return rec, webui.Errorf(webui.ErrUnavailable, "renewing %q failed, nothing changed: %w", rec.Name, err)
	}
	testCrashPoint("renew-after-prepare")

	// The commit point: one synced catalog batch. A tombstone written by a
	// concurrent Remove makes it fail (the file is no longer live).
	next := rec
	next.Epoch = to
	next.LastRenewal = time.Now().UTC()
	next.Shares = make([]store.ShareSlot, len(holders))
	for i, h := range holders {
		next.Shares[i] = h.slot
	}
	if len(holders) == len(rec.Shares) {
		err = p.catalog.UpdateEpoch(rec.ID, to, chunks, next.LastRenewal)
	} else {
		next.N = len(holders)
		err = p.catalog.ReplaceFile(next, chunks)
	}
	if err != nil {
		p.abortRenewal(rec.ID, holders, to)
		p.metrics.renewals.WithLabelValues("error").Inc()
		if errors.Is(err, store.ErrNotFound) {
			return rec, webui.Errorf(webui.ErrNotFound, "%q was removed during its renewal", rec.Name)
		}
		return rec, fmt.Errorf("renewing %q: committing epoch %d: %w", rec.Name, to, err)
	}
	testCrashPoint("renew-after-commit")

	// Cleanup: every holder drops the old epoch, once the downloads that
	// began before the commit are done with it (they read the old epoch's
	// shares). One that misses it is converged later (RenewCommit is
	// idempotent). The claim is held meanwhile, so no other renewal or
	// convergence step touches the file's epochs.
	if n := p.readers.count(rec.ID, from); n > 0 {
		p.log.Info("renewal: waiting for downloads of the previous epoch", "file_id", fmt.Sprintf("%x", rec.ID[:4]), "downloads", n)
		wctx, wcancel := context.WithTimeout(context.Background(), readerWait)
		if !p.readers.wait(wctx, rec.ID, from) {
			p.log.Warn("renewal: downloads of the previous epoch are still running; dropping it anyway",
				"file_id", fmt.Sprintf("%x", rec.ID[:4]), "waited", readerWait)
		}
		wcancel()
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	settled := true
	for _, h := range holders {
		if _, err := call(cctx, h.conn, &wire.RenewCommit{FileID: rec.ID, Epoch: to}); err != nil {
			p.log.Warn("renewal: dropping the old epoch failed; will retry", "storage", h.slot.ServerName, "err", err)
			settled = false
		}
	}
	p.renew.setUnsettled(rec.ID, !settled)
	p.metrics.renewals.WithLabelValues("ok").Inc()
	if len(missing) > 0 {
		p.log.Warn("renewal dropped the shares of storage servers that were not connected",
			"file_id", fmt.Sprintf("%x", rec.ID[:4]), "dropped", missing, "n", len(holders))
	}
	p.log.Info("file renewed", "file_id", fmt.Sprintf("%x", rec.ID[:4]), "epoch", to, "chunks", rec.Chunks,
		"duration", time.Since(start).Round(time.Millisecond))
	return next, nil
}

// prepareAll sends every chunk's deltas to every holder and returns the
// chunk records of the new epoch (same commitments, new digests).
func (p *Proxy) prepareAll(ctx context.Context, rec store.FileRecord, holders []holder, from, to uint32) ([]store.ChunkRecord, error) {
	xs := make([]int, len(holders))
	for i, h := range holders {
		xs[i] = h.slot.X
	}
	chunks := make([]store.ChunkRecord, rec.Chunks)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, renewChunks)
	var wg sync.WaitGroup
	for i := uint32(0); i < rec.Chunks && ctx.Err() == nil; i++ {
		old, err := p.catalog.Chunk(rec.ID, from, i)
		if err != nil {
			cancel(err)
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			digests, err := p.prepareChunk(ctx, rec, holders, xs, from, to, i)
			if err != nil {
				cancel(fmt.Errorf("chunk %d: %w", i, err))
				return
			}
			if i == 0 && rec.Chunks > 1 {
				testCrashPoint("renew-during-prepare")
			}
			cr := store.ChunkRecord{Commitment: old.Commitment, Digests: make([][32]byte, len(holders))}
			for h := range holders {
				cr.Digests[h] = digests[h]
			}
			chunks[i] = cr
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	// Every holder makes the new epoch durable and confirms it holds every
	// chunk of it before the catalog may point at it.
	errs := make([]error, len(holders))
	for i, h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := call(ctx, h.conn, &wire.SyncFile{FileID: rec.ID, Epoch: to, Chunks: rec.Chunks}); err != nil {
				errs[i] = fmt.Errorf("storage server %s: syncing epoch %d: %w", h.slot.ServerName, to, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return chunks, nil
}

// prepareChunk draws one chunk's deltas and sends each holder its own.
func (p *Proxy) prepareChunk(ctx context.Context, rec store.FileRecord, holders []holder, xs []int, from, to, index uint32) ([][32]byte, error) {
	plain := rec.Size - int64(index)*shamir.ChunkPlainSize
	plain = max(0, min(plain, shamir.ChunkPlainSize))
	parts := shamir.ChunkParts(int(plain))
	deltas := make([][]byte, len(holders))
	for i := range deltas {
		deltas[i] = make([]byte, parts*shamir.ShareSize)
	}
	if err := shamir.RefreshParts(rec.K, xs, parts, nil, deltas); err != nil {
		return nil, err
	}
	digests := make([][32]byte, len(holders))
	errs := make([]error, len(holders))
	var wg sync.WaitGroup
	for i, h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delta, err := p.seal(ctx, h.slot.ServerName, deltas[i], kms.TransitAAD(kms.AADRenew, rec.ID, to, index))
			if err != nil {
				errs[i] = fmt.Errorf("storage server %s: %w", h.slot.ServerName, err)
				return
			}
			reply, err := call(ctx, h.conn, &wire.RenewPrepare{FileID: rec.ID, FromEpoch: from, ToEpoch: to, Index: index, Delta: delta})
			if err != nil {
				p.resetTransit(h.slot.ServerName)
				errs[i] = fmt.Errorf("storage server %s: %w", h.slot.ServerName, err)
				return
			}
			rp, ok := reply.(*wire.RenewPrepared)
			if !ok {
				errs[i] = fmt.Errorf("storage server %s: unexpected reply %T to RenewPrepare", h.slot.ServerName, reply)
				return
			}
			digests[i] = rp.Digest
		}()
	}
	wg.Wait()
	return digests, errors.Join(errs...)
}

// abortRenewal drops the prepared epoch on every holder, best effort: what
// it misses, the convergence step drops (the catalog still says the old
// epoch).
func (p *Proxy) abortRenewal(id [16]byte, holders []holder, epoch uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	settled := true
	for _, h := range holders {
		if _, err := call(ctx, h.conn, &wire.RenewAbort{FileID: id, Epoch: epoch}); err != nil {
			settled = false
		}
	}
	p.renew.setUnsettled(id, !settled)
}
