package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Catalog is the proxy's metadata: files and their chunk digests and
// commitments, users, and the registry of storage servers. It never holds
// file content.
//
// Key schema (docs/store.md):
//
//	"f/" id[16]                          -> FileRecord (a live file)
//	"t/" id[16]                          -> FileRecord (tombstoned, shares being deleted)
//	"n/" len(owner)[2 BE] owner name     -> id[16] (name index of live files)
//	"k/" id[16] epoch[4 BE] index[4 BE]  -> ChunkRecord
//	"u/" email                           -> UserRecord
//	"s/" key[32]                         -> ServerRecord
//	"x/" name                            -> a setting (SetSetting)
//	"m/schema"                           -> "qasmat-catalog/1"
//
// Every write is one pebble batch committed with Sync.
type Catalog struct {
	db *pebble.DB
	g  guard
	// mu serialises read-check-write operations (name uniqueness, epoch
	// order, tombstones). Plain reads do not take it.
	mu sync.Mutex
	// pending holds the name keys and IDs of PutFile calls committing now.
	pending map[string]struct{}
}

// OpenCatalog opens (or creates) the catalog in dir.
func OpenCatalog(dir string) (*Catalog, error) {
	return openCatalog(dir, nil)
}

func openCatalog(dir string, fs vfs.FS) (*Catalog, error) {
	db, err := openDB(dir, fs, schemaCatalog, catalogCacheSize, true)
	if err != nil {
		return nil, err
	}
	c := &Catalog{db: db, pending: make(map[string]struct{})}
	c.g.init()
	return c, nil
}

// Close waits for operations in progress and closes the catalog. Later calls
// return ErrClosed.
func (c *Catalog) Close() error {
	if !c.g.close() {
		return nil
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

const maxOwner = 1<<16 - 1 // the name index stores the owner's length in 2 bytes

func liveKey(id [16]byte) []byte { return filePrefix('f', id) }
func tombKey(id [16]byte) []byte { return filePrefix('t', id) }

func ownerPrefix(owner string) []byte {
	k := make([]byte, 0, 4+len(owner))
	k = append(k, 'n', '/')
	k = binary.BigEndian.AppendUint16(k, uint16(len(owner)))
	return append(k, owner...)
}

func nameKey(owner, name string) []byte {
	return append(ownerPrefix(owner), name...)
}

// validateFile checks what the catalog relies on: a key for the name index,
// a consistent threshold, distinct x coordinates, and one chunk record per
// chunk with one digest per share.
func validateFile(rec *FileRecord, chunks []ChunkRecord) error {
	switch {
	case rec.Owner == "" || len(rec.Owner) > maxOwner:
		return fmt.Errorf("store: %w: owner must have 1 to %d bytes", ErrInvalid, maxOwner)
	case rec.Name == "" || len(rec.Name) > maxText:
		return fmt.Errorf("store: %w: name must have 1 to %d bytes", ErrInvalid, maxText)
	case rec.Size < 0:
		return fmt.Errorf("store: %w: negative size %d", ErrInvalid, rec.Size)
	case rec.K < 1 || rec.K > len(rec.Shares) || len(rec.Shares) > rec.N:
		return fmt.Errorf("store: %w: need 1 <= k <= shares <= n, got k=%d shares=%d n=%d", ErrInvalid, rec.K, len(rec.Shares), rec.N)
	case rec.Chunks < 1:
		return fmt.Errorf("store: %w: a file has at least one chunk", ErrInvalid)
	}
	seen := make(map[int]bool, len(rec.Shares))
	for _, s := range rec.Shares {
		if s.X < 1 || s.X > 65535 || seen[s.X] {
			return fmt.Errorf("store: %w: share x=%d is out of 1..65535 or repeated", ErrInvalid, s.X)
		}
		seen[s.X] = true
		if len(s.ServerName) > maxText {
			return fmt.Errorf("store: %w: server name too long", ErrInvalid)
		}
	}
	if chunks == nil {
		return nil
	}
	if uint64(len(chunks)) != uint64(rec.Chunks) {
		return fmt.Errorf("store: %w: file has %d chunks but %d chunk records were given", ErrInvalid, rec.Chunks, len(chunks))
	}
	for i := range chunks {
		if len(chunks[i].Digests) != len(rec.Shares) {
			return fmt.Errorf("store: %w: chunk %d has %d digests for %d shares", ErrInvalid, i, len(chunks[i].Digests), len(rec.Shares))
		}
	}
	return nil
}

// setChunks adds the chunk records of a file at one epoch to b.
func setChunks(b *pebble.Batch, id [16]byte, epoch uint32, chunks []ChunkRecord) error {
	for i := range chunks {
		if err := b.Set(chunkKey('k', id, epoch, uint32(i)), encodeChunk(&chunks[i]), nil); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// PutFile records a protected file with all its chunk records in one synced
// batch: the file appears with every chunk record, or not at all. It fails
// with ErrExists if the owner already has a live file with that name (or the
// ID is taken), and with ErrInvalid if the records are inconsistent.
func (c *Catalog) PutFile(rec FileRecord, chunks []ChunkRecord) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	if chunks == nil {
		chunks = []ChunkRecord{}
	}
	if err := validateFile(&rec, chunks); err != nil {
		return err
	}
	// Chunk records go into the batch before the lock: a big file's batch
	// takes a while to build.
	b := c.db.NewBatch()
	defer b.Close()
	if err := setChunks(b, rec.ID, rec.Epoch, chunks); err != nil {
		return err
	}
	if err := b.Set(liveKey(rec.ID), encodeFile(&rec), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	nk := nameKey(rec.Owner, rec.Name)
	if err := b.Set(nk, rec.ID[:], nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}

	if err := c.reserve(nk, rec.ID); err != nil {
		return fmt.Errorf("store: file %q: %w", rec.Name, err)
	}
	// The commit runs outside c.mu so that concurrent uploads share fsyncs
	// (pebble groups synced commits); the reservation keeps the name and ID
	// to this call meanwhile.
	err := b.Commit(pebble.Sync)
	c.mu.Lock()
	delete(c.pending, string(nk))
	delete(c.pending, string(liveKey(rec.ID)))
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: put file: %w", err)
	}
	return nil
}

// reserve claims a name key and a file ID for a PutFile in progress, or
// returns ErrExists if the catalog or another PutFile holds either.
func (c *Catalog) reserve(nk []byte, id [16]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range [][]byte{nk, liveKey(id), tombKey(id)} {
		taken, err := exists(c.db, k)
		if err != nil {
			return err
		}
		if taken {
			return ErrExists
		}
	}
	if _, ok := c.pending[string(nk)]; ok {
		return ErrExists
	}
	if _, ok := c.pending[string(liveKey(id))]; ok {
		return ErrExists
	}
	c.pending[string(nk)] = struct{}{}
	c.pending[string(liveKey(id))] = struct{}{}
	return nil
}

// GetFile returns the owner's live file with that name, or ErrNotFound.
func (c *Catalog) GetFile(owner, name string) (FileRecord, error) {
	if err := c.g.enter(); err != nil {
		return FileRecord{}, err
	}
	defer c.g.leave()
	return c.getFile(owner, name)
}

func (c *Catalog) getFile(owner, name string) (FileRecord, error) {
	if len(owner) > maxOwner {
		return FileRecord{}, fmt.Errorf("store: file %q: %w", name, ErrNotFound)
	}
	v, err := getCopy(c.db, nameKey(owner, name))
	if errors.Is(err, ErrNotFound) {
		return FileRecord{}, fmt.Errorf("store: file %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return FileRecord{}, err
	}
	if len(v) != 16 {
		return FileRecord{}, fmt.Errorf("store: name index of %q: %w: %d bytes", name, ErrCorrupt, len(v))
	}
	return c.readFile(liveKey([16]byte(v)))
}

// FileByID returns a live file by ID, or ErrNotFound.
func (c *Catalog) FileByID(id [16]byte) (FileRecord, error) {
	if err := c.g.enter(); err != nil {
		return FileRecord{}, err
	}
	defer c.g.leave()
	return c.readFile(liveKey(id))
}

// readFile reads and decodes the file record under k.
func (c *Catalog) readFile(k []byte) (FileRecord, error) {
	v, err := getCopy(c.db, k)
	if errors.Is(err, ErrNotFound) {
		return FileRecord{}, fmt.Errorf("store: file %x: %w", k[2:], ErrNotFound)
	}
	if err != nil {
		return FileRecord{}, err
	}
	rec, err := decodeFile(v)
	if err != nil {
		return FileRecord{}, fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
	}
	return rec, nil
}

// ListFiles returns the owner's live files sorted by name (bytewise).
func (c *Catalog) ListFiles(owner string) ([]FileRecord, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	if len(owner) > maxOwner {
		return nil, nil
	}
	var ids [][16]byte
	err := scan(c.db, ownerPrefix(owner), func(k, v []byte) error {
		if len(v) != 16 {
			return fmt.Errorf("store: name index %q: %w: %d bytes", k[4:], ErrCorrupt, len(v))
		}
		ids = append(ids, [16]byte(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	files := make([]FileRecord, 0, len(ids))
	for _, id := range ids {
		rec, err := c.readFile(liveKey(id))
		if errors.Is(err, ErrNotFound) {
			continue // tombstoned since the scan
		}
		if err != nil {
			return nil, err
		}
		files = append(files, rec)
	}
	return files, nil
}

// AllFiles calls fn for every live file, in ID order, and stops at the first
// error fn returns (which AllFiles returns). fn may call the catalog.
func (c *Catalog) AllFiles(fn func(FileRecord) error) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	return c.scanFiles('f', fn)
}

// Tombstones returns the files removed by Tombstone whose shares may still
// exist on storage servers, in ID order.
func (c *Catalog) Tombstones() ([]FileRecord, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	var recs []FileRecord
	err := c.scanFiles('t', func(r FileRecord) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// scanFiles decodes the file records under prefix pfx in batches, so that fn
// runs without a pebble iterator open and may take its time.
func (c *Catalog) scanFiles(pfx byte, fn func(FileRecord) error) error {
	const batch = 256
	start := []byte{pfx, '/'}
	end := prefixEnd(start)
	for {
		var recs []FileRecord
		var last []byte
		it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		for valid := it.First(); valid && len(recs) < batch; valid = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return fmt.Errorf("store: %w", err)
			}
			rec, err := decodeFile(v)
			if err != nil {
				err = fmt.Errorf("store: catalog key %s: %w", keyString(it.Key()), err)
				_ = it.Close()
				return err
			}
			recs = append(recs, rec)
			last = append(last[:0], it.Key()...)
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < batch {
			return nil
		}
		start = append(last, 0) // the next key after the last one seen
	}
}

// Chunk returns the chunk record of one chunk of a file at an epoch, or
// ErrNotFound.
func (c *Catalog) Chunk(id [16]byte, epoch, index uint32) (ChunkRecord, error) {
	if err := c.g.enter(); err != nil {
		return ChunkRecord{}, err
	}
	defer c.g.leave()
	k := chunkKey('k', id, epoch, index)
	v, err := getCopy(c.db, k)
	if errors.Is(err, ErrNotFound) {
		return ChunkRecord{}, fmt.Errorf("store: chunk record %x epoch %d index %d: %w", id, epoch, index, ErrNotFound)
	}
	if err != nil {
		return ChunkRecord{}, err
	}
	ch, err := decodeChunk(v)
	if err != nil {
		return ChunkRecord{}, fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
	}
	return ch, nil
}

// Chunks calls fn for the chunk records of a file at an epoch in index
// order, and fails with ErrCorrupt if an index is missing. It holds a pebble
// iterator during the calls: for slow work per chunk, use Chunk.
func (c *Catalog) Chunks(id [16]byte, epoch uint32, fn func(index uint32, ch ChunkRecord) error) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	prefix := filePrefix('k', id, epoch)
	next := uint32(0)
	return scan(c.db, prefix, func(k, v []byte) error {
		if len(k) != 26 || binary.BigEndian.Uint32(k[22:]) != next {
			return fmt.Errorf("store: chunk records of %x epoch %d: %w: index %d missing", id, epoch, ErrCorrupt, next)
		}
		ch, err := decodeChunk(v)
		if err != nil {
			return fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
		}
		if err := fn(next, ch); err != nil {
			return err
		}
		next++
		return nil
	})
}

// Tombstone removes the owner's file from the listing and records it as a
// tombstone, in one synced batch, and returns it. The caller then deletes
// the shares and calls Purge; after a crash, Tombstones lists what is left to
// delete. The name is free again as soon as Tombstone returns.
func (c *Catalog) Tombstone(owner, name string) (FileRecord, error) {
	if err := c.g.enter(); err != nil {
		return FileRecord{}, err
	}
	defer c.g.leave()
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.getFile(owner, name)
	if err != nil {
		return FileRecord{}, err
	}
	b := c.db.NewBatch()
	defer b.Close()
	if err := b.Delete(nameKey(owner, name), nil); err != nil {
		return FileRecord{}, fmt.Errorf("store: %w", err)
	}
	if err := b.Delete(liveKey(rec.ID), nil); err != nil {
		return FileRecord{}, fmt.Errorf("store: %w", err)
	}
	if err := b.Set(tombKey(rec.ID), encodeFile(&rec), nil); err != nil {
		return FileRecord{}, fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return FileRecord{}, fmt.Errorf("store: tombstone: %w", err)
	}
	return rec, nil
}

// Purge forgets a tombstoned file and its chunk records, synced. Purging a
// file that is not tombstoned (live or unknown) is refused with ErrNotFound,
// so that a late sweeper can never remove a live file.
func (c *Catalog) Purge(id [16]byte) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	c.mu.Lock()
	defer c.mu.Unlock()
	found, err := exists(c.db, tombKey(id))
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("store: tombstone %x: %w", id, ErrNotFound)
	}
	b := c.db.NewBatch()
	defer b.Close()
	chunks := filePrefix('k', id)
	if err := b.DeleteRange(chunks, prefixEnd(chunks), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Delete(tombKey(id), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: purge: %w", err)
	}
	return nil
}

// KnownFileIDs returns the IDs of every live and tombstoned file: shares of
// any other ID on a storage server are orphans (of an upload that never
// finished). The caller must also spare uploads in progress.
func (c *Catalog) KnownFileIDs() (map[[16]byte]struct{}, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	ids := make(map[[16]byte]struct{})
	for _, pfx := range []byte{'f', 't'} {
		err := scan(c.db, []byte{pfx, '/'}, func(k, _ []byte) error {
			if len(k) != 18 {
				return fmt.Errorf("store: file key %x: %w", k, ErrCorrupt)
			}
			ids[[16]byte(k[2:])] = struct{}{}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// UpdateEpoch commits a renewal: in one synced batch the file's epoch and
// last renewal change and its chunk records are replaced by those of the new
// epoch (the records of every other epoch are deleted). epoch must be
// greater than the file's current epoch.
func (c *Catalog) UpdateEpoch(id [16]byte, epoch uint32, chunks []ChunkRecord, lastRenewal time.Time) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := c.readFile(liveKey(id))
	if err != nil {
		return err
	}
	if epoch <= rec.Epoch {
		return fmt.Errorf("store: %w: epoch %d is not after the current epoch %d", ErrInvalid, epoch, rec.Epoch)
	}
	if chunks == nil {
		return fmt.Errorf("store: %w: a new epoch needs its chunk records", ErrInvalid)
	}
	rec.Epoch = epoch
	rec.LastRenewal = lastRenewal
	return c.replace(rec, chunks)
}

// ReplaceFile rewrites a live file's record (same ID, owner and name), for
// example to drop a share slot or change its last renewal. With chunks, the
// file's chunk records are replaced by them at rec.Epoch; with nil chunks
// they are kept, which requires the same epoch, chunk count and number of
// shares. The epoch never goes back.
func (c *Catalog) ReplaceFile(rec FileRecord, chunks []ChunkRecord) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	c.mu.Lock()
	defer c.mu.Unlock()
	old, err := c.readFile(liveKey(rec.ID))
	if err != nil {
		return err
	}
	switch {
	case old.Owner != rec.Owner || old.Name != rec.Name:
		return fmt.Errorf("store: %w: ReplaceFile cannot change the owner or the name", ErrInvalid)
	case rec.Epoch < old.Epoch:
		return fmt.Errorf("store: %w: epoch %d is before the current epoch %d", ErrInvalid, rec.Epoch, old.Epoch)
	case chunks == nil && (rec.Epoch != old.Epoch || rec.Chunks != old.Chunks || len(rec.Shares) != len(old.Shares)):
		return fmt.Errorf("store: %w: changing the epoch, chunk count or share count needs new chunk records", ErrInvalid)
	}
	return c.replace(rec, chunks)
}

// replace writes rec (and, if chunks is not nil, its chunk records) in one
// synced batch. The caller holds c.mu.
func (c *Catalog) replace(rec FileRecord, chunks []ChunkRecord) error {
	if err := validateFile(&rec, chunks); err != nil {
		return err
	}
	b := c.db.NewBatch()
	defer b.Close()
	if chunks != nil {
		// Within a batch, later operations win: the range deletion drops
		// every old record, then the new ones are set.
		all := filePrefix('k', rec.ID)
		if err := b.DeleteRange(all, prefixEnd(all), nil); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if err := setChunks(b, rec.ID, rec.Epoch, chunks); err != nil {
			return err
		}
	}
	if err := b.Set(liveKey(rec.ID), encodeFile(&rec), nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: update file: %w", err)
	}
	return nil
}

// touchEvery limits how often TouchUser writes for a user seen again.
const touchEvery = time.Minute

// TouchUser records that a user was seen now: it creates the user, updates a
// changed display name, and refreshes LastSeen at most once a minute so that
// API requests do not each cost an fsync.
func (c *Catalog) TouchUser(email, name string) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	if email == "" || len(email) > maxText || len(name) > maxText {
		return fmt.Errorf("store: %w: email must have 1 to %d bytes", ErrInvalid, maxText)
	}
	now := time.Now().UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	u, err := c.user(email)
	switch {
	case errors.Is(err, ErrNotFound):
		u = UserRecord{Email: email, Name: name, FirstSeen: now}
	case err != nil:
		return err
	case u.Name == name && now.Sub(u.LastSeen) < touchEvery:
		return nil
	}
	u.Name, u.LastSeen = name, now
	if err := c.db.Set(key([]byte("u/"), []byte(email)), encodeUser(&u), pebble.Sync); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// User returns a user by email, or ErrNotFound.
func (c *Catalog) User(email string) (UserRecord, error) {
	if err := c.g.enter(); err != nil {
		return UserRecord{}, err
	}
	defer c.g.leave()
	return c.user(email)
}

func (c *Catalog) user(email string) (UserRecord, error) {
	k := key([]byte("u/"), []byte(email))
	v, err := getCopy(c.db, k)
	if errors.Is(err, ErrNotFound) {
		return UserRecord{}, fmt.Errorf("store: user: %w", ErrNotFound)
	}
	if err != nil {
		return UserRecord{}, err
	}
	u, err := decodeUser(email, v)
	if err != nil {
		return UserRecord{}, fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
	}
	return u, nil
}

// Users returns every user, sorted by email.
func (c *Catalog) Users() ([]UserRecord, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	var users []UserRecord
	err := scan(c.db, []byte("u/"), func(k, v []byte) error {
		u, err := decodeUser(string(k[2:]), v)
		if err != nil {
			return fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
		}
		users = append(users, u)
		return nil
	})
	return users, err
}

func serverKey(k [32]byte) []byte { return key([]byte("s/"), k[:]) }

// PutServer records a storage server, synced. If the server is already
// known, its FirstSeen is kept.
func (c *Catalog) PutServer(s ServerRecord) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	if len(s.Name) > maxText || len(s.Location) > maxText {
		return fmt.Errorf("store: %w: server name or location too long", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, err := c.server(s.Key)
	switch {
	case err == nil:
		s.FirstSeen = old.FirstSeen
	case !errors.Is(err, ErrNotFound):
		return err
	case s.FirstSeen.IsZero():
		s.FirstSeen = s.LastSeen
	}
	if err := c.db.Set(serverKey(s.Key), encodeServer(&s), pebble.Sync); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Server returns a storage server by public key, or ErrNotFound.
func (c *Catalog) Server(k [32]byte) (ServerRecord, error) {
	if err := c.g.enter(); err != nil {
		return ServerRecord{}, err
	}
	defer c.g.leave()
	return c.server(k)
}

func (c *Catalog) server(k [32]byte) (ServerRecord, error) {
	v, err := getCopy(c.db, serverKey(k))
	if errors.Is(err, ErrNotFound) {
		return ServerRecord{}, fmt.Errorf("store: server %x: %w", k[:8], ErrNotFound)
	}
	if err != nil {
		return ServerRecord{}, err
	}
	s, err := decodeServer(v)
	if err != nil {
		return ServerRecord{}, fmt.Errorf("store: server %x: %w", k[:8], err)
	}
	if s.Key != k {
		return ServerRecord{}, fmt.Errorf("store: server %x: %w: record holds key %x", k[:8], ErrCorrupt, s.Key[:8])
	}
	return s, nil
}

// Servers returns every storage server ever recorded, sorted by name, then
// by key.
func (c *Catalog) Servers() ([]ServerRecord, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	var servers []ServerRecord
	err := scan(c.db, []byte("s/"), func(k, v []byte) error {
		s, err := decodeServer(v)
		if err != nil {
			return fmt.Errorf("store: catalog key %s: %w", keyString(k), err)
		}
		servers = append(servers, s)
		return nil
	})
	sort.SliceStable(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })
	return servers, err
}

// ServerByName returns the storage server with that name; if several keys
// used the name, the one seen last. ErrNotFound if none did.
func (c *Catalog) ServerByName(name string) (ServerRecord, error) {
	servers, err := c.Servers()
	if err != nil {
		return ServerRecord{}, err
	}
	var best *ServerRecord
	for i := range servers {
		if s := &servers[i]; s.Name == name && (best == nil || s.LastSeen.After(best.LastSeen)) {
			best = s
		}
	}
	if best == nil {
		return ServerRecord{}, fmt.Errorf("store: server %q: %w", name, ErrNotFound)
	}
	return *best, nil
}

// SetSetting stores a small named value (for example the proxy's own state),
// synced.
func (c *Catalog) SetSetting(name string, value []byte) error {
	if err := c.g.enter(); err != nil {
		return err
	}
	defer c.g.leave()
	return setSetting(c.db, name, value, pebble.Sync)
}

// Setting returns a value stored by SetSetting, or ErrNotFound.
func (c *Catalog) Setting(name string) ([]byte, error) {
	if err := c.g.enter(); err != nil {
		return nil, err
	}
	defer c.g.leave()
	return getSetting(c.db, name)
}
