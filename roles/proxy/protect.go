package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport/wire"
	"github.com/qasmat/qasmat/webui"
)

// sendDepth is how many share chunks may wait per storage server while the
// next ones are split: enough to keep every link busy, bounded so memory
// does not grow with the file (about (sendDepth+2) x n MiB).
const sendDepth = 2

// chunkPool recycles the buffers of encoded PutChunk messages between
// uploads: each share chunk is copied once, straight into its message.
// Small shares (files under about 64 KiB) use their own pool, so that a
// small upload does not take, or make, a megabyte buffer.
var (
	chunkPool      = sync.Pool{New: func() any { b := make([]byte, 0, shamir.MaxShareChunkSize+64); return &b }}
	smallChunkPool = sync.Pool{New: func() any { b := make([]byte, 0, smallChunk); return &b }}
)

const smallChunk = 64 << 10

// getChunkBuf returns an empty buffer for an encoded share chunk of about n
// bytes; putChunkBuf gives it back.
func getChunkBuf(n int) *[]byte {
	if n+64 <= smallChunk {
		return smallChunkPool.Get().(*[]byte)
	}
	return chunkPool.Get().(*[]byte)
}

func putChunkBuf(bp *[]byte) {
	if cap(*bp) <= smallChunk {
		smallChunkPool.Put(bp)
	} else {
		chunkPool.Put(bp)
	}
}

// errServer marks a failure of a storage server (as opposed to the client's
// upload body) during a protect.
type serverError struct {
	name string
	err  error
}

func (e *serverError) Error() string {
	return fmt.Sprintf("storage server %s failed: %v", e.name, e.err)
}
func (e *serverError) Unwrap() error { return e.err }

// bodyReader remembers the upload body's own error so that it is not
// mistaken for a storage server failure.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Protect splits body into shares and stores one share stream on each chosen
// storage server. The order is the one invariant 3 asks for: every server
// syncs its shares, then the catalog entry is written (synced); until then
// the file is not listed, and any failure deletes what was written.
func (p *Proxy) Protect(ctx context.Context, u webui.User, req webui.ProtectRequest, body io.Reader) (webui.FileInfo, error) {
	start := time.Now()
	if err := p.catalog.TouchUser(u.Email, u.Name); err != nil {
		return webui.FileInfo{}, err
	}
	if _, err := p.catalog.GetFile(u.Email, req.Name); err == nil {
		return webui.FileInfo{}, webui.Errorf(webui.ErrExists, "a file named %q already exists; remove it first or choose another name", req.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return webui.FileInfo{}, err
	}
	release, ok := p.reserveUpload(u.Email, req.Name)
	if !ok {
		return webui.FileInfo{}, webui.Errorf(webui.ErrExists, "a file named %q is being uploaded right now", req.Name)
	}
	defer release()

	servers, err := p.chooseServers(req)
	if err != nil {
		return webui.FileInfo{}, err
	}
	n := len(servers)
	if req.K < 2 {
		return webui.FileInfo{}, webui.Errorf(webui.ErrBadThreshold, "threshold must be a whole number of at least 2")
	}
	if req.K > n {
		return webui.FileInfo{}, webui.Errorf(webui.ErrBadThreshold,
			"threshold %d is more than the %d connected storage servers", req.K, n)
	}
	id, err := newFileID()
	if err != nil {
		return webui.FileInfo{}, err
	}
	p.markInflight(id, true)
	defer p.markInflight(id, false)

	xs := make([]int, n)
	for i := range xs {
		xs[i] = i + 1
	}
	sp, err := shamir.NewSplitter(req.K, xs, nil)
	if err != nil {
		return webui.FileInfo{}, err
	}

	sendCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queues := make([]chan sendJob, n)
	var wg sync.WaitGroup
	for i, m := range servers {
		queues[i] = make(chan sendJob, sendDepth)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.sendShares(sendCtx, cancel, m, id, queues[i])
		}()
	}
	var chunks []store.ChunkRecord
	var metas []shamir.ChunkMeta
	br := &bodyReader{r: body}
	size, splitErr := shamir.SplitStream(br, sp, func(meta shamir.ChunkMeta, shares [][]byte) error {
		rec := store.ChunkRecord{Commitment: meta.Commitment, Digests: append([][32]byte(nil), meta.Digests...)}
		chunks = append(chunks, rec)
		metas = append(metas, meta)
		for i, s := range shares {
			bp := getChunkBuf(len(s))
			if p.opts.Transit != nil {
				// Sealed by the server's sender (sendShares), in parallel
				// across servers; the share is copied here because the
				// splitter reuses its buffers.
				*bp = append((*bp)[:0], s...)
			} else {
				buf, err := wire.Append((*bp)[:0], &wire.PutChunk{FileID: id, Epoch: 0, Index: meta.Index, Data: s})
				if err != nil {
					putChunkBuf(bp)
					return err
				}
				*bp = buf
			}
			select {
			case queues[i] <- sendJob{index: meta.Index, buf: bp}:
			case <-sendCtx.Done():
				putChunkBuf(bp)
				return context.Cause(sendCtx)
			}
		}
		return nil
	})
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	fail := func(err error) (webui.FileInfo, error) {
		p.discardShares(id, servers)
		p.metrics.protects.WithLabelValues("error").Inc()
		return webui.FileInfo{}, p.protectError(err, br)
	}
	if splitErr != nil {
		return fail(splitErr)
	}
	if err := context.Cause(sendCtx); err != nil {
		return fail(err)
	}
	// Every share is written; now make them durable on every server.
	if err := p.syncAll(ctx, servers, id, uint32(len(chunks))); err != nil {
		return fail(err)
	}
	now := time.Now().UTC()
	rec := store.FileRecord{
		ID: id, Owner: u.Email, Name: req.Name, Size: size, K: req.K, N: n,
		Protected: now, LastRenewal: now, Epoch: 0,
		Hash: shamir.FileHash(size, metas), Chunks: uint32(len(chunks)),
	}
	for i, m := range servers {
		rec.Shares = append(rec.Shares, store.ShareSlot{X: xs[i], ServerKey: m.key, ServerName: m.name})
	}
	if err := p.catalog.PutFile(rec, chunks); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = webui.Errorf(webui.ErrExists, "a file named %q already exists", req.Name)
		}
		return fail(err)
	}
	p.metrics.protects.WithLabelValues("ok").Inc()
	p.log.Info("file protected", "file_id", fmt.Sprintf("%x", id[:4]), "bytes", size, "k", req.K, "n", n,
		"chunks", len(chunks), "duration", time.Since(start).Round(time.Millisecond))
	return p.fileInfo(rec), nil
}

// protectError turns a failed protect into what the client reads.
func (p *Proxy) protectError(err error, br *bodyReader) error {
	if br.err != nil {
		if errors.Is(br.err, webui.ErrTooLarge) {
			return br.err
		}
		return webui.Errorf(webui.ErrBadRequest, "the upload was interrupted: %v; nothing was stored", br.err)
	}
	var se *serverError
	if errors.As(err, &se) {
		p.log.Warn("protect failed", "storage", se.name, "err", se.err)
		return webui.Errorf(webui.ErrUnavailable, "storage server %s failed while storing shares (%v); nothing was stored", se.name, se.err)
	}
	return err
}

type sendJob struct {
	index uint32
	buf   *[]byte
}

// sendShares writes one server's share chunks in order; the first failure
// cancels the whole protect.
func (p *Proxy) sendShares(ctx context.Context, cancel context.CancelCauseFunc, m member, id [16]byte, q <-chan sendJob) {
	failed := false
	for job := range q {
		if !failed {
			err := p.sendChunk(ctx, m, id, job)
			if err != nil {
				failed = true
				p.resetTransit(m.name)
				if ctx.Err() == nil {
					cancel(&serverError{name: m.name, err: err})
				}
			}
		}
		putChunkBuf(job.buf)
	}
}

// sendChunk sends one pre-encoded PutChunk, or, with QKD transit, seals the
// raw share chunk in job for the server and sends it.
func (p *Proxy) sendChunk(ctx context.Context, m member, id [16]byte, job sendJob) error {
	if p.opts.Transit == nil {
		return callEncoded(ctx, m.conn, *job.buf)
	}
	sealed, err := p.seal(ctx, m.name, *job.buf, kms.TransitAAD(kms.AADPut, id, 0, job.index))
	if err != nil {
		return err
	}
	_, err = call(ctx, m.conn, &wire.PutChunk{FileID: id, Epoch: 0, Index: job.index, Data: sealed})
	return err
}

func (p *Proxy) syncAll(ctx context.Context, servers []member, id [16]byte, chunks uint32) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, m := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := call(ctx, m.conn, &wire.SyncFile{FileID: id, Epoch: 0, Chunks: chunks}); err != nil {
				errs[i] = &serverError{name: m.name, err: err}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// discardShares deletes a failed protect's shares; servers that cannot be
// reached now are cleaned later by the orphan sweeper.
func (p *Proxy) discardShares(id [16]byte, servers []member) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := call(ctx, m.conn, &wire.DeleteFile{FileID: id}); err != nil {
				p.log.Warn("could not delete the shares of a failed protect; the sweeper will", "storage", m.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// chooseServers picks the storage servers of a new file: the named ones, or
// every connected one, sorted by name.
func (p *Proxy) chooseServers(req webui.ProtectRequest) ([]member, error) {
	connected := p.reg.connected()
	if req.Servers == nil {
		if len(connected) < 2 {
			return nil, webui.Errorf(webui.ErrUnavailable,
				"at least 2 storage servers must be connected to protect a file; %d connected", len(connected))
		}
		return connected, nil
	}
	byName := map[string]member{}
	for _, m := range connected {
		byName[m.name] = m
	}
	known := map[string]bool{}
	for _, m := range p.reg.snapshot() {
		known[m.name] = true
	}
	var out []member
	var missing []string
	seen := map[string]bool{}
	for _, name := range req.Servers {
		if seen[name] {
			return nil, webui.Errorf(webui.ErrBadRequest, "storage server %q is named twice", name)
		}
		seen[name] = true
		if !known[name] {
			return nil, webui.Errorf(webui.ErrBadRequest, "there is no storage server named %q", name)
		}
		m, ok := byName[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		out = append(out, m)
	}
	if len(missing) > 0 {
		return nil, webui.Errorf(webui.ErrUnavailable, "storage servers not connected: %s", strings.Join(missing, ", "))
	}
	if len(out) < 2 {
		return nil, webui.Errorf(webui.ErrBadRequest, "choose at least 2 storage servers")
	}
	return out, nil
}

func (p *Proxy) reserveUpload(owner, name string) (func(), bool) {
	key := owner + "\x00" + name
	p.uploadsMu.Lock()
	defer p.uploadsMu.Unlock()
	if p.uploads[key] {
		return nil, false
	}
	p.uploads[key] = true
	return func() {
		p.uploadsMu.Lock()
		delete(p.uploads, key)
		p.uploadsMu.Unlock()
	}, true
}

func (p *Proxy) markInflight(id [16]byte, on bool) {
	p.uploadsMu.Lock()
	defer p.uploadsMu.Unlock()
	if on {
		p.inflight[id] = struct{}{}
	} else {
		delete(p.inflight, id)
	}
}

// shareDigest is the digest the catalog keeps of a share chunk.
func shareDigest(b []byte) [32]byte { return sha256.Sum256(b) }
