// Package store keeps Qasmat's persistent state in pebble: the share chunks of
// a storage server (ShareStore) and the proxy's catalog (Catalog).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sentinel errors callers branch on. Every error of this package that means
// one of these wraps it (test with errors.Is).
var (
	// ErrNotFound: the key (file, chunk, server, user, setting) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a file with this owner and name (or this ID) already exists.
	ErrExists = errors.New("already exists")
	// ErrCorrupt: a stored value does not decode; the store is damaged.
	ErrCorrupt = errors.New("corrupt")
	// ErrInvalid: the caller passed a record or argument that cannot be stored.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Memory budget per store. `qasmat dev` runs a proxy and up to five storage
// servers in one process, so each pebble instance must stay small: the cache
// gains little for share chunks (each is read once per retrieval), and a
// 4 MiB memtable holds a few chunks before it is flushed.
const (
	shareCacheSize   = 8 << 20
	catalogCacheSize = 16 << 20
	memTableSize     = 4 << 20
)

// shareWAL turns the share store's write-ahead log on. Large files bypass
// the memtable (ingest.go), so the log carries only small chunks and
// metadata (docs/store.md).
const shareWAL = true

// Schema markers, stored under keySchema, so that a share store is never
// opened as a catalog (or the reverse) and a future layout can be migrated.
const (
	schemaShares  = "qasmat-shares/1"
	schemaCatalog = "qasmat-catalog/1"
)

var keySchema = []byte("m/schema")

// openDB opens (creating if needed) a pebble database in dir and checks that
// it holds the expected schema. fs is nil for the real file system; tests pass
// a crashable in-memory one.
func openDB(dir string, fs vfs.FS, schema string, cacheSize int64, wal bool) (*pebble.DB, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: %w: empty directory", ErrInvalid)
	}
	if fs == nil {
		// Shares and the catalog are nobody else's business.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		fs = vfs.Default
	}
	db, err := pebble.Open(dir, dbOptions(fs, cacheSize, wal))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if err := checkSchema(db, dir, schema); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// dbOptions are the pebble options of both stores.
func dbOptions(fs vfs.FS, cacheSize int64, wal bool) *pebble.Options {
	o := &pebble.Options{
		FS:           fs,
		CacheSize:    cacheSize,
		MemTableSize: memTableSize,
		// Two memtables (one filling, one flushing) bound the memory of a
		// store under a write burst.
		MemTableStopWritesThreshold: 2,
		MaxOpenFiles:                256,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      quietLogger{},
		DisableWAL:                  !wal,
	}
	// Share chunks are large: value separation writes each value once into a
	// blob file at flush, and compactions then move only keys, instead of
	// rewriting every chunk at each level (measured: 3.5x less disk traffic).
	o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           1024,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	// The share store ingests narrow tables (one file's chunks, ingest.go);
	// splitting a wider table around them lets them land in the lowest
	// level, where compactions leave them alone.
	o.Experimental.IngestSplit = func() bool { return true }
	// Shares, digests and commitments are uniformly random: compression
	// only costs CPU and a copy.
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings {
		return pebble.UniformDBCompressionSettings(block.NoCompression)
	})
	return o
}

// checkSchema writes the schema marker into an empty database, and refuses a
// database that holds another schema or data without a marker.
func checkSchema(db *pebble.DB, dir, schema string) error {
	v, err := getCopy(db, keySchema)
	switch {
	case err == nil:
		if string(v) != schema {
			return fmt.Errorf("store: %s holds %q, not %q: wrong data directory?", dir, v, schema)
		}
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	nonEmpty := it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if nonEmpty {
		return fmt.Errorf("store: %s is a pebble database without a Qasmat schema marker: wrong data directory?", dir)
	}
	if err := db.Set(keySchema, []byte(schema), pebble.NoSync); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// Flush rather than a synced write: it works with and without a WAL.
	if err := db.Flush(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// getCopy returns a copy of the value under key, or ErrNotFound.
func getCopy(db *pebble.DB, key []byte) ([]byte, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	out := append([]byte(nil), v...)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// exists reports whether key is present.
func exists(db *pebble.DB, key []byte) (bool, error) {
	_, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	return true, closer.Close()
}

// scan calls fn for every key with the given prefix, in key order. The key
// and value slices are only valid during the call.
func scan(db *pebble.DB, prefix []byte, fn func(key, value []byte) error) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("store: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with this prefix
// (nil when there is none: the prefix is all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// key concatenates key parts into a fresh slice.
func key(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// keyString shows a key in error messages: the binary parts (IDs, epochs,
// indexes) in hex or decimal, text keys as quoted text.
func keyString(k []byte) string {
	if len(k) < 2 || k[1] != '/' {
		return fmt.Sprintf("%q", k)
	}
	switch {
	case len(k) == 18 && (k[0] == 'f' || k[0] == 't'):
		return fmt.Sprintf("%c/%x", k[0], k[2:])
	case len(k) == 26 && (k[0] == 'k' || k[0] == 'c' || k[0] == 's'):
		return fmt.Sprintf("%c/%x/%d/%d", k[0], k[2:18], binary.BigEndian.Uint32(k[18:]), binary.BigEndian.Uint32(k[22:]))
	case len(k) == 34 && k[0] == 's':
		return fmt.Sprintf("s/%x", k[2:])
	}
	return fmt.Sprintf("%q", k)
}

func be32(v uint32) []byte {
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// guard lets Close wait for operations in progress and makes later calls fail
// with ErrClosed instead of reaching a closed pebble (which panics). Unlike a
// RWMutex it never blocks a nested enter, so a callback may call back into
// the store while Close is waiting.
type guard struct {
	mu     sync.Mutex
	idle   sync.Cond
	n      int
	closed bool
}

func (g *guard) enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.n++
	return nil
}

func (g *guard) leave() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.closed {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// close marks the guard closed and waits until no operation is in progress.
// It reports false if it was already closed.
func (g *guard) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	for g.n > 0 {
		g.idle.Wait()
	}
	return true
}

func (g *guard) init() { g.idle.L = &g.mu }

// quietLogger drops pebble's informational lines (one per flush and
// compaction) and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	slog.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called by pebble for unrecoverable states (a failed WAL write);
// it must not return, and continuing could acknowledge lost writes.
func (quietLogger) Fatalf(format string, args ...any) {
	slog.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

// groupFlush runs one flush for every caller that arrives while another
// flush is running: callers that arrive during round N all wait for round
// N+1, which starts when N ends and so covers every write they made before
// calling. The first of them runs it.
type groupFlush struct {
	mu      sync.Mutex
	running bool
	pending *flushRound
}

type flushRound struct {
	start chan struct{} // closed when the round may run
	done  chan struct{} // closed when the round has run
	err   error
}

func (g *groupFlush) run(flush func() error) error {
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		r := &flushRound{done: make(chan struct{})}
		g.finish(r, flush)
		return r.err
	}
	if r := g.pending; r != nil {
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	r := &flushRound{start: make(chan struct{}), done: make(chan struct{})}
	g.pending = r
	g.mu.Unlock()
	<-r.start
	g.finish(r, flush)
	return r.err
}

// finish runs round r, then lets the pending round (if any) start.
func (g *groupFlush) finish(r *flushRound, flush func() error) {
	r.err = flush()
	close(r.done)
	g.mu.Lock()
	defer g.mu.Unlock()
	if next := g.pending; next != nil {
		g.pending = nil
		close(next.start) // running stays true: next's leader runs it
		return
	}
	g.running = false
}
