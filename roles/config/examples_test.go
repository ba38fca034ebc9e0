package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The example files in configs/ are what operators copy: each must load, and
// mean what its comments in docs/store.md say.
const examples = "../../configs"

func TestExampleProxy(t *testing.T) {
	p, err := LoadProxy(filepath.Join(examples, "proxy.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultProxy()
	want.Discovery = DiscoveryRemote
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("proxy.json: the spec's defaults in Remote mode expected,\n got %+v\nwant %+v", p, want)
	}
}

func TestExampleProxyPrivate(t *testing.T) {
	p, err := LoadProxy(filepath.Join(examples, "proxy-private.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Network.Private() || p.Network.PresharedKeyPath != "/etc/qasmat/psk.hex" {
		t.Errorf("pre-shared key: %q", p.Network.PresharedKeyPath)
	}
	if p.Web.Public() || !reflect.DeepEqual(p.Web.AllowedOrigins, []string{"https://qasmat.example.com"}) {
		t.Errorf("origins: %v", p.Web.AllowedOrigins)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.10.0.0/16")}
	if !reflect.DeepEqual(p.Web.TrustedProxies, want) {
		t.Errorf("trusted proxies: %v", p.Web.TrustedProxies)
	}
	if p.Web.Addr() != "127.0.0.1:3000" || p.Web.MaxFileSize != 5_000_000_000 {
		t.Errorf("web: %+v", p.Web)
	}
	if p.TimeKeeper != (TimeKeeper{5 * day, 15 * day, 30 * day}) {
		t.Errorf("time keeper: %+v", p.TimeKeeper)
	}
}

func TestExampleStorage(t *testing.T) {
	s, err := LoadStorage(filepath.Join(examples, "storage.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := StorageConfig{
		Discovery: DiscoveryRemote, ProxyAddress: "proxy.example.com", ProxyPort: 49999,
		ReconnectionInterval: 30 * time.Second, Location: "Paris, rack 2",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("storage.json:\n got %+v\nwant %+v", s, want)
	}
}

func TestExampleStorageLocal(t *testing.T) {
	s, err := LoadStorage(filepath.Join(examples, "storage-local.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, DefaultStorage()) {
		t.Fatalf("storage-local.json: the defaults expected, got %+v", s)
	}
}

func TestExampleQKD(t *testing.T) {
	p, err := LoadProxy(filepath.Join(examples, "proxy-qkd.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &KMS{Mode: KMSModeAES, Address: "kme-a.example.com", Port: 8443, SAEID: "proxy",
		CACertificate: "/etc/qasmat/kms/ca.pem", ClientCertificate: "/etc/qasmat/kms/sae-proxy.pem", ClientKey: "/etc/qasmat/kms/sae-proxy-key.pem"}
	if !reflect.DeepEqual(p.Network.KMS, want) {
		t.Fatalf("proxy-qkd.json KMS:\n got %+v\nwant %+v", p.Network.KMS, want)
	}
	s, err := LoadStorage(filepath.Join(examples, "storage-qkd.json"))
	if err != nil {
		t.Fatal(err)
	}
	k := s.Network.KMS
	if k == nil || k.Mode != KMSModeAES || k.SAEID != "s1" || k.PeerSAEIDs["proxy"] != "proxy" || k.Address != "kme-b.example.com" ||
		k.ClientCertificate != "/etc/qasmat/kms/sae-s1.pem" || !s.Network.Private() {
		t.Fatalf("storage-qkd.json: %+v %+v", s.Network, k)
	}
}

// TestEveryExampleIsTested keeps this file in step with configs/.
func TestEveryExampleIsTested(t *testing.T) {
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{"proxy.json": true, "proxy-private.json": true, "storage.json": true, "storage-local.json": true,
		"proxy-qkd.json": true, "storage-qkd.json": true}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".json" && !tested[e.Name()] {
			t.Errorf("configs/%s has no test in examples_test.go", e.Name())
		}
	}
}
