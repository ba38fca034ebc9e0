package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
	"github.com/qasmat/qasmat/webui"
)

// fetchWindow is how many chunks are fetched at once, each from k servers:
// enough to keep every server and both cores busy while a chunk is rebuilt
// and written, bounded so memory does not grow with the file (about
// fetchWindow × k MiB of shares).
const fetchWindow = 3

// slot is one share of the file being read, with the connection to its server.
type slot struct {
	idx  int // index into FileRecord.Shares
	x    int
	key  [32]byte
	name string
	conn *transport.Conn
}

// fetcher gets k verified share chunks per chunk, replacing a server whose
// share is missing or fails its digest by a spare one (invariant 5).
type fetcher struct {
	p      *Proxy
	rec    store.FileRecord
	chunks []store.ChunkRecord         // of rec.Epoch, read when the download began
	combs  map[string]*shamir.Combiner // used by the writer goroutine only

	// mu guards chosen and spare: chunks in flight at once may replace a
	// failing server.
	mu     sync.Mutex
	chosen []slot
	spare  []slot
}

func (p *Proxy) newFetcher(rec store.FileRecord, chunks []store.ChunkRecord) (*fetcher, error) {
	f := &fetcher{p: p, rec: rec, chunks: chunks, combs: map[string]*shamir.Combiner{}}
	var avail []slot
	var missing []string
	pings := map[[32]byte]float64{}
	for _, m := range p.reg.connected() {
		pings[m.key] = m.pingMs
	}
	for i, s := range rec.Shares {
		c := p.reg.conn(s.ServerKey)
		if c == nil {
			missing = append(missing, s.ServerName)
			continue
		}
		avail = append(avail, slot{idx: i, x: s.X, key: s.ServerKey, name: s.ServerName, conn: c})
	}
	if len(avail) < rec.K {
		return nil, webui.Errorf(webui.ErrUnavailable,
			"%q needs %d of its %d storage servers but only %d are connected; missing: %s",
			rec.Name, rec.K, rec.N, len(avail), strings.Join(missing, ", "))
	}
	// The fastest servers first.
	slices.SortStableFunc(avail, func(a, b slot) int {
		pa, pb := pings[a.key], pings[b.key]
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return 0
	})
	f.chosen = avail[:rec.K:rec.K]
	f.spare = append([]slot(nil), avail[rec.K:]...)
	return f, nil
}

func (f *fetcher) combiner(slots []slot) (*shamir.Combiner, error) {
	xs := make([]int, len(slots))
	var key strings.Builder
	for i, s := range slots {
		xs[i] = s.x
		fmt.Fprintf(&key, "%d,", s.x)
	}
	if c := f.combs[key.String()]; c != nil {
		return c, nil
	}
	c, err := shamir.NewCombiner(xs)
	if err != nil {
		return nil, err
	}
	f.combs[key.String()] = c
	return c, nil
}

// fetched is one chunk's k verified share chunks, ready to combine.
type fetched struct {
	index  uint32
	meta   shamir.ChunkMeta
	slots  []slot
	shares [][]byte
	raw    [][]byte // reply buffers the shares point into
	err    error
}

// fetch returns chunk index's share chunks from k servers whose digests
// match the catalog, falling back to spare servers.
func (f *fetcher) fetch(ctx context.Context, index uint32) fetched {
	out := fetched{index: index}
	if int(index) >= len(f.chunks) {
		out.err = fmt.Errorf("chunk %d has no record in the catalog", index)
		return out
	}
	rec := f.chunks[index]
	// The chunk's plaintext length follows from the file size: every chunk
	// but the last is full.
	plain := f.rec.Size - int64(index)*shamir.ChunkPlainSize
	plain = max(0, min(plain, shamir.ChunkPlainSize))
	out.meta = shamir.ChunkMeta{Index: index, PlainLen: uint32(plain), Commitment: rec.Commitment}
	type result struct {
		data []byte
		raw  []byte // the reply's buffer, handed back once combined
		err  error
	}
	get := func(s slot) result {
		kc := &keepReply{c: s.conn}
		m, err := call(ctx, kc, &wire.GetChunk{FileID: f.rec.ID, Epoch: f.rec.Epoch, Index: index})
		if err != nil {
			transport.Release(kc.raw)
			return result{err: err}
		}
		cd, ok := m.(*wire.ChunkData)
		if !ok {
			return result{err: fmt.Errorf("unexpected reply %T", m)}
		}
		data, err := f.p.open(ctx, s.name, cd.Data, kms.TransitAAD(kms.AADGet, f.rec.ID, f.rec.Epoch, index))
		if err != nil {
			return result{err: err}
		}
		if shareDigest(data) != rec.Digests[s.idx] {
			transport.Release(kc.raw)
			return result{err: errors.New("share chunk does not match its digest")}
		}
		return result{data: data, raw: kc.raw}
	}
	f.mu.Lock()
	slots := slices.Clone(f.chosen)
	f.mu.Unlock()
	results := make([]result, len(slots))
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = get(s) }()
	}
	wg.Wait()
	for i := range slots {
		for results[i].err != nil {
			bad := slots[i]
			if ctx.Err() != nil {
				out.err = ctx.Err()
				return out
			}
			f.p.reportBadShare(bad.name, index, results[i].err)
			next, ok := f.replace(i, bad)
			if !ok {
				out.err = webui.Errorf(webui.ErrUnavailable,
					"%q cannot be rebuilt: chunk %d has fewer than %d good shares (storage server %s: %v)",
					f.rec.Name, index, f.rec.K, bad.name, results[i].err)
				return out
			}
			slots[i] = next
			results[i] = get(next)
		}
	}
	out.slots = slots
	out.shares = make([][]byte, len(results))
	out.raw = make([][]byte, len(results))
	for i, r := range results {
		out.shares[i] = r.data
		out.raw[i] = r.raw
	}
	return out
}

// release hands the reply buffers back to the transport's pool; the shares
// (which may point into them) are not used after.
func (r *fetched) release() {
	for _, b := range r.raw {
		transport.Release(b)
	}
	r.raw, r.shares = nil, nil
}

// keepReply is a caller that remembers the raw reply, so that its buffer can
// go back to the pool once the share chunk in it has been combined.
type keepReply struct {
	c   caller
	raw []byte
}

func (k *keepReply) Call(ctx context.Context, req []byte) ([]byte, error) {
	b, err := k.c.Call(ctx, req)
	k.raw = b
	return b, err
}

// replace swaps the server in position i, which failed, for a spare one for
// the rest of the file; if another chunk in flight already replaced it, the
// replacement is used. false: no spare server is left.
func (f *fetcher) replace(i int, bad slot) (slot, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.chosen[i].idx != bad.idx {
		return f.chosen[i], true
	}
	if len(f.spare) == 0 {
		return slot{}, false
	}
	f.chosen[i], f.spare = f.spare[0], f.spare[1:]
	return f.chosen[i], true
}

// reportBadShare logs and counts a share that could not be used.
func (p *Proxy) reportBadShare(server string, index uint32, err error) {
	p.metrics.badShares.WithLabelValues(server).Inc()
	p.log.Warn("share skipped during retrieval", "storage", server, "chunk", index, "err", err)
}

// Retrieve rebuilds a file chunk by chunk; each chunk's shares are checked
// against their digests and the rebuilt chunk against its Pedersen
// commitment before a byte of it is written (invariant 5).
func (p *Proxy) Retrieve(ctx context.Context, u webui.User, name string, start func(webui.FileInfo) io.Writer) error {
	rec, chunks, release, err := p.openForRead(u, name)
	if err != nil {
		return err
	}
	defer release()
	f, err := p.newFetcher(rec, chunks)
	if err != nil {
		p.metrics.retrieves.WithLabelValues("unavailable").Inc()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Up to fetchWindow chunks are fetched at once; they are rebuilt and
	// written in order. Each one's result arrives on its own channel,
	// queued in chunk order.
	order := make(chan chan fetched, fetchWindow)
	go func() {
		defer close(order)
		for i := uint32(0); i < rec.Chunks; i++ {
			one := make(chan fetched, 1)
			select {
			case order <- one:
			case <-ctx.Done():
				return
			}
			go func() { one <- f.fetch(ctx, i) }()
		}
	}()
	var w io.Writer
	var buf []byte
	var written int64
	for one := range order {
		r := <-one
		if r.err != nil {
			return p.retrieveFailed(r.err, w != nil)
		}
		comb, err := f.combiner(r.slots)
		if err != nil {
			return p.retrieveFailed(err, w != nil)
		}
		buf, err = shamir.OpenChunk(comb, r.meta, r.shares, buf[:0])
		r.release()
		if err != nil {
			p.log.Error("a chunk failed its integrity check after its shares matched their digests",
				"chunk", r.index, "err", err)
			return p.retrieveFailed(fmt.Errorf("chunk %d failed its integrity check: %w", r.index, err), w != nil)
		}
		if w == nil {
			// The first chunk is verified: only now commit to a 200.
			w = start(p.fileInfo(rec))
		}
		if written+int64(len(buf)) > rec.Size {
			return p.retrieveFailed(fmt.Errorf("rebuilt data exceeds the file size"), true)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		written += int64(len(buf))
	}
	if w == nil {
		return p.retrieveFailed(ctx.Err(), false)
	}
	if written != rec.Size {
		return p.retrieveFailed(fmt.Errorf("rebuilt %d bytes, the file has %d", written, rec.Size), true)
	}
	p.metrics.retrieves.WithLabelValues("ok").Inc()
	return nil
}

func (p *Proxy) retrieveFailed(err error, started bool) error {
	outcome := "error"
	if errors.Is(err, webui.ErrUnavailable) {
		outcome = "unavailable"
	}
	p.metrics.retrieves.WithLabelValues(outcome).Inc()
	if started {
		p.log.Error("retrieval aborted after streaming began", "err", err)
	}
	return err
}
