package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The staged path of the share store (docs/store.md, "Large files").
//
// A file's share chunks arrive in index order. Instead of going through the
// memtable (a copy into the batch, a copy into the memtable, a write into a
// blob file at flush, and write stalls when the two memtables are full), the
// chunks of one (file, epoch) are written straight into an external sstable
// in the staging folder, and the table is ingested when the file is synced.
// File IDs are random, so the narrow tables of a file rarely overlap
// anything: pebble places them low in the LSM and never rewrites them.

const (
	// stageDirName is the staging folder inside the store's directory. It
	// is emptied at open: staged chunks were never acknowledged.
	stageDirName = "qasmat-staging"
	// A run accepts chunks that arrive a little early (concurrent renewal
	// prepares, pipelined puts) and waits for the gap; anything further
	// out of order ends the run and takes the batch path.
	maxAheadChunks = 4
	maxAheadBytes  = 8 << 20
	// stageBytesPerSync starts write-back of a staged table while it is
	// being written, so that the fsync at ingest has little left to do.
	stageBytesPerSync = 1 << 20
)

// pfxIngest: "m/ingest/" nonce[8] seq[8] -> the usage an ingest adds
// (encodeUsage: bytes, files). The marker is ingested in the same atomic
// ingest as the chunks and deleted in the batch that adds the usage to
// "m/usage"; a marker found at open means that batch was lost in a crash,
// and its usage is added then.
var pfxIngest = []byte("m/ingest/")

// stagedRun is a run of chunks of one file at one epoch, staged in index
// order and not yet durable. A file has at most one run at a time. A run
// is in ShareStore.runs only while it holds at least one chunk; id and
// epoch never change, the rest is used under the file's lock.
type stagedRun struct {
	id    [16]byte
	epoch uint32
	first uint32 // index of the run's first chunk
	next  uint32 // index the run expects next

	// head is a copy of the run's first chunk while it is the only one:
	// a one-chunk file never creates a table, it takes the batch path at
	// sync.
	head []byte

	ahead      map[uint32][]byte // copies of chunks that arrived early
	aheadBytes int

	tbl   *sstable.Writer // nil until the run has two chunks
	out   *stageWritable
	path  string
	sizes []uint32 // length of chunk first+i
	bytes uint64
}

// stagedBytes is the length of the chunks the run holds.
func (r *stagedRun) stagedBytes() uint64 {
	return r.bytes + uint64(len(r.head)) + uint64(r.aheadBytes)
}

// stageWritable is the staged table's file. Finish syncs it (pebble's
// Ingest requires the caller to have synced the table), unless the run is
// discarded.
type stageWritable struct {
	f       vfs.File
	discard bool
}

func (w *stageWritable) Write(p []byte) error {
	_, err := w.f.Write(p)
	return err
}

func (w *stageWritable) Finish() error {
	if w.discard {
		return w.f.Close()
	}
	if err := w.f.Sync(); err != nil {
		_ = w.f.Close()
		return err
	}
	return w.f.Close()
}

func (w *stageWritable) Abort() { _ = w.f.Close() }

// idLocks serialises the operations on one file ID (puts, syncs, deletes,
// the end of a run) without holding up other files: an ingest may wait for
// a large fsync.
type idLocks struct {
	mu sync.Mutex
	m  map[[16]byte]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

func (l *idLocks) lock(id [16]byte) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[[16]byte]*idLock)
	}
	e := l.m[id]
	if e == nil {
		e = &idLock{}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}

// initStaging empties the staging folder and prepares the options of the
// staged tables.
func (s *ShareStore) initStaging(dir string, fs vfs.FS) error {
	if fs == nil {
		fs = vfs.Default
	}
	s.fs = fs
	s.stageDir = fs.PathJoin(dir, stageDirName)
	if err := fs.RemoveAll(s.stageDir); err != nil {
		return fmt.Errorf("store: empty %s: %w", s.stageDir, err)
	}
	if err := fs.MkdirAll(s.stageDir, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// The row-based table format (Pebblev4, readable at every format
	// major version this store opens) copies a 1 MiB value twice on its
	// way to the file, the columnar one four times: measured 78-80 MB/s
	// against 48-65 MB/s (five stores), and a lower peak RSS. xxhash64
	// checksums cost a third less CPU than CRC32C here; the proxy checks
	// every share chunk's SHA-256 digest anyway.
	o := dbOptions(fs, shareCacheSize, shareWAL)
	o.EnsureDefaults()
	s.writerOpts = o.MakeWriterOptions(0, sstable.TableFormatPebblev4)
	s.writerOpts.Checksum = block.ChecksumTypeXXHash64
	if _, err := rand.Read(s.nonce[:]); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.runs = make(map[[16]byte]*stagedRun)
	return nil
}

// runFor returns the file's staged run, or nil.
func (s *ShareStore) runFor(id [16]byte) *stagedRun {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.runs[id]
}

func (s *ShareStore) setRun(r *stagedRun) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.runs[r.id] = r
}

func (s *ShareStore) dropRun(r *stagedRun) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.runs[r.id] == r {
		delete(s.runs, r.id)
	}
}

// allRuns returns the staged runs (a snapshot).
func (s *ShareStore) allRuns() []*stagedRun {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	out := make([]*stagedRun, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, r)
	}
	return out
}

// startRun decides whether a put of (id, epoch, index) may start a run: the
// run continues after the last chunk the file has at that epoch, and index
// must be that next one or a little ahead. A put that rewrites a chunk, or
// one far ahead, takes the batch path. The caller holds the file's lock.
func (s *ShareStore) startRun(id [16]byte, epoch, index uint32) (*stagedRun, bool, error) {
	prefix := filePrefix(pfxSize, id, epoch)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, false, fmt.Errorf("store: %w", err)
	}
	next, ok := uint32(0), true
	if it.Last() {
		k := it.Key()
		if len(k) != 26 {
			_ = it.Close()
			return nil, false, fmt.Errorf("store: size key %s: %w", keyString(k), ErrCorrupt)
		}
		last := binary.BigEndian.Uint32(k[22:])
		next, ok = last+1, last != 1<<32-1
	}
	if err := it.Close(); err != nil {
		return nil, false, fmt.Errorf("store: %w", err)
	}
	if !ok || index < next || index-next > maxAheadChunks {
		return nil, false, nil
	}
	return &stagedRun{id: id, epoch: epoch, first: next, next: next, ahead: make(map[uint32][]byte)}, true, nil
}

// stageChunk adds a chunk to the file's run: in order, into the table; a
// little early, into the run's waiting room; otherwise the run ends (it is
// ingested) and the chunk takes the batch path. The caller holds the
// file's lock.
func (s *ShareStore) stageChunk(r *stagedRun, index uint32, data []byte) error {
	switch {
	case index == r.next:
		if err := s.appendRun(r, data); err != nil {
			return err
		}
		for {
			d, ok := r.ahead[r.next]
			if !ok {
				return nil
			}
			delete(r.ahead, r.next)
			r.aheadBytes -= len(d)
			if err := s.appendRun(r, d); err != nil {
				return err
			}
		}
	case index > r.next && index-r.next <= maxAheadChunks &&
		r.aheadBytes-len(r.ahead[index])+len(data) <= maxAheadBytes:
		r.aheadBytes += len(data) - len(r.ahead[index])
		r.ahead[index] = append([]byte(nil), data...)
		return nil
	default:
		if err := s.endRun(r); err != nil {
			return err
		}
		return s.putBatch(r.id, r.epoch, index, data)
	}
}

// appendRun adds the next chunk of the run. The first chunk is kept in
// memory; the second opens the table.
func (s *ShareStore) appendRun(r *stagedRun, data []byte) error {
	if r.tbl == nil && r.head == nil {
		r.head = append([]byte(nil), data...)
		r.next++
		return nil
	}
	if r.tbl == nil {
		if err := s.openRunTable(r); err != nil {
			return err
		}
		head := r.head
		r.head = nil
		if err := s.addToTable(r, r.first, head); err != nil {
			return err
		}
	}
	if err := s.addToTable(r, r.next, data); err != nil {
		return err
	}
	r.next++
	return nil
}

func (s *ShareStore) addToTable(r *stagedRun, index uint32, data []byte) error {
	// The writer copies the value into its block.
	if err := r.tbl.Set(chunkKey(pfxChunk, r.id, r.epoch, index), data); err != nil {
		return fmt.Errorf("store: staged chunk: %w", err)
	}
	r.sizes = append(r.sizes, uint32(len(data)))
	r.bytes += uint64(len(data))
	return nil
}

func (s *ShareStore) createTable() (*sstable.Writer, *stageWritable, string, error) {
	path := s.fs.PathJoin(s.stageDir, fmt.Sprintf("%06d.sst", s.stageSeq.Add(1)))
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, nil, "", fmt.Errorf("store: staging: %w", err)
	}
	f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{NoSyncOnClose: true, BytesPerSync: stageBytesPerSync})
	out := &stageWritable{f: f}
	return sstable.NewWriter(out, s.writerOpts), out, path, nil
}

func (s *ShareStore) openRunTable(r *stagedRun) error {
	w, out, path, err := s.createTable()
	if err != nil {
		return err
	}
	r.tbl, r.out, r.path = w, out, path
	return nil
}

// smallTable writes a small synced table of sorted keys and values for an
// ingest.
func (s *ShareStore) smallTable(kvs ...[]byte) (string, error) {
	w, _, path, err := s.createTable()
	if err != nil {
		return "", err
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		if err := w.Set(kvs[i], kvs[i+1]); err != nil {
			_ = w.Close()
			_ = s.fs.Remove(path)
			return "", fmt.Errorf("store: staging: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		_ = s.fs.Remove(path)
		return "", fmt.Errorf("store: staging: %w", err)
	}
	return path, nil
}

// endRun makes the run part of the database: its table (with the size
// index, the file key if the file is new, and a usage marker) is ingested,
// atomically and durably; a run of one chunk, and the chunks still waiting
// for a gap, take the batch path (not synced). The caller holds the file's
// lock.
func (s *ShareStore) endRun(r *stagedRun) error {
	s.dropRun(r)
	if r.tbl != nil {
		if err := s.ingestRun(r); err != nil {
			return err
		}
	} else if r.head != nil {
		if err := s.putBatch(r.id, r.epoch, r.first, r.head); err != nil {
			return err
		}
	}
	for _, index := range slices.Sorted(maps.Keys(r.ahead)) {
		if err := s.putBatch(r.id, r.epoch, index, r.ahead[index]); err != nil {
			return err
		}
	}
	return nil
}

// discardRun forgets a run without storing it (DeleteFile, DeleteEpoch, a
// failed put or ingest). The caller holds the file's lock (or the store is
// closing).
func (s *ShareStore) discardRun(r *stagedRun) {
	s.dropRun(r)
	if r.tbl != nil {
		r.out.discard = true
		_ = r.tbl.Close()
		_ = s.fs.Remove(r.path)
	}
	r.head, r.ahead, r.tbl = nil, nil, nil
}

// ingestRun ingests a run's table. Four narrow tables go in one atomic
// ingest: the chunks ("c/"), their size index ("s/"), the file key ("f/",
// only for a new file) and a usage marker ("m/ingest/"); each covers keys
// of one prefix only, so none overlaps the memtable (which always holds
// "m/usage") and the chunk table lands low in the LSM.
func (s *ShareStore) ingestRun(r *stagedRun) error {
	paths := []string{r.path}
	cleanup := func() {
		for _, p := range paths {
			_ = s.fs.Remove(p)
		}
	}
	tbl := r.tbl
	r.tbl = nil
	if err := tbl.Close(); err != nil { // syncs the table
		cleanup()
		return fmt.Errorf("store: staged table: %w", err)
	}
	sizes := make([][]byte, 0, 2*len(r.sizes))
	for i, n := range r.sizes {
		sizes = append(sizes, chunkKey(pfxSize, r.id, r.epoch, r.first+uint32(i)), be32(n))
	}
	p, err := s.smallTable(sizes...)
	if err != nil {
		cleanup()
		return err
	}
	paths = append(paths, p)
	fileKey := filePrefix(pfxFile, r.id)
	known, err := exists(s.db, fileKey)
	if err != nil {
		cleanup()
		return err
	}
	var newFiles uint64
	if !known {
		newFiles = 1
		p, err := s.smallTable(fileKey, nil)
		if err != nil {
			cleanup()
			return err
		}
		paths = append(paths, p)
	}
	marker := append(append([]byte(nil), pfxIngest...), s.nonce[:]...)
	marker = binary.BigEndian.AppendUint64(marker, s.stageSeq.Add(1))
	p, err = s.smallTable(marker, encodeUsage(r.bytes, newFiles))
	if err != nil {
		cleanup()
		return err
	}
	paths = append(paths, p)
	// Ingest links the tables into the database, syncs its directory, and
	// records them in the manifest (synced) before returning; it removes
	// the staged names on success.
	if err := s.db.Ingest(context.Background(), paths); err != nil {
		cleanup()
		return fmt.Errorf("store: ingest: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	used, files := s.used+r.bytes, s.files+newFiles
	s.used, s.files = used, files
	// Not synced: until this batch is durable the marker stays, and open
	// adds its usage (the batch and the marker's deletion are atomic).
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(keyUsage, encodeUsage(used, files), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Delete(marker, nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: usage after ingest: %w", err)
	}
	return nil
}

// settle ends the file's run if it is at epoch, so that a read sees the
// staged chunks.
func (s *ShareStore) settle(id [16]byte, epoch uint32) error {
	if r := s.runFor(id); r == nil || r.epoch != epoch {
		return nil
	}
	unlock := s.locks.lock(id)
	defer unlock()
	if r := s.runFor(id); r != nil && r.epoch == epoch {
		return s.endRun(r)
	}
	return nil
}

// applyMarkers adds the usage of ingests whose counter batch was lost in a
// crash (counted is false when the counters were just recounted from the
// keys, which already include them) and deletes the markers.
func (s *ShareStore) applyMarkers(counted bool) error {
	var markers [][]byte
	used, files := s.used, s.files
	err := scan(s.db, pfxIngest, func(k, v []byte) error {
		if len(v) != 17 || v[0] != 1 {
			return fmt.Errorf("store: ingest marker %x: %w", k, ErrCorrupt)
		}
		markers = append(markers, append([]byte(nil), k...))
		if counted {
			used += binary.BigEndian.Uint64(v[1:9])
			files += binary.BigEndian.Uint64(v[9:17])
		}
		return nil
	})
	if err != nil || len(markers) == 0 {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range markers {
		if err := b.Delete(k, nil); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := b.Set(keyUsage, encodeUsage(used, files), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// Atomic with the markers' deletion, so it may be lost and redone.
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.used, s.files = used, files
	return nil
}
