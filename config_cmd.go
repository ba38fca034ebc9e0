package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/roles/config"
)

// proxySettings are the resolved values main needs from a proxy config.
type proxySettings struct {
	local          bool // discovery_mode "Local": announce the proxy on the LAN
	peerPort       int
	webPort        int
	bindAddress    string
	origins        []string
	trustedProxies []netip.Prefix
	maxFileSize    int64
	pskPath        string
	clientConfig   string
	checking       time.Duration
	renewal        time.Duration
	expiry         time.Duration
	kms            *config.KMS
}

// storageSettings are the resolved values main needs from a storage config.
type storageSettings struct {
	local        bool // discovery_mode "Local": find the proxy on the LAN
	proxyAddress string
	proxyPort    int
	pskPath      string
	location     string
	reconnect    time.Duration
	kms          *config.KMS
}

// loadProxyConfig reads a proxy config file strictly (roles/config); an
// empty path means the spec's defaults.
func loadProxyConfig(path string) (proxySettings, error) {
	c, err := config.LoadProxy(path)
	if err != nil {
		return proxySettings{}, err
	}
	return proxySettings{
		local:          c.Discovery == config.DiscoveryLocal,
		peerPort:       c.PeerPort,
		webPort:        c.Web.BindPort,
		bindAddress:    c.Web.BindAddress,
		origins:        c.Web.AllowedOrigins,
		trustedProxies: c.Web.TrustedProxies,
		maxFileSize:    c.Web.MaxFileSize,
		pskPath:        c.Network.PresharedKeyPath,
		clientConfig:   c.Web.ClientConfig,
		checking:       c.TimeKeeper.CheckingInterval,
		renewal:        c.TimeKeeper.RenewalDuration,
		expiry:         c.TimeKeeper.ExpiryDuration,
		kms:            c.Network.KMS,
	}, nil
}

// loadStorageConfig reads a storage config file strictly; an empty path
// means the spec's defaults.
func loadStorageConfig(path string) (storageSettings, error) {
	c, err := config.LoadStorage(path)
	if err != nil {
		return storageSettings{}, err
	}
	return storageSettings{
		local:        c.Discovery == config.DiscoveryLocal,
		proxyAddress: c.ProxyAddress,
		proxyPort:    c.ProxyPort,
		pskPath:      c.Network.PresharedKeyPath,
		location:     c.Location,
		reconnect:    c.ReconnectionInterval,
		kms:          c.Network.KMS,
	}, nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// transitLinks connects a node to its QKD key manager from the config's
// encryption_and_kms; nil without one. defaultSAE is this node's SAE ID
// unless the config names one ("proxy", or the storage server's name).
func transitLinks(k *config.KMS, defaultSAE string) (*kms.Links, error) {
	if k == nil {
		return nil, nil
	}
	mode, err := kms.ParseMode(string(k.Mode))
	if err != nil {
		return nil, err
	}
	sae := k.SAEID
	if sae == "" {
		sae = defaultSAE
	}
	l, err := kms.NewLinks(kms.LinksConfig{
		Mode: mode, Address: net.JoinHostPort(k.Address, fmt.Sprint(k.Port)), SAEID: sae,
		CACertificate: k.CACertificate, ClientCertificate: k.ClientCertificate, ClientKey: k.ClientKey,
	})
	if err != nil {
		return nil, fmt.Errorf("encryption_and_kms: %w", err)
	}
	return l, nil
}
