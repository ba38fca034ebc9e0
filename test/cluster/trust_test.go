package cluster

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrivateNetworkRefusesWrongKey: in Private mode a storage server with
// another pre-shared key, or none, fails the Noise handshake; both sides log
// it and the server never counts as connected.
func TestPrivateNetworkRefusesWrongKey(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 2, private: true})
	otherKey := filepath.Join(c.dir, "other.key")
	if out, err := exec.Command(qasmatBin, "keygen", "-o", otherKey).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	for _, tc := range []struct{ name, netsec string }{
		{"wrongkey", fmt.Sprintf(`{"Private": {"path_to_preshared_key": %q}}`, otherKey)},
		{"nokey", `"Public"`},
	} {
		cfg := filepath.Join(c.dir, tc.name+".json")
		writeRaw(t, cfg, fmt.Sprintf(`{"discovery_mode": {"Remote": {"proxy_address": "127.0.0.1", "proxy_port": %d}},
			"network_security_configuration": {"network_security": %s}, "proxy_reconnection_interval": 1}`, c.peerPort, tc.netsec))
		rogue := startProc(t, tc.name, c.dir, nil, "storage", "-c", cfg, "-n", tc.name, "--data-dir", filepath.Join(c.dir, tc.name))
		waitFor(t, tc.name+" to be refused at the handshake", 20*time.Second, func() bool {
			return strings.Contains(rogue.Log(), "not connected to the proxy") &&
				strings.Contains(c.proxy.Log(), "refused at the handshake")
		})
		rogue.Kill()
	}
	cfg, err := c.configuration(probeUser)
	if err != nil || cfg.Limit != 2 {
		t.Fatalf("connected servers after the rogue attempts: %d (%v), want 2", cfg.Limit, err)
	}
}

// TestImpostorNameRefused: a storage server with a new key that claims the
// name of a known server is refused at Hello, so it can never receive that
// server's share of new files.
func TestImpostorNameRefused(t *testing.T) {
	c := newCluster(t, clusterOpts{storages: 2})
	c.storages[0].Stop()
	c.waitConnected(1)
	impostor := startProc(t, "impostor", c.dir, nil, "storage", "-c", filepath.Join(c.dir, "storage.json"),
		"-n", "s1", "--data-dir", filepath.Join(c.dir, "impostor"))
	waitFor(t, "the impostor to be refused", 20*time.Second, func() bool {
		return strings.Contains(impostor.Log(), "refused") && strings.Contains(c.proxy.Log(), "storage server refused")
	})
	if !strings.Contains(c.proxy.Log(), `the name \"s1\" belongs to another storage server`) &&
		!strings.Contains(c.proxy.Log(), `the name "s1" belongs to another storage server`) {
		t.Errorf("the proxy log does not say why the impostor was refused:\n%s", c.proxy.Log())
	}
	cfg, err := c.configuration(probeUser)
	if err != nil || cfg.Limit != 1 {
		t.Fatalf("connected servers with the impostor running: %d (%v), want 1", cfg.Limit, err)
	}
	// The real s1 is still welcome.
	impostor.Kill()
	c.storages[0].Restart()
	c.waitConnected(2)
}

func writeRaw(t testing.TB, path, content string) {
	t.Helper()
	if err := writeFile(path, content); err != nil {
		t.Fatal(err)
	}
}
