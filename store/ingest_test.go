package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// putRange puts chunks [from, to) of a file at epoch, each size bytes, and
// returns them by index.
func putRange(t *testing.T, s *ShareStore, id [16]byte, epoch, from, to uint32, size int) map[uint32][]byte {
	t.Helper()
	out := map[uint32][]byte{}
	for i := from; i < to; i++ {
		out[i] = put(t, s, id, epoch, i, size)
	}
	return out
}

func wantChunks(t *testing.T, s *ShareStore, id [16]byte, epoch uint32, want map[uint32][]byte) {
	t.Helper()
	for i, w := range want {
		got, err := s.GetChunk(id, epoch, i)
		if err != nil {
			t.Fatalf("chunk %d of epoch %d: %v", i, epoch, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("chunk %d of epoch %d differs from what was put", i, epoch)
		}
	}
}

func ingests(s *ShareStore) uint64 { return s.db.Metrics().Ingest.Count }

// stagedFiles lists what is left in the staging folder.
func stagedFiles(t *testing.T, s *ShareStore) []string {
	t.Helper()
	names, err := s.fs.List(s.stageDir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func wantNoFile(t *testing.T, s *ShareStore, id [16]byte) {
	t.Helper()
	if ids, err := s.Files(); err != nil || len(ids) != 0 {
		t.Fatalf("Files() = %x, %v; want none", ids, err)
	}
	if es, err := s.Epochs(id); err != nil || len(es) != 0 {
		t.Fatalf("Epochs() = %v, %v; want none", es, err)
	}
	if _, err := s.GetChunk(id, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetChunk of a file that should not exist: %v", err)
	}
}

// A large file whose chunks arrive in order goes into a staged table, is
// ingested by SyncFile (without a memtable flush), and reads back the same
// after SyncFile and after a reopen; the counters stay exact.
func TestShareStoreStagedFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := fid(1)
	want := putRange(t, s, a, 0, 0, 12, 70000)
	if r := s.runFor(a); r == nil || r.tbl == nil || r.next != 12 {
		t.Fatalf("in-order chunks were not staged in a table: %+v", r)
	}
	if n := len(stagedFiles(t, s)); n != 1 {
		t.Fatalf("%d files in the staging folder, want the run's table", n)
	}
	// Staged chunks are counted and listed before the sync.
	wantUsage(t, s, 12*70000, 1)
	if ids, _ := s.Files(); len(ids) != 1 || ids[0] != a {
		t.Fatalf("Files() during staging = %x", ids)
	}
	flushes, before := s.db.Metrics().Flush.Count, ingests(s)
	if err := s.SyncFile(a, 0, 12); err != nil {
		t.Fatal(err)
	}
	if ingests(s) != before+1 {
		t.Fatalf("SyncFile made %d ingests, want 1", ingests(s)-before)
	}
	if f := s.db.Metrics().Flush.Count; f != flushes {
		t.Fatalf("SyncFile of a staged file flushed the memtable %d times", f-flushes)
	}
	if s.runFor(a) != nil || len(stagedFiles(t, s)) != 0 {
		t.Fatal("the run or its table is left after SyncFile")
	}
	wantChunks(t, s, a, 0, want)
	wantUsage(t, s, 12*70000, 1)
	if err := s.HasChunks(a, 0, 12); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFile(a, 0, 13); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SyncFile for 13 chunks of 12 = %v, want ErrNotFound", err)
	}
	if es, _ := s.Epochs(a); fmt.Sprint(es) != "[0]" {
		t.Fatalf("Epochs() = %v", es)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	wantChunks(t, s, a, 0, want)
	wantUsage(t, s, 12*70000, 1)
	if ids, _ := s.Files(); len(ids) != 1 || ids[0] != a {
		t.Fatalf("Files() after reopen = %x", ids)
	}
	// The usage marker was removed with the counter update.
	if err := scan(s.db, pfxIngest, func(k, _ []byte) error {
		return fmt.Errorf("marker %x left", k)
	}); err != nil {
		t.Fatal(err)
	}
}

// A one-chunk file never creates a table: SyncFile writes it through the
// batch path and syncs that.
func TestShareStoreOneChunkFileTakesBatchPath(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(2)
	want := putRange(t, s, a, 0, 0, 1, 4096)
	if len(stagedFiles(t, s)) != 0 {
		t.Fatal("a one-chunk file created a staged table")
	}
	before := ingests(s)
	if err := s.SyncFile(a, 0, 1); err != nil {
		t.Fatal(err)
	}
	if ingests(s) != before {
		t.Fatal("a one-chunk file was ingested")
	}
	wantChunks(t, s, a, 0, want)
	wantUsage(t, s, 4096, 1)
}

// A staged chunk is a copy: the caller may reuse its buffer at once.
func TestShareStoreStagedPutCopiesData(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(3)
	buf := make([]byte, 5000)
	want := map[uint32][]byte{}
	for i := uint32(0); i < 5; i++ {
		for j := range buf {
			buf[j] = byte(i) + byte(j)
		}
		want[i] = bytes.Clone(buf)
		if err := s.PutChunk(a, 0, i, buf); err != nil {
			t.Fatal(err)
		}
	}
	for j := range buf {
		buf[j] = 0xee
	}
	if err := s.SyncFile(a, 0, 5); err != nil {
		t.Fatal(err)
	}
	wantChunks(t, s, a, 0, want)
}

// A power cut before SyncFile leaves no trace of a staged file and exact
// counters; one right after SyncFile (before the counter batch is synced)
// keeps the file and counts it once.
func TestShareStoreStagedCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := openShareStore("/shares", noLink(fs))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c, d := fid(1), fid(2), fid(3), fid(4)
	// d makes "m/usage" durable, so that the crash after a's SyncFile
	// reads it (instead of recounting) and needs a's marker.
	wantD := putRange(t, s, d, 0, 0, 1, 500)
	if err := s.SyncFile(d, 0, 1); err != nil {
		t.Fatal(err)
	}
	wantA := putRange(t, s, a, 0, 0, 6, 3000)
	if err := s.SyncFile(a, 0, 6); err != nil {
		t.Fatal(err)
	}
	// The counter batch after a's ingest is not synced yet: a crash now
	// must count a's chunks from its marker.
	afterA := fs.CrashClone(vfs.CrashCloneCfg{})
	putRange(t, s, b, 0, 0, 5, 2000) // staged, never synced
	putRange(t, s, c, 0, 0, 1, 100)  // one chunk, never synced
	if r := s.runFor(b); r == nil || r.tbl == nil {
		t.Fatal("b was not staged")
	}
	beforeSync := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for name, crashed := range map[string]*vfs.MemFS{"after a's SyncFile": afterA, "with b staged": beforeSync} {
		s2, err := openShareStore("/shares", noLink(crashed))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantChunks(t, s2, a, 0, wantA)
		wantChunks(t, s2, d, 0, wantD)
		if err := s2.HasChunks(a, 0, 6); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantUsage(t, s2, 6*3000+500, 2)
		if ids, _ := s2.Files(); len(ids) != 2 {
			t.Fatalf("%s: Files() = %x, want a and d", name, ids)
		}
		for _, id := range [][16]byte{b, c} {
			if es, _ := s2.Epochs(id); len(es) != 0 {
				t.Fatalf("%s: an unsynced file left epochs %v", name, es)
			}
		}
		if n := len(stagedFiles(t, s2)); n != 0 {
			t.Fatalf("%s: %d staged files left after reopening", name, n)
		}
		// The counters are exact from here on, too.
		putRange(t, s2, b, 0, 0, 3, 10)
		if err := s2.SyncFile(b, 0, 3); err != nil {
			t.Fatal(err)
		}
		wantUsage(t, s2, 6*3000+500+30, 3)
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// After SyncFile returns, the file survives a power cut.
func TestShareStoreSyncFileIsDurable(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := openShareStore("/shares", noLink(fs))
	if err != nil {
		t.Fatal(err)
	}
	a, b := fid(4), fid(5)
	wantA := putRange(t, s, a, 0, 0, 9, 4000)
	wantB := putRange(t, s, b, 0, 0, 1, 700) // batch path
	for _, f := range []struct {
		id [16]byte
		n  uint32
	}{{a, 9}, {b, 1}} {
		if err := s.SyncFile(f.id, 0, f.n); err != nil {
			t.Fatal(err)
		}
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := openShareStore("/shares", noLink(crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	wantChunks(t, s2, a, 0, wantA)
	wantChunks(t, s2, b, 0, wantB)
	wantUsage(t, s2, 9*4000+700, 2)
}

// Chunks a little out of order wait for the gap; a rewrite or a chunk far
// ahead ends the run and takes the batch path; everything reads back and
// the counters stay exact.
func TestShareStoreStagedOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := fid(6)
	want := map[uint32][]byte{}
	sizes := map[uint32]int{}
	putOne := func(i uint32, size int) {
		want[i] = put(t, s, a, 0, i, size)
		sizes[i] = size
	}
	for _, i := range []uint32{0, 1, 3, 2, 6, 5, 4} { // early chunks wait
		putOne(i, 1000+int(i))
	}
	if r := s.runFor(a); r == nil || r.next != 7 || len(r.ahead) != 0 {
		t.Fatalf("run after filling the gaps: %+v", r)
	}
	putOne(2, 5000)  // rewrite: ends the run, batch path
	putOne(2, 5001)  // and again
	putOne(7, 700)   // starts a new run after the last chunk
	putOne(8, 800)   // staged
	putOne(20, 2000) // far ahead: batch path
	putOne(9, 900)   // 9 < 21: batch path
	putOne(10, 100)
	var total uint64
	for _, n := range sizes {
		total += uint64(n)
	}
	wantUsage(t, s, total, 1)
	if err := s.SyncFile(a, 0, 11); err != nil {
		t.Fatal(err)
	}
	wantChunks(t, s, a, 0, want)
	wantUsage(t, s, total, 1)
	if err := s.HasChunks(a, 0, 21); !errors.Is(err, ErrNotFound) {
		t.Fatalf("HasChunks across the gap 11..19 = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	wantChunks(t, s, a, 0, want)
	wantUsage(t, s, total, 1)
}

// A staged chunk is readable before SyncFile: a read ends the run.
func TestShareStoreStagedChunkReadable(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(7)
	want := putRange(t, s, a, 0, 0, 4, 3000)
	wantChunks(t, s, a, 0, want)
	if err := s.HasChunks(a, 0, 4); err != nil {
		t.Fatal(err)
	}
	more := putRange(t, s, a, 0, 4, 8, 3000) // a new run after the first
	if err := s.SyncFile(a, 0, 8); err != nil {
		t.Fatal(err)
	}
	wantChunks(t, s, a, 0, want)
	wantChunks(t, s, a, 0, more)
	wantUsage(t, s, 8*3000, 1)
}

// DeleteFile during staging drops the run and its table; DeleteEpoch drops
// the run only if it is at that epoch.
func TestShareStoreDeleteDuringStaging(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fid(8), fid(9)
	putRange(t, s, a, 0, 0, 5, 2000)
	if err := s.DeleteFile(a); err != nil {
		t.Fatal(err)
	}
	if s.runFor(a) != nil || len(stagedFiles(t, s)) != 0 {
		t.Fatal("DeleteFile left the staged run or its table")
	}
	wantNoFile(t, s, a)
	wantUsage(t, s, 0, 0)
	if err := s.SyncFile(a, 0, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SyncFile after DeleteFile = %v, want ErrNotFound", err)
	}

	// b: epoch 0 synced, epoch 1 staged.
	wantB := putRange(t, s, b, 0, 0, 3, 100)
	if err := s.SyncFile(b, 0, 3); err != nil {
		t.Fatal(err)
	}
	putRange(t, s, b, 1, 0, 3, 100)
	wantChunks(t, s, b, 0, wantB)
	if err := s.DeleteEpoch(b, 0); err != nil { // the other epoch: the run stays
		t.Fatal(err)
	}
	if r := s.runFor(b); r == nil || r.epoch != 1 {
		t.Fatal("DeleteEpoch of another epoch dropped the run")
	}
	wantUsage(t, s, 300, 1)
	if err := s.DeleteEpoch(b, 1); err != nil {
		t.Fatal(err)
	}
	if s.runFor(b) != nil || len(stagedFiles(t, s)) != 0 {
		t.Fatal("DeleteEpoch of the staged epoch left the run")
	}
	wantUsage(t, s, 0, 0)

	// Deleting then writing again (same ID) stages and counts afresh.
	wantB = putRange(t, s, b, 0, 0, 3, 100)
	if err := s.SyncFile(b, 0, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	wantChunks(t, s, b, 0, wantB)
	wantUsage(t, s, 300, 1)
	if ids, _ := s.Files(); len(ids) != 1 || ids[0] != b {
		t.Fatalf("Files() = %x, want only b", ids)
	}
}

// Renewal writes a new epoch beside the old one, its chunks arriving two
// at a time out of order (the proxy prepares two chunks at once); both
// epochs read back, then the old one is deleted.
func TestShareStoreStagedRenewalSideBySide(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(10)
	old := putRange(t, s, a, 0, 0, 8, 1500)
	if err := s.SyncFile(a, 0, 8); err != nil {
		t.Fatal(err)
	}
	renewed := map[uint32][]byte{}
	for _, i := range []uint32{1, 0, 3, 2, 4, 5, 7, 6} {
		renewed[i] = put(t, s, a, 1, i, 1500)
	}
	if r := s.runFor(a); r == nil || r.epoch != 1 || r.next != 8 || r.tbl == nil {
		t.Fatalf("the renewal was not staged in order: %+v", r)
	}
	if es, _ := s.Epochs(a); fmt.Sprint(es) != "[0 1]" {
		t.Fatalf("Epochs() during renewal = %v", es)
	}
	before := ingests(s)
	if err := s.SyncFile(a, 1, 8); err != nil {
		t.Fatal(err)
	}
	if ingests(s) != before+1 {
		t.Fatal("the renewal epoch was not ingested")
	}
	wantChunks(t, s, a, 0, old)
	wantChunks(t, s, a, 1, renewed)
	wantUsage(t, s, 16*1500, 1)
	if es, _ := s.Epochs(a); fmt.Sprint(es) != "[0 1]" {
		t.Fatalf("Epochs() after SyncFile = %v", es)
	}
	if err := s.DeleteEpoch(a, 0); err != nil {
		t.Fatal(err)
	}
	if es, _ := s.Epochs(a); fmt.Sprint(es) != "[1]" {
		t.Fatalf("Epochs() after deleting epoch 0 = %v", es)
	}
	wantChunks(t, s, a, 1, renewed)
	wantUsage(t, s, 8*1500, 1)
}

// Concurrent uploads, large and small, synced file by file, with a reopen:
// every file reads back and the counters are the exact sums.
func TestShareStoreConcurrentStagedUploads(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	const files = 12
	size := func(f int) int { return 1000 + 37*f }
	count := func(f int) uint32 { return uint32(1 + f%4*3) }
	var wg sync.WaitGroup
	for f := 0; f < files; f++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fid(byte(100 + f))
			for i := uint32(0); i < count(f); i++ {
				if err := s.PutChunk(id, 0, i, chunkData(id, 0, i, size(f))); err != nil {
					t.Error(err)
					return
				}
			}
			if err := s.SyncFile(id, 0, count(f)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var used uint64
	for f := 0; f < files; f++ {
		used += uint64(count(f)) * uint64(size(f))
	}
	wantUsage(t, s, used, files)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	wantUsage(t, s, used, files)
	for f := 0; f < files; f++ {
		id := fid(byte(100 + f))
		for i := uint32(0); i < count(f); i++ {
			got, err := s.GetChunk(id, 0, i)
			if err != nil || !bytes.Equal(got, chunkData(id, 0, i, size(f))) {
				t.Fatalf("file %d chunk %d: %v", f, i, err)
			}
		}
	}
}

// noLinkFS makes pebble copy ingested tables instead of hard-linking them:
// vfs.MemFS.Link read-locks the clone lock twice and deadlocks against a
// concurrent CrashClone (pebble v2.1.7), which the crash tests take while
// writers run. A copy is synced, so durability is the same.
type noLinkFS struct{ vfs.FS }

func (noLinkFS) Link(string, string) error { return errNoLink }

var errNoLink = errors.New("hard links disabled in this test")

func noLink(fs *vfs.MemFS) vfs.FS { return noLinkFS{fs} }
