package deploy

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCatalogBackupRestore follows docs/deploy.md ("Backups"): with the
// proxy stopped, a copy of its whole data folder (catalog and the proxy's
// Noise key) is a backup; after the folder is wiped and the copy put back,
// the storage servers reconnect (they pinned the key in the backup) and
// every file retrieves identical, while a file protected after the backup
// is gone from the restored catalog.
func TestCatalogBackupRestore(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 3})
	alice := user{"alice", "alice@example.test"}
	bob := user{"bob", "bob@example.test"}
	files := map[string][]byte{
		"a-small.txt": []byte("hello from alice"),
		"a-big.bin":   randomBytes(2_500_000, 7),
	}
	for name, data := range files {
		mustRoundTrip(t, c.api, alice, name, data)
	}
	bobData := randomBytes(70_000, 8)
	mustRoundTrip(t, c.api, bob, "b.bin", bobData)

	// Back up: stop the proxy, copy its data folder (cp -a, as the docs say).
	c.proxy.Signal(syscall.SIGTERM)
	if err := c.proxy.Exited(); err != nil {
		t.Fatalf("proxy stop: %v", err)
	}
	backup := filepath.Join(t.TempDir(), "proxy-backup")
	if out, err := exec.Command("cp", "-a", c.proxyDataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	c.proxy.Restart()
	c.waitConnected(3)
	if err := c.api.protect(alice, "after-backup.txt", 2, bytes.NewReader([]byte("not in the backup"))); err != nil {
		t.Fatal(err)
	}

	// Disaster: the proxy's folder is lost. Restore the copy.
	c.proxy.Signal(syscall.SIGTERM)
	if err := os.RemoveAll(c.proxyDataDir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", backup, c.proxyDataDir).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	if err := sameTree(backup, c.proxyDataDir); err != nil {
		t.Fatal(err)
	}
	c.proxy.Restart()
	c.waitConnected(3)

	for name, want := range files {
		got, err := c.api.retrieve(alice, name)
		if err != nil {
			t.Fatalf("retrieve %s after restore: %v; proxy log:\n%s", name, err, c.proxy.Log())
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("retrieve %s after restore: content differs", name)
		}
	}
	got, err := c.api.retrieve(bob, "b.bin")
	if err != nil || !bytes.Equal(got, bobData) {
		t.Fatalf("bob's file after restore: %v", err)
	}
	names, err := c.api.files(alice)
	if err != nil {
		t.Fatal(err)
	}
	if contains(names, "after-backup.txt") || len(names) != len(files) {
		t.Fatalf("alice's files after restore = %v, want exactly the backed-up ones", names)
	}
	// The restored catalog is writable.
	mustRoundTrip(t, c.api, alice, "after-restore.txt", []byte("new"))
}

// sameTree checks that b has the same regular files with the same contents as a.
func sameTree(a, b string) error {
	return filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return &os.PathError{Op: "compare", Path: rel, Err: os.ErrInvalid}
		}
		return nil
	})
}
