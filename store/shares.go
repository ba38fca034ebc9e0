package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ShareStore keeps a storage server's share chunks, keyed by random file ID,
// epoch and chunk index. It never holds a file name, an owner or a plaintext
// size: only what the proxy sends (invariant 9).
//
// Key schema (docs/store.md):
//
//	"c/" id[16] epoch[4 BE] index[4 BE] -> share chunk bytes
//	"s/" id[16] epoch[4 BE] index[4 BE] -> length of that chunk [4 BE]
//	"f/" id[16]                         -> empty: the file has chunks
//	"m/usage"                           -> 1 | used bytes [8 BE] | files [8 BE]
//	"m/schema"                          -> "qasmat-shares/1"
//	"x/" name                           -> a setting (SetSetting)
//
// The "s/" size index lets Files, Epochs, HasChunks and the usage counters
// work without reading chunk data; it is written in the same batch as the
// chunk, so the two never disagree.
type ShareStore struct {
	db *pebble.DB
	g  guard

	// mu orders writes that change the usage counters, so that the counters
	// written with each batch are exact and the last committed ones are the
	// latest (after a crash the store holds a prefix of its batches).
	mu    sync.Mutex
	used  uint64
	files uint64
	// gen counts batch-path writes; dirty maps a file with batch writes
	// not yet covered by a sync to the gen of its last one (under mu), so
	// that SyncFile of a fully staged file does not sync the memtable.
	gen   uint64
	dirty map[[16]byte]uint64

	flusher groupFlush // Sync calls share flushes

	// The staged path (ingest.go): runs of in-order chunks written into
	// tables in stageDir and ingested at SyncFile.
	fs         vfs.FS
	stageDir   string
	writerOpts sstable.WriterOptions
	nonce      [8]byte // makes usage marker keys unique across restarts
	stageSeq   atomic.Uint64
	locks      idLocks
	runMu      sync.Mutex
	runs       map[[16]byte]*stagedRun
}

const (
	pfxChunk = 'c'
	pfxSize  = 's'
	pfxFile  = 'f'
)

var keyUsage = []byte("m/usage")

// maxRetainedBatch is the largest batch buffer kept for reuse: a full share
// chunk (12 + 1024*1024 bytes) with its keys fits.
const maxRetainedBatch = 2 << 20

// OpenShareStore opens (or creates) the share store in dir.
//
// Large files bypass the memtable: their chunks are staged in order into a
// table that SyncFile ingests (ingest.go), so a chunk is written to disk
// once. The write-ahead log therefore carries only small writes, and a
// small file's SyncFile is one group-committed log sync instead of a
// memtable flush. Measured with five stores in one process on this
// project's 2-core machine: 46-69 MB/s of plaintext (each store taking a
// full share stream) against 27-41 MB/s through the memtable without a
// log, and 3-4 times more small put+sync per second (docs/store.md).
func OpenShareStore(dir string) (*ShareStore, error) {
	return openShareStore(dir, nil)
}

func openShareStore(dir string, fs vfs.FS) (*ShareStore, error) {
	db, err := openDB(dir, fs, schemaShares, shareCacheSize, shareWAL)
	if err != nil {
		return nil, err
	}
	s := &ShareStore{db: db, dirty: make(map[[16]byte]uint64)}
	s.g.init()
	if err := s.initStaging(dir, fs); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadUsage(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for operations in progress and closes the store. Later calls
// return ErrClosed.
func (s *ShareStore) Close() error {
	if !s.g.close() {
		return nil
	}
	// Close keeps every write, as it always did: staged runs are ingested
	// (no operation is in progress, so no file lock is needed).
	var runErr error
	for _, r := range s.allRuns() {
		if err := s.endRun(r); err != nil {
			s.discardRun(r)
			runErr = errors.Join(runErr, err)
		}
	}
	// Without a WAL, what is not flushed is lost at Close; with one, the
	// log holds it (pebble syncs the log when it closes).
	flushErr := runErr
	if !shareWAL {
		flushErr = errors.Join(runErr, s.db.Flush())
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if flushErr != nil {
		return fmt.Errorf("store: close: %w", flushErr)
	}
	return nil
}

func chunkKey(pfx byte, id [16]byte, epoch, index uint32) []byte {
	k := make([]byte, 0, 26)
	k = append(k, pfx, '/')
	k = append(k, id[:]...)
	k = binary.BigEndian.AppendUint32(k, epoch)
	return binary.BigEndian.AppendUint32(k, index)
}

// filePrefix is pfx "/" id, optionally followed by the epoch.
func filePrefix(pfx byte, id [16]byte, epoch ...uint32) []byte {
	k := append([]byte{pfx, '/'}, id[:]...)
	for _, e := range epoch {
		k = binary.BigEndian.AppendUint32(k, e)
	}
	return k
}

// PutChunk stores one share chunk, replacing any chunk with the same file,
// epoch and index. It does not sync: call SyncFile (or Sync) before
// acknowledging that the chunks are stored. data is copied; the caller may
// reuse it.
//
// Chunks of a file that arrive in index order are staged into a table that
// SyncFile ingests (ingest.go); other writes take the batch path.
func (s *ShareStore) PutChunk(fileID [16]byte, epoch, index uint32, data []byte) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	if len(data) > 1<<31 {
		return fmt.Errorf("store: %w: chunk of %d bytes", ErrInvalid, len(data))
	}
	unlock := s.locks.lock(fileID)
	defer unlock()
	r := s.runFor(fileID)
	if r != nil && r.epoch != epoch {
		// One run per file: another epoch's run ends first.
		if err := s.endRun(r); err != nil {
			return err
		}
		r = nil
	}
	if r != nil {
		if err := s.stageChunk(r, index, data); err != nil {
			s.discardRun(r)
			return err
		}
		return nil
	}
	r, ok, err := s.startRun(fileID, epoch, index)
	if err != nil {
		return err
	}
	if !ok {
		return s.putBatch(fileID, epoch, index, data)
	}
	// A new run's first chunk is in order or a little early: it is kept,
	// and the run is listed once it holds it.
	if err := s.stageChunk(r, index, data); err != nil {
		s.discardRun(r)
		return err
	}
	s.setRun(r)
	return nil
}

// putBatch writes one chunk through a pebble batch (not synced). The caller
// holds the file's lock.
func (s *ShareStore) putBatch(fileID [16]byte, epoch, index uint32, data []byte) error {
	sizeKey := chunkKey(pfxSize, fileID, epoch, index)
	// Sized for the chunk and allowed back into pebble's batch pool at that
	// size: without this every put of a 1 MiB chunk allocates about 3 MiB
	// (the buffer doubles as it grows and is then dropped).
	b := s.db.NewBatchWithSize(len(data)+256, pebble.WithMaxRetainedSizeBytes(maxRetainedBatch))
	defer b.Close()
	// The chunk is copied into the batch before taking the lock, so that
	// concurrent uploads only serialise on the (short) commit.
	if err := b.Set(chunkKey(pfxChunk, fileID, epoch, index), data, nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Set(sizeKey, be32(uint32(len(data))), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	used, files := s.used+uint64(len(data)), s.files
	old, err := getCopy(s.db, sizeKey)
	switch {
	case err == nil:
		if len(old) != 4 {
			return fmt.Errorf("store: size index of chunk %x/%d/%d: %w: length %d", fileID, epoch, index, ErrCorrupt, len(old))
		}
		used -= uint64(binary.BigEndian.Uint32(old))
	case !errors.Is(err, ErrNotFound):
		return err
	}
	fileKey := filePrefix(pfxFile, fileID)
	known, err := exists(s.db, fileKey)
	if err != nil {
		return err
	}
	if !known {
		files++
		if err := b.Set(fileKey, nil, nil); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if err := b.Set(keyUsage, encodeUsage(used, files), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: put chunk: %w", err)
	}
	s.used, s.files = used, files
	s.gen++
	s.dirty[fileID] = s.gen
	return nil
}

// Sync makes every write made before the call durable: it ingests every
// staged run and syncs the batch path. Concurrent calls share one flush.
// A storage server syncs one file at a time with SyncFile instead, which
// leaves other uploads' runs alone.
func (s *ShareStore) Sync() error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	for _, r := range s.allRuns() {
		unlock := s.locks.lock(r.id)
		var err error
		if s.runFor(r.id) == r {
			err = s.endRun(r)
		}
		unlock()
		if err != nil {
			return err
		}
	}
	return s.sync()
}

// SyncFile makes every chunk written to the file before the call durable
// (its staged run is ingested; the batch path is synced if the file has
// unsynced batch writes), then checks that chunks 0..count-1 exist at
// epoch, like HasChunks.
func (s *ShareStore) SyncFile(fileID [16]byte, epoch, count uint32) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	unlock := s.locks.lock(fileID)
	var err error
	if r := s.runFor(fileID); r != nil {
		err = s.endRun(r)
	}
	unlock()
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, dirty := s.dirty[fileID]
	s.mu.Unlock()
	if dirty {
		if err := s.sync(); err != nil {
			return err
		}
	}
	return s.hasChunks(fileID, epoch, count)
}

// sync makes the batch path durable: with the WAL (see OpenShareStore) a
// synced log write, without it a memtable flush.
func (s *ShareStore) sync() error {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if err := s.flusher.run(s.syncBatches); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	s.mu.Lock()
	for id, g := range s.dirty {
		if g <= gen {
			delete(s.dirty, id)
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *ShareStore) syncBatches() error {
	if shareWAL {
		return s.db.LogData(nil, pebble.Sync)
	}
	return s.db.Flush()
}

// GetChunk returns a copy of one share chunk, or ErrNotFound.
func (s *ShareStore) GetChunk(fileID [16]byte, epoch, index uint32) ([]byte, error) {
	if err := s.g.enter(); err != nil {
		return nil, err
	}
	defer s.g.leave()
	if err := s.settle(fileID, epoch); err != nil {
		return nil, err
	}
	v, err := getCopy(s.db, chunkKey(pfxChunk, fileID, epoch, index))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store: chunk %x epoch %d index %d: %w", fileID, epoch, index, ErrNotFound)
	}
	return v, err
}

// ViewChunk calls fn with one share chunk as pebble holds it, without the
// copy GetChunk makes: the slice is valid only during fn, and fn must not
// modify or keep it. fn's error is returned as is; a missing chunk is
// ErrNotFound (and fn is not called).
func (s *ShareStore) ViewChunk(fileID [16]byte, epoch, index uint32, fn func(chunk []byte) error) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	if err := s.settle(fileID, epoch); err != nil {
		return err
	}
	v, closer, err := s.db.Get(chunkKey(pfxChunk, fileID, epoch, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("store: chunk %x epoch %d index %d: %w", fileID, epoch, index, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ferr := fn(v)
	if err := closer.Close(); err != nil && ferr == nil {
		return fmt.Errorf("store: %w", err)
	}
	return ferr
}

// HasChunks checks that chunks 0..count-1 of the file exist at epoch. The
// error wraps ErrNotFound and names the first missing chunk.
func (s *ShareStore) HasChunks(fileID [16]byte, epoch, count uint32) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	if err := s.settle(fileID, epoch); err != nil {
		return err
	}
	return s.hasChunks(fileID, epoch, count)
}

func (s *ShareStore) hasChunks(fileID [16]byte, epoch, count uint32) error {
	prefix := filePrefix(pfxSize, fileID, epoch)
	next := uint32(0)
	errDone := errors.New("done")
	err := scan(s.db, prefix, func(k, _ []byte) error {
		if next == count {
			return errDone
		}
		if index := binary.BigEndian.Uint32(k[len(prefix):]); index != next {
			return fmt.Errorf("store: chunk %x epoch %d index %d: %w", fileID, epoch, next, ErrNotFound)
		}
		next++
		return nil
	})
	if err != nil && err != errDone {
		return err
	}
	if next < count {
		return fmt.Errorf("store: chunk %x epoch %d index %d: %w", fileID, epoch, next, ErrNotFound)
	}
	return nil
}

// DeleteFile removes every chunk of the file, at every epoch, and syncs.
// Deleting a file that does not exist is not an error.
func (s *ShareStore) DeleteFile(fileID [16]byte) error {
	return s.deleteRange(fileID, nil)
}

// DeleteEpoch removes every chunk of the file at one epoch (for example the
// old epoch once a renewal is committed, or a pending one after an abort),
// and syncs.
func (s *ShareStore) DeleteEpoch(fileID [16]byte, epoch uint32) error {
	return s.deleteRange(fileID, []uint32{epoch})
}

func (s *ShareStore) deleteRange(fileID [16]byte, epoch []uint32) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	unlock := s.locks.lock(fileID)
	// A staged run of what is deleted is dropped: it was never synced.
	if r := s.runFor(fileID); r != nil && (len(epoch) == 0 || r.epoch == epoch[0]) {
		s.discardRun(r)
	}
	err := s.deleteLocked(fileID, epoch)
	unlock()
	if err != nil {
		return err
	}
	// Synced even when there was nothing to delete: an earlier call may
	// have deleted without reaching its sync.
	return s.sync()
}

// deleteLocked commits the deletion (not synced) under s.mu, so that the
// flush that follows does not hold up other writers.
func (s *ShareStore) deleteLocked(fileID [16]byte, epoch []uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	sizes := filePrefix(pfxSize, fileID, epoch...)
	var freed uint64
	err := scan(s.db, sizes, func(k, v []byte) error {
		if len(v) != 4 {
			return fmt.Errorf("store: size index %s: %w: length %d", keyString(k), ErrCorrupt, len(v))
		}
		freed += uint64(binary.BigEndian.Uint32(v))
		return nil
	})
	if err != nil {
		return err
	}
	fileKey := filePrefix(pfxFile, fileID)
	known, err := exists(s.db, fileKey)
	if err != nil {
		return err
	}
	if !known && freed == 0 {
		return nil
	}
	// The file stays counted if another epoch keeps chunks.
	remains := false
	if len(epoch) > 0 {
		all := filePrefix(pfxSize, fileID)
		err := scan(s.db, all, func(k, _ []byte) error {
			if binary.BigEndian.Uint32(k[len(all):]) != epoch[0] {
				remains = true
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return err
		}
	}

	b := s.db.NewBatch()
	defer b.Close()
	chunks := filePrefix(pfxChunk, fileID, epoch...)
	if err := b.DeleteRange(chunks, prefixEnd(chunks), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.DeleteRange(sizes, prefixEnd(sizes), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	used, files := s.used-min(freed, s.used), s.files
	if known && !remains {
		if err := b.Delete(fileKey, nil); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		files -= min(1, files)
	}
	if err := b.Set(keyUsage, encodeUsage(used, files), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	s.used, s.files = used, files
	return nil
}

// errStop ends a scan early without being an error.
var errStop = errors.New("stop")

// Files lists the IDs of the files that have at least one chunk, in ID order,
// staged (not yet synced) ones included, so that the orphan sweeper finds an
// abandoned upload.
func (s *ShareStore) Files() ([][16]byte, error) {
	if err := s.g.enter(); err != nil {
		return nil, err
	}
	defer s.g.leave()
	var ids [][16]byte
	err := scan(s.db, []byte{pfxFile, '/'}, func(k, _ []byte) error {
		if len(k) != 18 {
			return fmt.Errorf("store: file key %x: %w", k, ErrCorrupt)
		}
		ids = append(ids, [16]byte(k[2:]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := len(ids)
	for _, r := range s.allRuns() {
		ids = append(ids, r.id)
	}
	if len(ids) > n {
		slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		ids = slices.Compact(ids)
	}
	return ids, nil
}

// Epochs lists the epochs at which the file has chunks, in increasing order
// (two during a renewal: the current one and the pending one).
func (s *ShareStore) Epochs(fileID [16]byte) ([]uint32, error) {
	if err := s.g.enter(); err != nil {
		return nil, err
	}
	defer s.g.leave()
	prefix := filePrefix(pfxSize, fileID)
	var epochs []uint32
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Skip from each epoch straight to the next one instead of visiting
	// every chunk.
	for valid := it.First(); valid; {
		k := it.Key()
		if len(k) != 26 {
			_ = it.Close()
			return nil, fmt.Errorf("store: size key %s: %w", keyString(k), ErrCorrupt)
		}
		e := binary.BigEndian.Uint32(k[18:])
		epochs = append(epochs, e)
		if e == 1<<32-1 {
			break
		}
		valid = it.SeekGE(filePrefix(pfxSize, fileID, e+1))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if r := s.runFor(fileID); r != nil && !slices.Contains(epochs, r.epoch) {
		epochs = append(epochs, r.epoch)
		slices.Sort(epochs)
	}
	return epochs, nil
}

// Usage returns the bytes of share chunks stored (the sum of the chunk
// lengths, not pebble's disk usage, which lags behind deletions until
// compaction) and the number of files with at least one chunk. Both are
// counters kept in memory and persisted with every write, plus what staged
// runs hold (in memory until they are ingested).
func (s *ShareStore) Usage() (usedBytes uint64, files uint64, err error) {
	if err := s.g.enter(); err != nil {
		return 0, 0, err
	}
	defer s.g.leave()
	var stagedBytes, stagedFiles uint64
	for _, r := range s.allRuns() {
		unlock := s.locks.lock(r.id)
		if s.runFor(r.id) == r {
			stagedBytes += r.stagedBytes()
			known, err := exists(s.db, filePrefix(pfxFile, r.id))
			if err != nil {
				unlock()
				return 0, 0, err
			}
			if !known {
				stagedFiles++
			}
		}
		unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used + stagedBytes, s.files + stagedFiles, nil
}

// DiskUsage returns the bytes pebble occupies on disk (tables and logs).
func (s *ShareStore) DiskUsage() (uint64, error) {
	if err := s.g.enter(); err != nil {
		return 0, err
	}
	defer s.g.leave()
	return s.db.Metrics().DiskSpaceUsage(), nil
}

// SetSetting stores a small named value (for example the pinned proxy key),
// synced.
func (s *ShareStore) SetSetting(name string, value []byte) error {
	if err := s.g.enter(); err != nil {
		return err
	}
	defer s.g.leave()
	if err := setSetting(s.db, name, value, pebble.NoSync); err != nil {
		return err
	}
	return s.sync()
}

// Setting returns a value stored by SetSetting, or ErrNotFound.
func (s *ShareStore) Setting(name string) ([]byte, error) {
	if err := s.g.enter(); err != nil {
		return nil, err
	}
	defer s.g.leave()
	return getSetting(s.db, name)
}

func setSetting(db *pebble.DB, name string, value []byte, opts *pebble.WriteOptions) error {
	if name == "" {
		return fmt.Errorf("store: %w: empty setting name", ErrInvalid)
	}
	if err := db.Set(key([]byte("x/"), []byte(name)), value, opts); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func getSetting(db *pebble.DB, name string) ([]byte, error) {
	v, err := getCopy(db, key([]byte("x/"), []byte(name)))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store: setting %q: %w", name, ErrNotFound)
	}
	return v, err
}

func encodeUsage(used, files uint64) []byte {
	b := make([]byte, 1, 17)
	b[0] = 1
	b = binary.BigEndian.AppendUint64(b, used)
	return binary.BigEndian.AppendUint64(b, files)
}

// loadUsage reads the persisted counters, or recounts them from the size
// index when they are missing or damaged (a recount reads only the small
// "s/" and "f/" keys, never chunk data).
func (s *ShareStore) loadUsage() error {
	v, err := getCopy(s.db, keyUsage)
	if err == nil && len(v) == 17 && v[0] == 1 {
		s.used = binary.BigEndian.Uint64(v[1:9])
		s.files = binary.BigEndian.Uint64(v[9:17])
		return s.applyMarkers(true)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	var used, files uint64
	err = scan(s.db, []byte{pfxSize, '/'}, func(k, v []byte) error {
		if len(v) != 4 {
			return fmt.Errorf("store: size index %s: %w: length %d", keyString(k), ErrCorrupt, len(v))
		}
		used += uint64(binary.BigEndian.Uint32(v))
		return nil
	})
	if err != nil {
		return err
	}
	err = scan(s.db, []byte{pfxFile, '/'}, func(_, _ []byte) error {
		files++
		return nil
	})
	if err != nil {
		return err
	}
	s.used, s.files = used, files
	return s.applyMarkers(false)
}
