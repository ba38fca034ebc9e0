package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/store"
)

// renew calls POST /api/file/renew.
func (c *cluster) renew(u user, name string) error {
	return c.call(u, "POST", "/api/file/renew", "application/x-www-form-urlencoded",
		strings.NewReader("name="+urlEscape(name)), nil)
}

func (c *cluster) file(t testing.TB, name string) fileInfo {
	t.Helper()
	files, err := c.files(defaultUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Filename == name {
			return f
		}
	}
	t.Fatalf("%q is not listed", name)
	return fileInfo{}
}

// restartProxy stops the proxy (SIGTERM), applies the time keeper settings
// (seconds; 0 keeps the default) and the environment, and starts it again.
func (c *cluster) restartProxy(t testing.TB, check, renewal, expiry int, env ...string) {
	t.Helper()
	c.proxy.Stop()
	path := filepath.Join(c.dir, "proxy.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if check > 0 {
		secs := func(n int) map[string]any { return map[string]any{"secs": n, "nanos": 0} }
		cfg["time_keeper_configuration"] = map[string]any{
			"checking_interval": secs(check), "renewal_duration": secs(renewal), "expiry_duration": secs(expiry)}
	}
	writeJSON(t, path, cfg)
	c.proxy.Env = env
	c.proxy.Restart()
}

// shareState is what one storage server holds: file -> epoch -> chunk -> bytes.
type shareState map[[16]byte]map[uint32][][]byte

// readShares stops every storage server, reads their stores and restarts
// them; it returns one state per server.
func (c *cluster) readShares(t testing.TB) []shareState {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range c.storages {
		wg.Add(1)
		go func() { defer wg.Done(); s.Stop() }()
	}
	wg.Wait()
	out := make([]shareState, len(c.storages))
	for i, name := range c.names {
		out[i] = readStore(t, filepath.Join(c.dir, name, "shares"))
	}
	for _, s := range c.storages {
		s.Restart()
	}
	c.waitConnected(len(c.storages))
	return out
}

func readStore(t testing.TB, dir string) shareState {
	t.Helper()
	ss, err := store.OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	ids, err := ss.Files()
	if err != nil {
		t.Fatal(err)
	}
	st := shareState{}
	for _, id := range ids {
		epochs, err := ss.Epochs(id)
		if err != nil {
			t.Fatal(err)
		}
		st[id] = map[uint32][][]byte{}
		for _, e := range epochs {
			for idx := uint32(0); ; idx++ {
				b, err := ss.GetChunk(id, e, idx)
				if errors.Is(err, store.ErrNotFound) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				st[id][e] = append(st[id][e], b)
			}
		}
	}
	return st
}

// only returns the single file and its single epoch in st.
func (st shareState) only(t testing.TB, server string) ([16]byte, uint32, [][]byte) {
	t.Helper()
	if len(st) != 1 {
		t.Fatalf("%s holds %d files, want 1", server, len(st))
	}
	for id, epochs := range st {
		if len(epochs) != 1 {
			var es []uint32
			for e := range epochs {
				es = append(es, e)
			}
			t.Fatalf("%s holds epochs %v, want exactly one", server, es)
		}
		for e, chunks := range epochs {
			return id, e, chunks
		}
	}
	panic("unreachable")
}

func (c *cluster) mustRetrieve(t testing.TB, name string, want []byte) {
	t.Helper()
	got, ok, err := c.retrieve(defaultUser, name)
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Fatalf("retrieve %q: err=%v integrity=%v equal=%v", name, err, ok, bytes.Equal(got, want))
	}
}

// A file renewed several times still retrieves exactly, every stored share
// changes at each renewal, and an old share mixed with new ones does not
// rebuild the file.
func TestRenewChangesSharesAndKeepsFile(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 5})
	data := make([]byte, 2_200_000) // 3 chunks, the last one partial
	rand.Read(data)
	if err := c.protectBytes(defaultUser, "r.bin", 3, data); err != nil {
		t.Fatal(err)
	}
	prev := c.readShares(t)
	first := prev
	before := c.file(t, "r.bin")
	for round := 1; round <= 2; round++ {
		time.Sleep(1100 * time.Millisecond) // last_renewal has one-second resolution
		if err := c.renew(defaultUser, "r.bin"); err != nil {
			t.Fatalf("renewal %d: %v", round, err)
		}
		c.mustRetrieve(t, "r.bin", data)
		f := c.file(t, "r.bin")
		if !f.LastRenewal.After(before.LastRenewal) || f.Expired || len(f.StorageServers) != 5 {
			t.Fatalf("after renewal %d: %+v (before %+v)", round, f, before)
		}
		before = f
		// The epochs converge in the background (the commit already ran).
		cur := c.readShares(t)
		for i, name := range c.names {
			_, pe, pchunks := prev[i].only(t, name)
			_, e, chunks := cur[i].only(t, name)
			if e != pe+1 {
				t.Fatalf("%s: epoch %d after renewal %d, want %d", name, e, round, pe+1)
			}
			if len(chunks) != len(pchunks) || len(chunks) != 3 {
				t.Fatalf("%s: %d chunks, want 3", name, len(chunks))
			}
			for j := range chunks {
				if len(chunks[j]) != len(pchunks[j]) {
					t.Fatalf("%s chunk %d: size changed", name, j)
				}
				// The 12-byte header stays; every share value changes.
				if !bytes.Equal(chunks[j][:shamir.ShareChunkHeaderSize], pchunks[j][:shamir.ShareChunkHeaderSize]) {
					t.Fatalf("%s chunk %d: header changed", name, j)
				}
				if bytes.Equal(chunks[j][shamir.ShareChunkHeaderSize:], pchunks[j][shamir.ShareChunkHeaderSize:]) {
					t.Fatalf("%s chunk %d: share bytes unchanged by renewal %d", name, j, round)
				}
			}
		}
		prev = cur
	}
	c.mustRetrieve(t, "r.bin", data)

	// Mixing: chunk 0's share of x=1 from epoch 0 with the epoch-2 shares
	// of x=2 and x=3. The commitment comes from the proxy's catalog.
	c.proxy.Stop()
	cat, err := store.OpenCatalog(filepath.Join(c.dir, "proxy", "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	id, epoch, _ := prev[0].only(t, "s1")
	cr, err := cat.Chunk(id, epoch, 0)
	cat.Close()
	if err != nil {
		t.Fatal(err)
	}
	byX := func(st []shareState, x int) []byte {
		for i := range st {
			_, _, chunks := st[i].only(t, c.names[i])
			gx, _, _, err := shamir.DecodeShareChunk(chunks[0])
			if err != nil {
				t.Fatal(err)
			}
			if gx == x {
				return chunks[0]
			}
		}
		t.Fatalf("no share with x=%d", x)
		return nil
	}
	comb, err := shamir.NewCombiner([]int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	meta := shamir.ChunkMeta{Index: 0, PlainLen: shamir.ChunkPlainSize, Commitment: cr.Commitment}
	fresh := [][]byte{byX(prev, 1), byX(prev, 2), byX(prev, 3)}
	got, err := shamir.OpenChunk(comb, meta, fresh, nil)
	if err != nil || !bytes.Equal(got, data[:shamir.ChunkPlainSize]) {
		t.Fatalf("current shares do not open chunk 0: %v", err)
	}
	mixed := [][]byte{byX(first, 1), byX(prev, 2), byX(prev, 3)}
	if _, err := shamir.OpenChunk(comb, meta, mixed, nil); !errors.Is(err, shamir.ErrIntegrity) {
		t.Fatalf("an old share mixed with new ones: err = %v, want ErrIntegrity", err)
	}
}

// The proxy dies while the holders prepare, after every holder prepared but
// before the catalog commit, and (separately) after the commit but before
// the holders dropped the old epoch. After a restart the file retrieves and every server holds exactly
// the catalog's epoch.
func TestRenewCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		point string
		epoch uint32
		// both: every server holds both epochs at the crash (a prepare
		// cut short may not have reached the disk yet).
		both bool
	}{{"renew-during-prepare", 0, false}, {"renew-after-prepare", 0, true}, {"renew-after-commit", 1, true}} {
		t.Run(tc.point, func(t *testing.T) {
			c := newCluster(t, clusterOpts{storages: 3})
			data := make([]byte, 1_500_000)
			rand.Read(data)
			if err := c.protectBytes(defaultUser, "c.bin", 2, data); err != nil {
				t.Fatal(err)
			}
			c.restartProxy(t, 0, 0, 0, "QASMAT_TEST_CRASH="+tc.point)
			c.waitConnected(3)
			if err := c.renew(defaultUser, "c.bin"); err == nil {
				t.Fatal("the renewal answered although the proxy was to exit")
			}
			select {
			case <-c.proxy.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the proxy did not exit at the crash point")
			}
			if !strings.Contains(c.proxy.Log(), "QASMAT_TEST_CRASH="+tc.point) {
				t.Fatal("the proxy log does not show the crash point")
			}
			// Before the restart the servers hold both epochs.
			st := c.readSharesNoWait(t)
			for i, name := range c.names {
				for _, epochs := range st[i] {
					if tc.both && len(epochs) != 2 {
						t.Fatalf("%s holds %d epochs at the crash, want 2", name, len(epochs))
					}
				}
			}
			c.restartProxy(t, 0, 0, 0)
			c.waitConnected(3)
			c.mustRetrieve(t, "c.bin", data)
			time.Sleep(3 * time.Second) // the convergence pass runs each second
			st = c.readShares(t)
			for i, name := range c.names {
				if _, e, _ := st[i].only(t, name); e != tc.epoch {
					t.Fatalf("%s converged to epoch %d, want %d", name, e, tc.epoch)
				}
			}
			c.mustRetrieve(t, "c.bin", data)
			// And a later renewal works from the converged state.
			if err := c.renew(defaultUser, "c.bin"); err != nil {
				t.Fatal(err)
			}
			c.mustRetrieve(t, "c.bin", data)
		})
	}
}

// readSharesNoWait reads the stores like readShares, for a cluster whose
// proxy is down (the servers cannot connect).
func (c *cluster) readSharesNoWait(t testing.TB) []shareState {
	t.Helper()
	out := make([]shareState, len(c.storages))
	for i, name := range c.names {
		c.storages[i].Stop()
		out[i] = readStore(t, filepath.Join(c.dir, name, "shares"))
		c.storages[i].Restart()
	}
	return out
}

// A storage server offline during a renewal loses its slot (n drops, shown
// in the API), and its stale shares are deleted when it comes back.
func TestRenewWithServerOffline(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 4})
	data := make([]byte, 1_200_000)
	rand.Read(data)
	if err := c.protectBytes(defaultUser, "o.bin", 2, data); err != nil {
		t.Fatal(err)
	}
	c.storages[3].Stop()
	c.waitConnected(3)
	if err := c.renew(defaultUser, "o.bin"); err != nil {
		t.Fatal(err)
	}
	f := c.file(t, "o.bin")
	if f.N != 3 || len(f.StorageServers) != 3 || strings.Contains(strings.Join(f.StorageServers, ","), "s4") {
		t.Fatalf("after renewing without s4: n=%d servers=%v", f.N, f.StorageServers)
	}
	c.mustRetrieve(t, "o.bin", data)
	c.storages[3].Restart()
	c.waitConnected(4)
	waitFor(t, "s4's stale shares deleted", 20*time.Second, func() bool {
		return strings.Contains(c.proxy.Log(), "deleted the shares of a slot dropped")
	})
	st := c.readShares(t)
	if len(st[3]) != 0 {
		t.Fatalf("s4 still holds %d files", len(st[3]))
	}
	for i := 0; i < 3; i++ {
		if _, e, _ := st[i].only(t, c.names[i]); e != 1 {
			t.Fatalf("%s at epoch %d, want 1", c.names[i], e)
		}
	}
	c.mustRetrieve(t, "o.bin", data)
}

// With fewer than k holders connected a renewal changes nothing; the file
// expires after expiry_duration and is no longer expired after the time
// keeper renews it once the holders are back.
func TestRenewExpiryAndTimeKeeper(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 3})
	c.restartProxy(t, 1, 4, 6)
	c.waitConnected(3)
	data := make([]byte, 300_000)
	rand.Read(data)
	if err := c.protectBytes(defaultUser, "e.bin", 3, data); err != nil {
		t.Fatal(err)
	}
	f0 := c.file(t, "e.bin")
	// The time keeper renews on its own after renewal_duration.
	var f1 fileInfo
	waitFor(t, "an automatic renewal", 15*time.Second, func() bool {
		f1 = c.file(t, "e.bin")
		return f1.LastRenewal.After(f0.LastRenewal)
	})
	if f1.Expired {
		t.Fatal("a freshly renewed file shows expired")
	}
	// Now too few holders: renewal fails and changes nothing.
	c.storages[2].Stop()
	c.waitConnected(2)
	err := c.renew(defaultUser, "e.bin")
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("renewal with 2 of k=3 holders: %v, want HTTP 503", err)
	}
	if f := c.file(t, "e.bin"); !f.LastRenewal.Equal(f1.LastRenewal) || f.N != 3 {
		t.Fatalf("a failed renewal changed the file: %+v", f)
	}
	waitFor(t, "the file to expire", 15*time.Second, func() bool { return c.file(t, "e.bin").Expired })
	waitFor(t, "the expired-files gauge at 1", 5*time.Second, func() bool {
		return strings.Contains(c.metrics(t), "\nqasmat_files_expired 1\n")
	})
	if m := c.metrics(t); strings.Contains(m, `qasmat_renewals_total{outcome="unavailable"} 0`) {
		t.Errorf("metrics do not count the failed renewals")
	}
	c.storages[2].Restart()
	c.waitConnected(3)
	var f2 fileInfo
	waitFor(t, "a renewal after the holders are back", 15*time.Second, func() bool {
		f2 = c.file(t, "e.bin")
		return !f2.Expired
	})
	if !f2.LastRenewal.After(f1.LastRenewal) {
		t.Fatalf("not expired but last_renewal %v is not after %v", f2.LastRenewal, f1.LastRenewal)
	}
	c.mustRetrieve(t, "e.bin", data)
}

// BenchmarkRenew renews one large file at (3,5). The size defaults to
// 256 MiB; QASMAT_RENEW_BENCH_MIB=1024 measures 1 GiB:
//
//	QASMAT_BIN=$PWD/bin/qasmat go test ./test/cluster/ -run '^$' -bench Renew -benchtime 3x
func BenchmarkRenew(b *testing.B) {
	mib := 256
	if v := os.Getenv("QASMAT_RENEW_BENCH_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("QASMAT_RENEW_BENCH_MIB=%q", v)
		}
		mib = n
	}
	size := int64(mib) << 20
	c := newCluster(b, clusterOpts{storages: 5, maxFileSize: size + 1})
	if err := c.protect(defaultUser, "big.bin", 3, io.LimitReader(rand.Reader, size)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.renew(defaultUser, "big.bin"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(size)/(1<<20)/(b.Elapsed().Seconds()/float64(b.N)), "MiB/s")
}

// A storage server killed (SIGKILL) in the middle of a renewal: the renewal
// either aborts (the file stays at epoch 0) or, if the kill came after the
// commit, completes; either way, once the server is back the file retrieves
// and every server holds exactly the catalog's epoch.
func TestRenewStorageKilledMidway(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 3})
	const size = 40 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := c.protectBytes(defaultUser, "k.bin", 2, data); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.renew(defaultUser, "k.bin") }()
	time.Sleep(700 * time.Millisecond)
	c.storages[1].Kill()
	err := <-errc
	want := uint32(1)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != 503 {
			t.Fatalf("renewal interrupted by a dead server: %v, want HTTP 503", err)
		}
		want = 0
	}
	t.Logf("renewal outcome: %v (expected epoch %d)", err, want)
	c.storages[1].Restart()
	c.waitConnected(3)
	c.mustRetrieve(t, "k.bin", data)
	time.Sleep(3 * time.Second)
	st := c.readShares(t)
	for i, name := range c.names {
		if _, e, chunks := st[i].only(t, name); e != want || len(chunks) != 41 {
			t.Fatalf("%s holds epoch %d with %d chunks, want epoch %d with 41", name, e, len(chunks), want)
		}
	}
	c.mustRetrieve(t, "k.bin", data)
}

// A download that began before a renewal commits keeps reading the epoch it
// started with: the renewal drops the old shares only after the download is
// done, and the download returns the exact file.
func TestRenewDuringDownload(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 3})
	data := make([]byte, 40<<20) // 41 chunks: far more than socket buffers hold
	rand.Read(data)
	if err := c.protectBytes(defaultUser, "d.bin", 2, data); err != nil {
		t.Fatal(err)
	}
	resp, err := c.do(defaultUser, "POST", "/api/file/retrieve", "application/x-www-form-urlencoded",
		strings.NewReader("name=d.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-File-Integrity") != "true" {
		t.Fatalf("retrieve: HTTP %d, integrity %q", resp.StatusCode, resp.Header.Get("X-File-Integrity"))
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	renewed := make(chan error, 1)
	go func() { renewed <- c.renew(defaultUser, "d.bin") }()
	// The renewal commits, then waits for this download.
	waitFor(t, "the renewal to wait for the download", 60*time.Second, func() bool {
		return strings.Contains(c.proxy.Log(), "waiting for downloads of the previous epoch")
	})
	select {
	case err := <-renewed:
		t.Fatalf("the renewal finished (%v) while a download of the old epoch was still reading", err)
	default:
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the download broke after the renewal committed: %v", err)
	}
	if !bytes.Equal(append(head, rest...), data) {
		t.Fatal("the download overlapping a renewal returned different bytes")
	}
	select {
	case err := <-renewed:
		if err != nil {
			t.Fatalf("renewal: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the renewal did not finish after the download ended")
	}
	c.mustRetrieve(t, "d.bin", data)
	// Every server now holds only the new epoch.
	for i, st := range c.readShares(t) {
		if _, e, _ := st.only(t, c.names[i]); e != 1 {
			t.Fatalf("%s holds epoch %d after the renewal, want 1", c.names[i], e)
		}
	}
}

// A storage server dies after it synced the prepared epoch but before the
// proxy heard it (the renewal aborts: nothing changes), and (separately)
// after the proxy committed but before the server dropped the old epoch (the
// renewal stands). Restarted, the server converges to the catalog's epoch.
func TestRenewStorageCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		point   string
		renewOK bool
		epoch   uint32
	}{{"storage-after-prepare", false, 0}, {"storage-before-cleanup", true, 1}} {
		t.Run(tc.point, func(t *testing.T) {
			c := newCluster(t, clusterOpts{storages: 3})
			data := make([]byte, 1_500_000)
			rand.Read(data)
			if err := c.protectBytes(defaultUser, "s.bin", 2, data); err != nil {
				t.Fatal(err)
			}
			victim := c.storages[1]
			victim.Stop()
			victim.Env = []string{"QASMAT_TEST_CRASH=" + tc.point}
			victim.Restart()
			c.waitConnected(3)
			err := c.renew(defaultUser, "s.bin")
			if tc.renewOK && err != nil {
				t.Fatalf("renewal with a holder dying at cleanup: %v, want success", err)
			}
			var ae *apiError
			if !tc.renewOK && (!errors.As(err, &ae) || ae.Status != 503) {
				t.Fatalf("renewal with a holder dying before it confirmed its prepare: %v, want HTTP 503", err)
			}
			select {
			case <-victim.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the storage server did not exit at the crash point")
			}
			if !strings.Contains(victim.Log(), "QASMAT_TEST_CRASH="+tc.point) {
				t.Fatal("the storage server's log does not show the crash point")
			}
			// Two of three holders are enough to read it meanwhile.
			c.mustRetrieve(t, "s.bin", data)
			victim.Env = nil
			victim.Restart()
			c.waitConnected(3)
			c.mustRetrieve(t, "s.bin", data)
			time.Sleep(3 * time.Second) // the convergence pass runs each second
			st := c.readShares(t)
			for i, name := range c.names {
				if _, e, _ := st[i].only(t, name); e != tc.epoch {
					t.Fatalf("%s converged to epoch %d, want %d", name, e, tc.epoch)
				}
			}
			c.mustRetrieve(t, "s.bin", data)
		})
	}
}
