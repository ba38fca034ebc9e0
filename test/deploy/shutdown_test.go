package deploy

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// gatedReader hands out data up to gate bytes, then waits for release; after
// release it sends the rest, or fails with abort if abort is set.
type gatedReader struct {
	data    []byte
	gate    int
	off     int
	sent    atomic.Int64
	release chan struct{}
	abort   error
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off == g.gate {
		<-g.release
		if g.abort != nil {
			return 0, g.abort
		}
	}
	end := len(g.data)
	if g.off < g.gate {
		end = g.gate
	}
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	g.sent.Add(int64(n))
	return n, nil
}

// TestProxySIGTERMDuringUpload is the graceful stop the systemd units rely
// on (KillSignal=SIGTERM): SIGTERM arrives while two uploads are half sent.
// The upload whose client goes on finishes and is kept; the one whose client
// breaks off is rolled back, not listed half-written; the proxy exits with
// status 0 well within TimeoutStopSec; after a restart every file retrieves.
func TestProxySIGTERMDuringUpload(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 3})
	u := user{"alice", "alice@example.test"}
	before := randomBytes(300_000, 1)
	mustRoundTrip(t, c.api, u, "before.bin", before)

	finishing := &gatedReader{data: randomBytes(3_000_000, 2), gate: 1_500_000, release: make(chan struct{})}
	abandoned := &gatedReader{data: randomBytes(3_000_000, 3), gate: 1_500_000, release: make(chan struct{}),
		abort: errors.New("client gave up")}
	finishErr, abandonErr := make(chan error, 1), make(chan error, 1)
	go func() { finishErr <- c.api.protect(u, "finishing.bin", 2, finishing) }()
	go func() { abandonErr <- c.api.protect(u, "abandoned.bin", 2, abandoned) }()
	testkit.WaitFor(t, "both uploads half sent", 30*time.Second, func() bool {
		return finishing.sent.Load() == int64(finishing.gate) && abandoned.sent.Load() == int64(abandoned.gate)
	})
	time.Sleep(500 * time.Millisecond) // let the proxy take in what was sent

	stopped := make(chan time.Duration, 1)
	go func() { stopped <- c.proxy.Signal(syscall.SIGTERM) }()
	time.Sleep(time.Second)
	select {
	case <-stopped:
		t.Fatalf("the proxy exited on SIGTERM without waiting for the uploads in flight; log:\n%s", c.proxy.Log())
	default:
	}
	close(abandoned.release)
	close(finishing.release)
	if err := <-finishErr; err != nil {
		t.Fatalf("the upload that went on after SIGTERM failed: %v; proxy log:\n%s", err, c.proxy.Log())
	}
	if err := <-abandonErr; err == nil {
		t.Fatal("the abandoned upload was answered with success")
	}
	took := <-stopped
	if err := c.proxy.Exited(); err != nil {
		t.Fatalf("the proxy's exit after SIGTERM was not clean: %v; log:\n%s", err, c.proxy.Log())
	}
	if took > 35*time.Second {
		t.Fatalf("the proxy took %v to stop after SIGTERM (units allow 45 s, the grace is 30 s)", took)
	}
	t.Logf("proxy stopped %v after SIGTERM", took)

	c.proxy.Restart()
	c.waitConnected(3)
	names, err := c.api.files(u)
	if err != nil {
		t.Fatal(err)
	}
	if contains(names, "abandoned.bin") {
		t.Fatalf("the upload cut off by its client is listed after the restart: %v", names)
	}
	if !contains(names, "finishing.bin") || !contains(names, "before.bin") {
		t.Fatalf("files after restart = %v, want before.bin and finishing.bin", names)
	}
	for name, want := range map[string][]byte{"before.bin": before, "finishing.bin": finishing.data} {
		got, err := c.api.retrieve(u, name)
		if err != nil {
			t.Fatalf("retrieve %s after restart: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("retrieve %s after restart: %d bytes differ from the %d protected", name, len(got), len(want))
		}
	}
	// The abandoned name is free: nothing half-written holds it.
	mustRoundTrip(t, c.api, u, "abandoned.bin", []byte("second try"))

	// Storage servers stop cleanly on SIGTERM too.
	c.storages[0].Signal(syscall.SIGTERM)
	if err := c.storages[0].Exited(); err != nil {
		t.Fatalf("storage server exit after SIGTERM: %v; log:\n%s", err, c.storages[0].Log())
	}
}
