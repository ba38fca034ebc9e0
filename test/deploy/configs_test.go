package deploy

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/qasmat/qasmat/roles/config"
)

// TestShippedConfigsParse: the configuration files shipped for containers and
// Kubernetes are valid for the roles (strict parsing), private (pre-shared
// key), not public, and accept identity headers from a trusted range only.
func TestShippedConfigsParse(t *testing.T) {
	for _, dir := range []string{"deploy/docker", "deploy/kubernetes/config"} {
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(repoRoot, dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		p, err := config.ParseProxy(filepath.Join(dir, "proxy.json"), read("proxy.json"))
		if err != nil {
			t.Fatalf("%s/proxy.json: %v", dir, err)
		}
		if !p.Network.Private() || p.Web.Public() || len(p.Web.TrustedProxies) == 0 {
			t.Errorf("%s/proxy.json: want a private network, a private instance and trusted_proxies", dir)
		}
		if p.Web.TrustedPeer(netip.MustParseAddr("203.0.113.7")) {
			t.Errorf("%s/proxy.json: identity headers would be believed from any address", dir)
		}
		if p.PeerPort != 49999 || p.Web.BindPort != 3000 {
			t.Errorf("%s/proxy.json: ports %d/%d, the manifests expect 49999/3000", dir, p.PeerPort, p.Web.BindPort)
		}
		s, err := config.ParseStorage(filepath.Join(dir, "storage.json"), read("storage.json"))
		if err != nil {
			t.Fatalf("%s/storage.json: %v", dir, err)
		}
		if !s.Network.Private() || s.Network.PresharedKeyPath != p.Network.PresharedKeyPath || s.ProxyPort != p.PeerPort {
			t.Errorf("%s: storage.json and proxy.json disagree on the key or the peer port", dir)
		}
	}
}
