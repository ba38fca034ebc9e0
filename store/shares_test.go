package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func fid(n byte) [16]byte {
	var id [16]byte
	for i := range id {
		id[i] = n ^ byte(i*7)
	}
	return id
}

// chunkData returns deterministic bytes that differ by file, epoch and index.
func chunkData(id [16]byte, epoch, index uint32, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = id[i%16] ^ byte(epoch*31) ^ byte(index*17) ^ byte(i*13)
	}
	return b
}

func openShares(t *testing.T, dir string) *ShareStore {
	t.Helper()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(t *testing.T, s *ShareStore, id [16]byte, epoch, index uint32, size int) []byte {
	t.Helper()
	data := chunkData(id, epoch, index, size)
	if err := s.PutChunk(id, epoch, index, data); err != nil {
		t.Fatal(err)
	}
	return data
}

func wantUsage(t *testing.T, s *ShareStore, used, files uint64) {
	t.Helper()
	u, f, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u != used || f != files {
		t.Fatalf("Usage() = %d bytes, %d files; want %d bytes, %d files", u, f, used, files)
	}
}

func TestShareStoreRoundTrip(t *testing.T) {
	s := openShares(t, t.TempDir())
	a, b := fid(1), fid(2)
	want := map[[3]uint32][]byte{}
	for _, c := range []struct {
		id           [16]byte
		epoch, index uint32
		size         int
	}{{a, 0, 0, 1036}, {a, 0, 1, 12}, {a, 1, 0, 4096}, {b, 7, 3, 1 << 20}} {
		want[[3]uint32{uint32(c.id[0]), c.epoch, c.index}] = put(t, s, c.id, c.epoch, c.index, c.size)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	for k, data := range want {
		id := a
		if byte(k[0]) == b[0] {
			id = b
		}
		got, err := s.GetChunk(id, k[1], k[2])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("chunk %v: got %d bytes, not what was put", k, len(got))
		}
	}
	if _, err := s.GetChunk(a, 0, 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing chunk: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetChunk(a, 2, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing epoch: err = %v, want ErrNotFound", err)
	}
}

func TestShareStorePutCopiesData(t *testing.T) {
	s := openShares(t, t.TempDir())
	data := []byte("share bytes")
	if err := s.PutChunk(fid(1), 0, 0, data); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXX")
	got, err := s.GetChunk(fid(1), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "share bytes" {
		t.Fatalf("stored chunk changed with the caller's buffer: %q", got)
	}
}

func TestShareStoreReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := put(t, s, fid(1), 3, 5, 70000)
	put(t, s, fid(2), 0, 0, 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	got, err := s.GetChunk(fid(1), 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("chunk changed across Close and reopen")
	}
	wantUsage(t, s, 70100, 2)
}

// TestShareStoreSyncMakesPutsDurable simulates a power cut on a file system
// that keeps only what was fsynced: chunks put before Sync survive it.
func TestShareStoreSyncMakesPutsDurable(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := openShareStore("/shares", noLink(fs))
	if err != nil {
		t.Fatal(err)
	}
	var synced [][]byte
	for i := uint32(0); i < 4; i++ {
		synced = append(synced, put(t, s, fid(1), 0, i, 5000))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	put(t, s, fid(1), 0, 4, 5000) // not synced
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := openShareStore("/shares", noLink(crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for i, want := range synced {
		got, err := s2.GetChunk(fid(1), 0, uint32(i))
		if err != nil {
			t.Fatalf("chunk %d, put before Sync, lost in the crash: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk %d changed in the crash", i)
		}
	}
	if err := s2.HasChunks(fid(1), 0, 4); err != nil {
		t.Fatal(err)
	}
	// The counters survive with exactly the chunks that survived.
	used, _, _ := s2.Usage()
	if used != 4*5000 && used != 5*5000 {
		t.Fatalf("usage after crash = %d, want the bytes of the surviving chunks", used)
	}
	if _, err := s2.GetChunk(fid(1), 0, 4); err == nil && used != 5*5000 {
		t.Fatal("usage counter disagrees with the surviving chunks")
	}
}

func TestShareStoreDeleteFileRemovesAllEpochs(t *testing.T) {
	s := openShares(t, t.TempDir())
	a, b := fid(1), fid(2)
	for epoch := uint32(0); epoch < 3; epoch++ {
		for i := uint32(0); i < 3; i++ {
			put(t, s, a, epoch, i, 1000)
		}
	}
	put(t, s, b, 0, 0, 10)
	if err := s.DeleteFile(a); err != nil {
		t.Fatal(err)
	}
	for epoch := uint32(0); epoch < 3; epoch++ {
		for i := uint32(0); i < 3; i++ {
			if _, err := s.GetChunk(a, epoch, i); !errors.Is(err, ErrNotFound) {
				t.Fatalf("chunk %d/%d still there after DeleteFile: %v", epoch, i, err)
			}
		}
	}
	if epochs, _ := s.Epochs(a); len(epochs) != 0 {
		t.Fatalf("Epochs after DeleteFile = %v", epochs)
	}
	if _, err := s.GetChunk(b, 0, 0); err != nil {
		t.Fatalf("another file's chunk went with it: %v", err)
	}
	ids, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != b {
		t.Fatalf("Files() = %x, want only %x", ids, b)
	}
	wantUsage(t, s, 10, 1)
	// Deleting again, or an unknown file, is fine.
	if err := s.DeleteFile(a); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFile(fid(9)); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 10, 1)
}

func TestShareStoreEpochsAndDeleteEpoch(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(1)
	for _, epoch := range []uint32{0, 1, 1 << 31, 1<<32 - 1} {
		put(t, s, a, epoch, 0, 100)
		put(t, s, a, epoch, 1, 100)
	}
	epochs, err := s.Epochs(a)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(epochs) != fmt.Sprint([]uint32{0, 1, 1 << 31, 1<<32 - 1}) {
		t.Fatalf("Epochs() = %v", epochs)
	}
	if err := s.DeleteEpoch(a, 1); err != nil {
		t.Fatal(err)
	}
	epochs, _ = s.Epochs(a)
	if fmt.Sprint(epochs) != fmt.Sprint([]uint32{0, 1 << 31, 1<<32 - 1}) {
		t.Fatalf("Epochs() after DeleteEpoch(1) = %v", epochs)
	}
	if _, err := s.GetChunk(a, 0, 1); err != nil {
		t.Fatalf("epoch 0 lost: %v", err)
	}
	wantUsage(t, s, 600, 1)
	for _, e := range []uint32{0, 1 << 31} {
		if err := s.DeleteEpoch(a, e); err != nil {
			t.Fatal(err)
		}
	}
	wantUsage(t, s, 200, 1) // the last epoch keeps the file counted
	if err := s.DeleteEpoch(a, 1<<32-1); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 0, 0)
	if ids, _ := s.Files(); len(ids) != 0 {
		t.Fatalf("Files() after deleting every epoch = %x", ids)
	}
}

func TestShareStoreHasChunks(t *testing.T) {
	s := openShares(t, t.TempDir())
	a := fid(1)
	for _, i := range []uint32{0, 1, 2, 4} {
		put(t, s, a, 2, i, 10)
	}
	put(t, s, a, 3, 3, 10) // another epoch does not fill the gap
	if err := s.HasChunks(a, 2, 3); err != nil {
		t.Fatalf("HasChunks(3) = %v", err)
	}
	err := s.HasChunks(a, 2, 5)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "index 3") {
		t.Fatalf("HasChunks(5) = %v, want ErrNotFound naming index 3", err)
	}
	if err := s.HasChunks(a, 1, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("HasChunks at an empty epoch = %v", err)
	}
	if err := s.HasChunks(a, 2, 0); err != nil {
		t.Fatalf("HasChunks(0) = %v", err)
	}
}

func TestShareStoreUsageCounters(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 0, 0)
	put(t, s, fid(1), 0, 0, 1000)
	put(t, s, fid(1), 0, 1, 500)
	put(t, s, fid(2), 0, 0, 300)
	wantUsage(t, s, 1800, 2)
	put(t, s, fid(1), 0, 1, 200) // overwrite counts once, with the new size
	wantUsage(t, s, 1500, 2)
	put(t, s, fid(1), 1, 0, 1000) // a pending epoch adds bytes, not a file
	wantUsage(t, s, 2500, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openShares(t, dir)
	wantUsage(t, s, 2500, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Without the persisted counters (an older layout, or a damaged value),
	// opening recounts them from the size index.
	for _, damage := range [][]byte{nil, []byte("garbage")} {
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		if damage == nil {
			err = db.Delete(keyUsage, pebble.Sync)
		} else {
			err = db.Set(keyUsage, damage, pebble.Sync)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := OpenShareStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		wantUsage(t, s, 2500, 2)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShareStoreConcurrentPutsKeepCountersExact(t *testing.T) {
	s := openShares(t, t.TempDir())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				// Every worker writes the same 10 files, so puts race on
				// both new files and overwrites.
				if err := s.PutChunk(fid(byte(i%10)), 0, uint32(w), make([]byte, 100+w)); err != nil {
					t.Error(err)
					return
				}
			}
			if err := s.Sync(); err != nil {
				t.Error(err)
			}
		}(w)
	}
	wg.Wait()
	var used uint64
	for w := 0; w < 8; w++ {
		used += 10 * uint64(100+w)
	}
	wantUsage(t, s, used, 10)
}

func TestShareStoreRefusesOtherSchema(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenShareStore(dir)
	if err == nil || !strings.Contains(err.Error(), schemaCatalog) {
		t.Fatalf("opening a catalog as a share store: err = %v, want a wrong-directory error", err)
	}

	// A pebble database of something else (no schema marker).
	other := t.TempDir()
	db, err := pebble.Open(other, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("hello"), []byte("world"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShareStore(other); err == nil || !strings.Contains(err.Error(), "schema marker") {
		t.Fatalf("opening a foreign pebble database: err = %v", err)
	}
}

func TestShareStoreLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	openShares(t, dir)
	if s, err := OpenShareStore(dir); err == nil {
		s.Close()
		t.Fatal("a second OpenShareStore on the same directory succeeded")
	}
}

func TestShareStoreClosed(t *testing.T) {
	s, err := OpenShareStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.PutChunk(fid(1), 0, 0, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutChunk after Close = %v, want ErrClosed", err)
	}
	if _, err := s.GetChunk(fid(1), 0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetChunk after Close = %v, want ErrClosed", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close = %v, want ErrClosed", err)
	}
}

func TestShareStoreSettings(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setting("proxy-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	if err := s.SetSetting("proxy-key", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openShares(t, dir)
	v, err := s.Setting("proxy-key")
	if err != nil || !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Fatalf("Setting after reopen = %v, %v", v, err)
	}
}

// TestShareStoreConcurrentSyncsAreDurable: many writers put and Sync at
// once (sharing flushes); at a simulated power cut, every chunk whose Sync
// had returned is on disk.
func TestShareStoreConcurrentSyncsAreDurable(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := openShareStore("/shares", noLink(fs))
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	size := func(i uint32) int { return 100 + int(i%7)*1000 }
	var (
		mu     sync.Mutex
		synced [writers]uint32 // chunks 0..synced[w]-1 of writer w are durable
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			id := fid(byte(w))
			for i := uint32(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.PutChunk(id, 0, i, chunkData(id, 0, i, size(i))); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 2 || w == 0 {
					if err := s.Sync(); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					synced[w] = i + 1
					mu.Unlock()
				}
			}
		}(w)
	}
	var crashes []*vfs.MemFS
	var snapshots [][writers]uint32
	for c := 0; c < 3; c++ {
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		snapshots = append(snapshots, synced)
		crashes = append(crashes, fs.CrashClone(vfs.CrashCloneCfg{}))
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for c, crashed := range crashes {
		s2, err := openShareStore("/shares", noLink(crashed))
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for w, n := range snapshots[c] {
			id := fid(byte(w))
			for i := uint32(0); i < n; i++ {
				got, err := s2.GetChunk(id, 0, i)
				if err != nil {
					t.Fatalf("crash %d: synced chunk %d of writer %d lost: %v", c, i, w, err)
				}
				if !bytes.Equal(got, chunkData(id, 0, i, size(i))) {
					t.Fatalf("crash %d: synced chunk %d of writer %d damaged", c, i, w)
				}
			}
			total += int(n)
		}
		if total == 0 {
			t.Fatalf("crash %d: no Sync had returned yet; the test proves nothing", c)
		}
		t.Logf("crash %d: %d synced chunks intact", c, total)
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShareStoreDeleteIsDurable: DeleteFile and DeleteEpoch are synced
// before they return; a power cut right after cannot bring the chunks back.
func TestShareStoreDeleteIsDurable(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := openShareStore("/shares", noLink(fs))
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, fid(1), 0, 0, 3000)
	put(t, s, fid(2), 0, 0, 3000)
	put(t, s, fid(2), 1, 0, 3000)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFile(fid(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEpoch(fid(2), 0); err != nil {
		t.Fatal(err)
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
	if _, err := s2.GetChunk(fid(1), 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted file back after the crash: %v", err)
	}
	if _, err := s2.GetChunk(fid(2), 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted epoch back after the crash: %v", err)
	}
	if _, err := s2.GetChunk(fid(2), 1, 0); err != nil {
		t.Fatalf("kept epoch lost: %v", err)
	}
	wantUsage(t, s2, 3000, 1)
}

func TestShareStoreViewChunk(t *testing.T) {
	s := openShares(t, t.TempDir())
	want := put(t, s, fid(1), 2, 7, 70000)
	var got []byte
	if err := s.ViewChunk(fid(1), 2, 7, func(chunk []byte) error {
		got = append([]byte(nil), chunk...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ViewChunk handed bytes that differ from the stored chunk")
	}
	called := false
	err := s.ViewChunk(fid(1), 2, 8, func([]byte) error { called = true; return nil })
	if !errors.Is(err, ErrNotFound) || called {
		t.Fatalf("missing chunk: err %v, fn called %v; want ErrNotFound without a call", err, called)
	}
	sentinel := errors.New("from fn")
	if err := s.ViewChunk(fid(1), 2, 7, func([]byte) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("fn's error not returned: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ViewChunk(fid(1), 2, 7, func([]byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("ViewChunk after Close: %v, want ErrClosed", err)
	}
}
