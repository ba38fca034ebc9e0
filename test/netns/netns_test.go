package netns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// rejoinBound is how long a storage server may take to rejoin after its link
// comes back: it learns that its old connection is dead only from the next
// TCP retransmission or keepalive probe (Go's default: 15 s idle, 15 s
// interval), then redials after at most proxy_reconnection_interval (2 s
// here) and one mDNS query (1 s).
const rejoinBound = 60 * time.Second

// TestLocalDiscovery: a proxy in Local mode on host a, storage servers on b,
// c and d with no proxy address; they find it by mDNS, and files protect and
// retrieve across the hosts.
func TestLocalDiscovery(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c", "d"}})
	s, err := c.storage()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"b", "c", "d"} {
		// The proxy sees each server from its own host's address: the
		// connection really crossed the bridge.
		if got := s.host(h); !strings.HasPrefix(got, hostIP[h]+":") {
			t.Errorf("storage %s connected from %q, want %s", h, got, hostIP[h])
		}
		if !strings.Contains(c.storages[h].Log(), "pinned the proxy's key on first contact") {
			t.Errorf("storage %s did not pin the discovered proxy's key", h)
		}
	}
	data := content(1, 3<<20+17)
	if err := c.protect("discovered.bin", 2, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	c.mustRetrieve("discovered.bin", data)
}

// TestLinkCut: host b's link goes down. The proxy marks b disconnected within
// the documented bound (ping every 5 s, answer within 7 s: at most 12 s),
// retrieval uses c and d, and b rejoins by itself when its link comes back.
func TestLinkCut(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c", "d"}})
	data := content(2, 2<<20)
	if err := c.protect("cut.bin", 2, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	linkDown(t, "b")
	restored := false
	t.Cleanup(func() {
		if !restored {
			linkUp(t, "b")
		}
	})
	const bound = 12 * time.Second
	testkit.WaitFor(t, "b marked disconnected", bound+3*time.Second, func() bool {
		s, err := c.storage()
		return err == nil && !s.connected("b") && s.connected("c") && s.connected("d")
	})
	if took := time.Since(cut); took > bound+time.Second { // one poll of slack
		t.Fatalf("b marked disconnected after %v, documented bound %v", took, bound)
	} else {
		t.Logf("b marked disconnected %v after its link went down", took.Round(100*time.Millisecond))
	}
	s, _ := c.storage()
	for i, n := range s.Servers {
		if n == "b" && s.Pings[i] != -1 {
			t.Errorf("disconnected b shows ping %v, want -1", s.Pings[i])
		}
	}
	c.mustRetrieve("cut.bin", data)

	linkUp(t, "b")
	restored = true
	up := time.Now()
	// b notices its dead connection when its next TCP retransmission or
	// keepalive probe (15 s idle) meets the proxy's reset, then redials
	// and rediscovers the proxy.
	c.waitConnectedWithin(rejoinBound, "b")
	t.Logf("b rejoined %v after its link came back", time.Since(up).Round(100*time.Millisecond))
	c.mustRetrieve("cut.bin", data)
}

// TestPartitionDuringUpload: host b's link goes down in the middle of an
// upload. The upload fails cleanly or completes; a file that is listed
// always retrieves.
func TestPartitionDuringUpload(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c", "d"}})
	data := content(3, 12<<20)
	g := &gate{r: strings.NewReader(string(data)), after: 3 << 20, reached: make(chan struct{}), release: make(chan struct{})}
	result := make(chan error, 1)
	go func() { result <- c.protect("partition.bin", 2, g) }()
	select {
	case <-g.reached:
	case err := <-result:
		t.Fatalf("upload ended before the partition: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("upload did not reach 3 MiB in 30 s")
	}
	linkDown(t, "b")
	cut := time.Now()
	restored := false
	t.Cleanup(func() {
		if !restored {
			linkUp(t, "b")
		}
	})
	close(g.release)
	var err error
	select {
	case err = <-result:
	case <-time.After(60 * time.Second):
		t.Fatal("the upload neither failed nor completed within 60 s of the partition")
	}
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		t.Fatalf("upload failed without an API error (not clean): %v", err)
	}
	ended := time.Since(cut)
	t.Logf("upload during the partition ended %v after the cut: %v", ended.Round(100*time.Millisecond), err)
	// The proxy's ping (5 s interval, 7 s deadline) gives up even behind a
	// frame stuck on the dead link, well before the 30 s write timeout.
	if err != nil && ended > 20*time.Second {
		t.Fatalf("the dead link was noticed %v after the cut; the ping should notice it within about 12 s", ended.Round(time.Second))
	}
	files, ferr := c.files()
	if ferr != nil {
		t.Fatal(ferr)
	}
	listed := false
	for _, f := range files {
		if f.Filename == "partition.bin" {
			listed = true
		}
	}
	if err == nil && !listed {
		t.Fatal("the upload succeeded but the file is not listed")
	}
	if err != nil && listed {
		t.Fatal("the upload failed but the file is listed")
	}
	if listed {
		c.mustRetrieve("partition.bin", data) // with b cut off: from c and d
	}
	linkUp(t, "b")
	restored = true
	up := time.Now()
	c.waitConnectedWithin(rejoinBound, "b")
	t.Logf("b rejoined %v after its link came back", time.Since(up).Round(100*time.Millisecond))
	if listed {
		c.mustRetrieve("partition.bin", data)
	}
	// The cluster still takes uploads once healed.
	again := content(4, 1<<20)
	if err := c.protect("after.bin", 3, strings.NewReader(string(again))); err != nil {
		t.Fatalf("upload after the partition healed: %v", err)
	}
	c.mustRetrieve("after.bin", again)
}

// TestHostLoss: every process of host b is killed and its data deleted.
// A file with n-k >= 1 still retrieves; one with n-k = 0 fails cleanly.
func TestHostLoss(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c", "d"}})
	spare := content(5, 2<<20+3)
	tight := content(6, 1<<20)
	if err := c.protect("spare.bin", 2, strings.NewReader(string(spare))); err != nil {
		t.Fatal(err)
	}
	if err := c.protect("tight.bin", 3, strings.NewReader(string(tight))); err != nil {
		t.Fatal(err)
	}
	c.storages["b"].Kill()
	if err := os.RemoveAll(filepath.Join(c.dir, "data-b-b")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "b marked disconnected", 15*time.Second, func() bool {
		s, err := c.storage()
		return err == nil && !s.connected("b")
	})
	c.mustRetrieve("spare.bin", spare)
	if _, _, err := c.retrieve("tight.bin"); err == nil {
		t.Fatal("tight.bin (k = n = 3) retrieved with one of its three servers gone")
	} else if ae := (*apiError)(nil); !errors.As(err, &ae) || ae.status < 400 {
		t.Fatalf("tight.bin: want a clean API error, got %v", err)
	}
}

// TestRogueStorage: in Private mode a storage server with the wrong
// pre-shared key discovers the proxy but fails the handshake and is never
// listed; a different key claiming a known name is refused at Hello.
func TestRogueStorage(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c"}, private: true})
	wrong := c.keygen("wrong-psk.key")
	rogue := c.startStorage("e", "rogue", map[string]any{"Private": map[string]any{"path_to_preshared_key": wrong}})
	impostor := c.startStorage("d", "b", c.netsec) // right key, new identity, b's name
	testkit.WaitFor(t, "the rogue's handshake failure and the impostor's refusal", 30*time.Second, func() bool {
		return strings.Contains(strings.ToLower(rogue.Log()), "handshake") &&
			strings.Contains(impostor.Log(), "refused")
	})
	s, err := c.storage()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range s.Servers {
		if n == "rogue" {
			t.Fatal("the storage server with the wrong pre-shared key is listed")
		}
		if n == "b" && !strings.HasPrefix(s.Hosts[i], hostIP["b"]+":") {
			t.Fatalf("b is now served from %s: the impostor took its name", s.Hosts[i])
		}
	}
	if !s.connected("b") || !s.connected("c") || len(s.Servers) != 2 {
		t.Fatalf("storage list %+v, want exactly b and c connected", s)
	}
	if !strings.Contains(c.proxy.Log(), "refused") {
		t.Error("the proxy did not log a refusal")
	}
}

// TestProxyMovesAndAmbiguity: the proxy stops on host a and starts again,
// same key, on host e: the storage servers find it at its new address and
// rejoin. Then a second proxy (another key) announces on host a: the pinned
// servers stay with theirs, and a new storage server with nothing pinned
// joins neither and says why.
func TestProxyMovesAndAmbiguity(t *testing.T) {
	c := newCluster(t, clusterOpts{storageHosts: []string{"b", "c"}})
	data := content(7, 1<<20+5)
	if err := c.protect("moved.bin", 2, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	c.proxy.Kill()
	c.proxy = c.startProxy("e", "proxy") // same data folder: same key
	c.useAPIOn("e")
	moved := time.Now()
	c.waitConnectedWithin(rejoinBound, "b", "c")
	t.Logf("b and c found the moved proxy in %v", time.Since(moved).Round(100*time.Millisecond))
	s, err := c.storage()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.host("b"), hostIP["b"]+":") {
		t.Fatalf("b connected from %q", s.host("b"))
	}
	c.mustRetrieve("moved.bin", data)

	other := c.startProxy("a", "other-proxy") // a stranger's proxy, new key
	// Until it answers, a newcomer sees one proxy and would rightly join it.
	testkit.WaitFor(t, "the second proxy's announcement", 10*time.Second, func() bool {
		return strings.Contains(other.Log(), "announcing the proxy on the local network")
	})
	newcomer := c.startStorage("d", "newcomer", c.netsec)
	testkit.WaitFor(t, "the newcomer's ambiguity message", 20*time.Second, func() bool {
		return strings.Contains(newcomer.Log(), "several Qasmat proxies")
	})
	msg := newcomer.Log()
	for _, want := range []string{"Remote", "pinned-proxy.key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the ambiguity message does not mention %q", want)
		}
	}
	if strings.Contains(msg, `msg="connected to the proxy"`) {
		t.Fatal("the newcomer joined a proxy although two announce and none is pinned")
	}
	if strings.Contains(other.Log(), "storage server connected") {
		t.Fatal("a storage server joined the stranger's proxy")
	}
	// The pinned servers, made to redial, still pick their own proxy.
	c.storages["b"].Kill()
	c.storages["b"] = c.startStorage("b", "b", c.netsec)
	c.waitConnectedWithin(rejoinBound, "b")
	c.mustRetrieve("moved.bin", data)
}
