package store

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func openCat(t *testing.T, dir string) *Catalog {
	t.Helper()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testFile returns a consistent (k=2, n=3) file record with its chunk
// records. Times are UTC without a monotonic reading, as decoded ones are.
func testFile(n byte, owner, name string, chunks int) (FileRecord, []ChunkRecord) {
	rec := FileRecord{
		ID: fid(n), Owner: owner, Name: name, Size: int64(chunks) * 1000,
		K: 2, N: 3,
		Protected:   time.Unix(1700000000+int64(n), 123456789).UTC(),
		LastRenewal: time.Unix(1700000500+int64(n), 0).UTC(),
		Chunks:      uint32(chunks),
	}
	for x := 1; x <= 3; x++ {
		var key [32]byte
		key[0], key[31] = byte(x), n
		rec.Shares = append(rec.Shares, ShareSlot{X: x, ServerKey: key, ServerName: fmt.Sprintf("s%d", x)})
	}
	rec.Hash[0], rec.Hash[31] = n, 0xee
	crs := make([]ChunkRecord, chunks)
	for i := range crs {
		crs[i].Commitment[0] = 2
		crs[i].Commitment[32] = byte(i)
		crs[i].Digests = make([][32]byte, 3)
		for j := range crs[i].Digests {
			crs[i].Digests[j][0], crs[i].Digests[j][1], crs[i].Digests[j][2] = n, byte(i), byte(j)
		}
	}
	return rec, crs
}

func mustPut(t *testing.T, c *Catalog, rec FileRecord, chunks []ChunkRecord) {
	t.Helper()
	if err := c.PutFile(rec, chunks); err != nil {
		t.Fatal(err)
	}
}

func collectChunks(t *testing.T, c *Catalog, id [16]byte, epoch uint32) []ChunkRecord {
	t.Helper()
	var got []ChunkRecord
	err := c.Chunks(id, epoch, func(i uint32, ch ChunkRecord) error {
		if int(i) != len(got) {
			t.Fatalf("Chunks gave index %d, want %d", i, len(got))
		}
		got = append(got, ch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCatalogFileRoundTrip(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "alice@example.com", "report.pdf", 5)
	mustPut(t, c, rec, chunks)

	got, err := c.GetFile("alice@example.com", "report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("GetFile:\n got %+v\nwant %+v", got, rec)
	}
	if got, err := c.FileByID(rec.ID); err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("FileByID = %+v, %v", got, err)
	}
	if got := collectChunks(t, c, rec.ID, 0); !reflect.DeepEqual(got, chunks) {
		t.Fatalf("Chunks differ from what was put")
	}
	ch, err := c.Chunk(rec.ID, 0, 4)
	if err != nil || !reflect.DeepEqual(ch, chunks[4]) {
		t.Fatalf("Chunk(4) = %+v, %v", ch, err)
	}
	if _, err := c.Chunk(rec.ID, 0, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Chunk past the end: %v", err)
	}
	if _, err := c.GetFile("alice@example.com", "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := c.GetFile("bob@example.com", "report.pdf"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another owner's name: %v", err)
	}
}

func TestCatalogZeroTimesRoundTrip(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "a@x", "f", 1)
	rec.LastRenewal = time.Time{}
	mustPut(t, c, rec, chunks)
	got, err := c.FileByID(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastRenewal.IsZero() {
		t.Fatalf("zero LastRenewal came back as %v", got.LastRenewal)
	}
}

func TestCatalogReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, chunks := testFile(1, "alice@example.com", "a.txt", 3)
	mustPut(t, c, rec, chunks)
	srv := ServerRecord{Key: [32]byte{9}, Name: "s1", Location: "Paris", FirstSeen: time.Unix(5, 0).UTC(), LastSeen: time.Unix(6, 0).UTC()}
	if err := c.PutServer(srv); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = openCat(t, dir)
	got, err := c.GetFile("alice@example.com", "a.txt")
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if got := collectChunks(t, c, rec.ID, 0); !reflect.DeepEqual(got, chunks) {
		t.Fatal("chunk records changed across reopen")
	}
	if s, err := c.Server([32]byte{9}); err != nil || !reflect.DeepEqual(s, srv) {
		t.Fatalf("server after reopen: %+v, %v", s, err)
	}
}

// TestCatalogPutFileIsAtomic: a PutFile that fails on its last chunk record
// leaves neither the file nor any of its chunk records behind.
func TestCatalogPutFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, chunks := testFile(1, "alice@example.com", "big.bin", 50)
	chunks[49].Digests = chunks[49].Digests[:2] // one digest short
	if err := c.PutFile(rec, chunks); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutFile with a bad last chunk = %v, want ErrInvalid", err)
	}
	rec.Chunks = 51 // one chunk record missing
	chunks[49].Digests = append(chunks[49].Digests, [32]byte{})
	if err := c.PutFile(rec, chunks); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutFile with a missing chunk record = %v, want ErrInvalid", err)
	}
	if _, err := c.GetFile(rec.Owner, rec.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("file visible after a failed PutFile: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Look at the raw database: nothing but the schema marker.
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, _ := db.NewIter(nil)
	var keys []string
	for it.First(); it.Valid(); it.Next() {
		keys = append(keys, fmt.Sprintf("%q", it.Key()))
	}
	_ = it.Close()
	if len(keys) != 1 || keys[0] != fmt.Sprintf("%q", keySchema) {
		t.Fatalf("keys left by failed PutFiles: %v", keys)
	}
}

func TestCatalogPutFileValidates(t *testing.T) {
	c := openCat(t, t.TempDir())
	for name, mutate := range map[string]func(*FileRecord){
		"empty owner":   func(r *FileRecord) { r.Owner = "" },
		"empty name":    func(r *FileRecord) { r.Name = "" },
		"negative size": func(r *FileRecord) { r.Size = -1 },
		"k too big":     func(r *FileRecord) { r.K = 4 },
		"k zero":        func(r *FileRecord) { r.K = 0 },
		"n too small":   func(r *FileRecord) { r.N = 2 },
		"repeated x":    func(r *FileRecord) { r.Shares[1].X = 1 },
		"x zero":        func(r *FileRecord) { r.Shares[0].X = 0 },
		"no chunk":      func(r *FileRecord) { r.Chunks = 0 },
	} {
		rec, chunks := testFile(1, "a@x", "f", 1)
		mutate(&rec)
		if rec.Chunks == 0 {
			chunks = nil
		}
		if err := c.PutFile(rec, chunks); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutFile = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCatalogErrExists(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "alice@example.com", "a.txt", 1)
	mustPut(t, c, rec, chunks)

	same, ch := testFile(2, "alice@example.com", "a.txt", 1)
	if err := c.PutFile(same, ch); !errors.Is(err, ErrExists) {
		t.Fatalf("same owner and name: %v, want ErrExists", err)
	}
	sameID, ch := testFile(1, "alice@example.com", "b.txt", 1)
	if err := c.PutFile(sameID, ch); !errors.Is(err, ErrExists) {
		t.Fatalf("same ID: %v, want ErrExists", err)
	}
	other, ch := testFile(3, "bob@example.com", "a.txt", 1)
	if err := c.PutFile(other, ch); err != nil {
		t.Fatalf("another owner may use the name: %v", err)
	}
}

func TestCatalogConcurrentPutFileSameName(t *testing.T) {
	c := openCat(t, t.TempDir())
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec, chunks := testFile(byte(i+1), "alice@example.com", "race.txt", 2)
			errs[i] = c.PutFile(rec, chunks)
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrExists):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent PutFile calls with one name succeeded, want 1", won)
	}
}

func TestCatalogTombstoneThenPurge(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "alice@example.com", "gone.txt", 3)
	mustPut(t, c, rec, chunks)
	keep, kch := testFile(2, "alice@example.com", "kept.txt", 1)
	mustPut(t, c, keep, kch)

	got, err := c.Tombstone("alice@example.com", "gone.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatal("Tombstone returned another record")
	}
	if _, err := c.GetFile(rec.Owner, rec.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tombstoned file still found: %v", err)
	}
	if _, err := c.FileByID(rec.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tombstoned file still found by ID: %v", err)
	}
	if files, _ := c.ListFiles(rec.Owner); len(files) != 1 || files[0].Name != "kept.txt" {
		t.Fatalf("ListFiles after tombstone = %v", files)
	}
	var live int
	if err := c.AllFiles(func(FileRecord) error { live++; return nil }); err != nil || live != 1 {
		t.Fatalf("AllFiles after tombstone: %d files, %v", live, err)
	}
	tombs, err := c.Tombstones()
	if err != nil || len(tombs) != 1 || !reflect.DeepEqual(tombs[0], rec) {
		t.Fatalf("Tombstones() = %v, %v", tombs, err)
	}
	ids, err := c.KnownFileIDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ids[rec.ID]; !ok || len(ids) != 2 {
		t.Fatalf("KnownFileIDs must keep tombstoned IDs (their shares are being deleted): %x", ids)
	}
	if _, err := c.Tombstone("alice@example.com", "gone.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Tombstone: %v", err)
	}
	// The name is free again at once.
	again, ach := testFile(3, "alice@example.com", "gone.txt", 1)
	mustPut(t, c, again, ach)

	if err := c.Purge(keep.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Purge of a live file = %v, want ErrNotFound", err)
	}
	if err := c.Purge(rec.ID); err != nil {
		t.Fatal(err)
	}
	if tombs, _ := c.Tombstones(); len(tombs) != 0 {
		t.Fatalf("Tombstones after Purge = %v", tombs)
	}
	if got := collectChunks(t, c, rec.ID, 0); len(got) != 0 {
		t.Fatalf("%d chunk records left after Purge", len(got))
	}
	if _, err := c.FileByID(keep.ID); err != nil {
		t.Fatalf("Purge touched another file: %v", err)
	}
	ids, _ = c.KnownFileIDs()
	if _, ok := ids[rec.ID]; ok || len(ids) != 2 {
		t.Fatalf("KnownFileIDs after Purge = %x", ids)
	}
}

func TestCatalogListFilesIsolatesOwners(t *testing.T) {
	c := openCat(t, t.TempDir())
	// "a" is a prefix of "ab": the name index must not mix them.
	put := map[string][]string{
		"a":                 {"zeta", "alpha", "Beta", "b"},
		"ab":                {"x"},
		"a\x00":             {"nul"},
		"carol@example.com": {"c1"},
	}
	n := byte(1)
	for owner, names := range put {
		for _, name := range names {
			rec, ch := testFile(n, owner, name, 1)
			n++
			mustPut(t, c, rec, ch)
		}
	}
	for owner, want := range map[string][]string{
		"a":                 {"Beta", "alpha", "b", "zeta"},
		"ab":                {"x"},
		"a\x00":             {"nul"},
		"carol@example.com": {"c1"},
		"nobody":            nil,
	} {
		files, err := c.ListFiles(owner)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			if f.Owner != owner {
				t.Fatalf("ListFiles(%q) returned a file of %q", owner, f.Owner)
			}
			names = append(names, f.Name)
		}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("ListFiles(%q) = %q, want %q", owner, names, want)
		}
	}
}

func TestCatalogAllFilesVisitsEveryFile(t *testing.T) {
	c := openCat(t, t.TempDir())
	// More than one internal batch of 256, written concurrently so that the
	// synced commits are grouped.
	const total = 600
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				rec, ch := testFile(0, "a@x", fmt.Sprintf("f%04d", i), 1)
				rec.ID[0], rec.ID[1] = byte(i), byte(i>>8)
				if err := c.PutFile(rec, ch); err != nil {
					t.Error(err)
				}
			}
		}(w)
	}
	wg.Wait()
	seen := map[string]bool{}
	var prev [16]byte
	err := c.AllFiles(func(r FileRecord) error {
		if seen[r.Name] {
			t.Fatalf("AllFiles visited %s twice", r.Name)
		}
		if len(seen) > 0 && string(r.ID[:]) <= string(prev[:]) {
			t.Fatal("AllFiles not in ID order")
		}
		prev = r.ID
		seen[r.Name] = true
		// A callback may use the catalog.
		_, err := c.Chunk(r.ID, 0, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("AllFiles visited %d files, want %d", len(seen), total)
	}
	stop := errors.New("stop")
	calls := 0
	if err := c.AllFiles(func(FileRecord) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("AllFiles did not stop at the callback's error: %v after %d calls", err, calls)
	}
}

func TestCatalogUpdateEpoch(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "alice@example.com", "a.txt", 3)
	mustPut(t, c, rec, chunks)
	_, renewed := testFile(7, "", "", 3) // different digests, same shape
	when := time.Unix(1800000000, 0).UTC()
	if err := c.UpdateEpoch(rec.ID, 1, renewed, when); err != nil {
		t.Fatal(err)
	}
	got, err := c.FileByID(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 1 || !got.LastRenewal.Equal(when) {
		t.Fatalf("after UpdateEpoch: epoch %d, last renewal %v", got.Epoch, got.LastRenewal)
	}
	if !reflect.DeepEqual(collectChunks(t, c, rec.ID, 1), renewed) {
		t.Fatal("new epoch's chunk records differ")
	}
	if old := collectChunks(t, c, rec.ID, 0); len(old) != 0 {
		t.Fatalf("%d chunk records of the old epoch left", len(old))
	}
	if err := c.UpdateEpoch(rec.ID, 1, renewed, when); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateEpoch to the same epoch = %v, want ErrInvalid", err)
	}
	if err := c.UpdateEpoch(rec.ID, 2, renewed[:2], when); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateEpoch with too few chunk records = %v, want ErrInvalid", err)
	}
	if got, _ := c.FileByID(rec.ID); got.Epoch != 1 {
		t.Fatalf("a refused UpdateEpoch changed the epoch to %d", got.Epoch)
	}
	if err := c.UpdateEpoch(fid(99), 1, renewed, when); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UpdateEpoch of an unknown file = %v", err)
	}
}

func TestCatalogReplaceFile(t *testing.T) {
	c := openCat(t, t.TempDir())
	rec, chunks := testFile(1, "alice@example.com", "a.txt", 2)
	mustPut(t, c, rec, chunks)

	// Metadata only: chunk records are kept.
	rec.Shares[2].ServerName = "renamed"
	if err := c.ReplaceFile(rec, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.FileByID(rec.ID); got.Shares[2].ServerName != "renamed" {
		t.Fatal("ReplaceFile did not store the new record")
	}
	if len(collectChunks(t, c, rec.ID, 0)) != 2 {
		t.Fatal("ReplaceFile without chunks dropped the chunk records")
	}

	// Dropping a share slot needs new chunk records (one digest fewer).
	dropped := rec
	dropped.Shares = rec.Shares[:2]
	if err := c.ReplaceFile(dropped, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("dropping a slot without chunk records = %v", err)
	}
	short := make([]ChunkRecord, 2)
	for i := range short {
		short[i] = ChunkRecord{Commitment: chunks[i].Commitment, Digests: chunks[i].Digests[:2]}
	}
	if err := c.ReplaceFile(dropped, short); err != nil {
		t.Fatal(err)
	}
	if got := collectChunks(t, c, rec.ID, 0); !reflect.DeepEqual(got, short) {
		t.Fatal("chunk records not replaced")
	}

	renamed := dropped
	renamed.Name = "b.txt"
	if err := c.ReplaceFile(renamed, short); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReplaceFile changing the name = %v", err)
	}
}

func TestCatalogUsers(t *testing.T) {
	c := openCat(t, t.TempDir())
	if _, err := c.User("a@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := c.TouchUser("a@x", "Alice"); err != nil {
		t.Fatal(err)
	}
	first, err := c.User("a@x")
	if err != nil || first.Name != "Alice" || first.FirstSeen.IsZero() || first.Email != "a@x" {
		t.Fatalf("User after TouchUser = %+v, %v", first, err)
	}
	if err := c.TouchUser("a@x", "Alice B."); err != nil {
		t.Fatal(err)
	}
	u, _ := c.User("a@x")
	if u.Name != "Alice B." || !u.FirstSeen.Equal(first.FirstSeen) {
		t.Fatalf("a changed name must be stored and FirstSeen kept: %+v", u)
	}
	if err := c.TouchUser("b@x", ""); err != nil {
		t.Fatal(err)
	}
	users, err := c.Users()
	if err != nil || len(users) != 2 || users[0].Email != "a@x" || users[1].Email != "b@x" {
		t.Fatalf("Users() = %+v, %v", users, err)
	}
	if err := c.TouchUser("", "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty email: %v", err)
	}
}

func TestCatalogServers(t *testing.T) {
	c := openCat(t, t.TempDir())
	t0 := time.Unix(1000, 0).UTC()
	k1, k2, k3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	for _, s := range []ServerRecord{
		{Key: k2, Name: "beta", FirstSeen: t0, LastSeen: t0},
		{Key: k1, Name: "alpha", Location: "Paris", FirstSeen: t0, LastSeen: t0},
		{Key: k3, Name: "alpha", LastSeen: t0.Add(time.Hour)}, // same name, newer key
	} {
		if err := c.PutServer(s); err != nil {
			t.Fatal(err)
		}
	}
	// Seen again later: LastSeen moves, FirstSeen stays.
	if err := c.PutServer(ServerRecord{Key: k2, Name: "beta", Location: "Lyon", FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s2, err := c.Server(k2)
	if err != nil || !s2.FirstSeen.Equal(t0) || !s2.LastSeen.Equal(t0.Add(time.Minute)) || s2.Location != "Lyon" {
		t.Fatalf("Server(k2) = %+v, %v", s2, err)
	}
	if s3, _ := c.Server(k3); !s3.FirstSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("a new server without FirstSeen gets its LastSeen: %+v", s3)
	}
	servers, err := c.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range servers {
		names = append(names, fmt.Sprintf("%s/%d", s.Name, s.Key[0]))
	}
	if strings.Join(names, ",") != "alpha/1,alpha/3,beta/2" {
		t.Fatalf("Servers() = %v", names)
	}
	byName, err := c.ServerByName("alpha")
	if err != nil || byName.Key != k3 {
		t.Fatalf("ServerByName(alpha) = %x, %v; want the one seen last", byName.Key, err)
	}
	if _, err := c.ServerByName("gamma"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := c.Server([32]byte{4}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestCatalogDamagedValues writes garbage under catalog keys with pebble
// directly: every read reports ErrCorrupt naming the key, and nothing panics.
func TestCatalogDamagedValues(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, chunks := testFile(1, "alice@example.com", "a.txt", 2)
	mustPut(t, c, rec, chunks)
	if err := c.PutServer(ServerRecord{Key: [32]byte{7}, Name: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchUser("alice@example.com", "A"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	good := encodeFile(&rec)
	damage := map[string][]byte{
		string(liveKey(rec.ID)):             good[:len(good)-3],                                                    // truncated
		string(chunkKey('k', rec.ID, 0, 1)): append([]byte{9}, make([]byte, 33)...),                                // unknown version
		string(serverKey([32]byte{7})):      {1, 7},                                                                // truncated key
		"u/alice@example.com":               {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // bad varint
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range damage {
		if err := db.Set([]byte(k), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	c = openCat(t, dir)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", what, err)
			return
		}
		t.Logf("%s: %v", what, err)
	}
	_, err = c.GetFile("alice@example.com", "a.txt")
	check("GetFile", err)
	if err != nil && !strings.Contains(err.Error(), "catalog key") {
		t.Errorf("GetFile error does not name the key: %v", err)
	}
	_, err = c.FileByID(rec.ID)
	check("FileByID", err)
	_, err = c.ListFiles("alice@example.com")
	check("ListFiles", err)
	check("AllFiles", c.AllFiles(func(FileRecord) error { return nil }))
	_, err = c.Chunk(rec.ID, 0, 1)
	check("Chunk", err)
	check("Chunks", c.Chunks(rec.ID, 0, func(uint32, ChunkRecord) error { return nil }))
	_, err = c.Server([32]byte{7})
	check("Server", err)
	_, err = c.Servers()
	check("Servers", err)
	_, err = c.User("alice@example.com")
	check("User", err)
	_, err = c.Tombstone("alice@example.com", "a.txt")
	check("Tombstone", err)
	// The undamaged chunk record still reads.
	if _, err := c.Chunk(rec.ID, 0, 0); err != nil {
		t.Errorf("undamaged chunk record: %v", err)
	}
}

func TestCatalogChunksReportsGaps(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, chunks := testFile(1, "a@x", "f", 3)
	mustPut(t, c, rec, chunks)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(chunkKey('k', rec.ID, 0, 1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCat(t, dir)
	err = c.Chunks(rec.ID, 0, func(uint32, ChunkRecord) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "index 1 missing") {
		t.Fatalf("Chunks over a gap = %v, want ErrCorrupt naming index 1", err)
	}
}

func TestCatalogSettingsAndClose(t *testing.T) {
	c, err := OpenCatalog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSetting("noise-key", []byte("k")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Setting("noise-key"); err != nil || string(v) != "k" {
		t.Fatalf("Setting = %q, %v", v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListFiles("a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListFiles after Close = %v, want ErrClosed", err)
	}
	rec, ch := testFile(1, "a@x", "f", 1)
	if err := c.PutFile(rec, ch); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutFile after Close = %v, want ErrClosed", err)
	}
}

func TestCatalogRefusesShareStore(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := OpenCatalog(dir); err == nil {
		c.Close()
		t.Fatal("a share store opened as a catalog")
	}
}

// TestCatalogWritesAreDurable: every catalog write is on disk when it
// returns; a power cut right after loses none of them.
func TestCatalogWritesAreDurable(t *testing.T) {
	fs := vfs.NewCrashableMem()
	c, err := openCatalog("/catalog", fs)
	if err != nil {
		t.Fatal(err)
	}
	rec, chunks := testFile(1, "a@x", "kept", 4)
	mustPut(t, c, rec, chunks)
	gone, gch := testFile(2, "a@x", "gone", 1)
	mustPut(t, c, gone, gch)
	if _, err := c.Tombstone("a@x", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateEpoch(rec.ID, 1, chunks, time.Unix(9, 0).UTC()); err != nil {
		t.Fatal(err)
	}
	if err := c.PutServer(ServerRecord{Key: [32]byte{1}, Name: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.TouchUser("a@x", "A"); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, err := openCatalog("/catalog", crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := c2.GetFile("a@x", "kept")
	if err != nil || got.Epoch != 1 {
		t.Fatalf("file after the crash: epoch %d, %v", got.Epoch, err)
	}
	if n := len(collectChunks(t, c2, rec.ID, 1)); n != 4 {
		t.Fatalf("%d chunk records of the new epoch after the crash", n)
	}
	if tombs, _ := c2.Tombstones(); len(tombs) != 1 || tombs[0].ID != gone.ID {
		t.Fatalf("tombstones after the crash: %v", tombs)
	}
	if _, err := c2.Server([32]byte{1}); err != nil {
		t.Fatalf("server after the crash: %v", err)
	}
	if _, err := c2.User("a@x"); err != nil {
		t.Fatalf("user after the crash: %v", err)
	}
}
