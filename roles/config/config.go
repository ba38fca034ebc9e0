// Package config reads the proxy's and the storage server's JSON
// configuration files, in the spec's format, into checked Go values.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Discovery is how a storage server finds the proxy.
type Discovery string

const (
	// DiscoveryLocal: storage servers find the proxy on the local network
	// (mDNS). The spec's default.
	DiscoveryLocal Discovery = "Local"
	// DiscoveryRemote: storage servers dial a configured address.
	DiscoveryRemote Discovery = "Remote"
)

// KMSMode is the transit encryption keyed by the key manager.
type KMSMode string

const (
	KMSModeAES KMSMode = "AES"
	KMSModeOTP KMSMode = "OTP"
)

// Spec defaults ("Configuration" in the spec) and ours.
const (
	DefaultPeerPort             = 49999 // the proxy's port for storage servers
	DefaultBindAddress          = "0.0.0.0"
	DefaultBindPort             = 3000
	DefaultMaxFileSize          = 1_000_000_000
	DefaultCheckingInterval     = 24 * time.Hour
	DefaultRenewalDuration      = 15 * 24 * time.Hour
	DefaultExpiryDuration       = 30 * 24 * time.Hour
	DefaultReconnectionInterval = 30 * time.Second
)

// Network is network_security_configuration.
type Network struct {
	// PresharedKeyPath is the pre-shared key file of the Private mode; ""
	// means Public. Relative paths are resolved against the directory of
	// the configuration file.
	PresharedKeyPath string
	// KMS configures transit encryption with keys from an ETSI GS QKD 014
	// key manager; nil means none.
	KMS *KMS
}

// Private reports whether the Noise handshake uses the pre-shared key.
func (n Network) Private() bool { return n.PresharedKeyPath != "" }

// KMS is encryption_and_kms: the mode and the key manager's address, plus
// what a real deployment needs for ETSI GS QKD 014 over HTTPS (all
// optional; issue 7 gives them their meaning).
type KMS struct {
	Mode    KMSMode
	Address string
	Port    int
	// SAEID is this node's SAE ID at the key manager.
	SAEID string
	// PeerSAEIDs maps peers (storage server names on the proxy, "proxy" on
	// a storage server) to their SAE IDs.
	PeerSAEIDs map[string]string
	// CACertificate, ClientCertificate and ClientKey are PEM file paths for
	// HTTPS with client certificates; relative paths are resolved against
	// the configuration file's directory.
	CACertificate     string
	ClientCertificate string
	ClientKey         string
}

// Web is web_configuration: the REST API and dashboard listener.
type Web struct {
	BindAddress string
	// BindPort is the port of the REST API; 0 means "Auto" (a free port,
	// chosen at start and logged).
	BindPort    int
	MaxFileSize int64
	// AllowedOrigins is the CORS allow list; exactly ["*"] is a public
	// instance.
	AllowedOrigins []string
	// TrustedProxies are the peers allowed to set the identity headers; nil
	// means any peer.
	TrustedProxies []netip.Prefix
	// ClientConfig is a config.json served to the dashboard instead of the
	// built-in one; "" means built in.
	ClientConfig string
}

// Public reports whether the instance is public (allowed origins "*").
func (w Web) Public() bool { return len(w.AllowedOrigins) == 1 && w.AllowedOrigins[0] == "*" }

// Addr is the listen address of the REST API, host:port (port 0 for Auto).
func (w Web) Addr() string { return net.JoinHostPort(w.BindAddress, strconv.Itoa(w.BindPort)) }

// TrustedPeer reports whether identity headers from this peer address are
// accepted.
func (w Web) TrustedPeer(ip netip.Addr) bool {
	if w.TrustedProxies == nil {
		return true
	}
	ip = ip.Unmap()
	for _, p := range w.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// TimeKeeper is time_keeper_configuration: share renewal and expiry.
type TimeKeeper struct {
	CheckingInterval time.Duration
	RenewalDuration  time.Duration
	ExpiryDuration   time.Duration
}

// ProxyConfig is the proxy's configuration file.
type ProxyConfig struct {
	Discovery Discovery
	// PeerPort is where the proxy listens for storage servers:
	// discovery_mode.Remote.proxy_port, else 49999.
	PeerPort   int
	Network    Network
	Web        Web
	TimeKeeper TimeKeeper
}

// StorageConfig is a storage server's configuration file.
type StorageConfig struct {
	Discovery Discovery
	// ProxyAddress and ProxyPort are the proxy to dial in Remote mode.
	ProxyAddress string
	ProxyPort    int
	Network      Network
	// ReconnectionInterval is the longest wait between two attempts to
	// reach the proxy.
	ReconnectionInterval time.Duration
	// Location is a free label shown by the API ("" if unset).
	Location string
}

// DefaultProxy is the proxy's configuration when no file is given.
func DefaultProxy() ProxyConfig {
	return ProxyConfig{
		Discovery: DiscoveryLocal,
		PeerPort:  DefaultPeerPort,
		Web: Web{
			BindAddress:    DefaultBindAddress,
			BindPort:       DefaultBindPort,
			MaxFileSize:    DefaultMaxFileSize,
			AllowedOrigins: []string{"*"},
		},
		TimeKeeper: TimeKeeper{
			CheckingInterval: DefaultCheckingInterval,
			RenewalDuration:  DefaultRenewalDuration,
			ExpiryDuration:   DefaultExpiryDuration,
		},
	}
}

// DefaultStorage is a storage server's configuration when no file is given.
func DefaultStorage() StorageConfig {
	return StorageConfig{
		Discovery:            DiscoveryLocal,
		ProxyPort:            DefaultPeerPort,
		ReconnectionInterval: DefaultReconnectionInterval,
	}
}

// Error is a configuration mistake: the file, the JSON path of the field
// (dotted, with [i] for list items; "" for the file as a whole) and what is
// wrong.
type Error struct {
	File string
	Path string
	Msg  string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.File != "" {
		s = e.File + ": " + s
	}
	return s
}

// Validate checks the values the file format cannot express as types:
// ranges, and relations between fields. Parse and Load call it; call it
// for a configuration built in code.
func (c ProxyConfig) Validate() error {
	if c.Discovery != DiscoveryLocal && c.Discovery != DiscoveryRemote {
		return &Error{Path: "discovery_mode", Msg: fmt.Sprintf("expected %q or %q, got %q", DiscoveryLocal, DiscoveryRemote, c.Discovery)}
	}
	if err := checkPort("discovery_mode.Remote.proxy_port", c.PeerPort); err != nil {
		return err
	}
	if err := c.Network.validate(); err != nil {
		return err
	}
	w := c.Web
	if err := checkHost("web_configuration.bind_address", w.BindAddress); err != nil {
		return err
	}
	if w.BindPort != 0 {
		if err := checkPort("web_configuration.bind_port", w.BindPort); err != nil {
			return err
		}
	}
	if w.MaxFileSize <= 0 {
		return &Error{Path: "web_configuration.max_file_size", Msg: fmt.Sprintf("expected a positive number of bytes, got %d", w.MaxFileSize)}
	}
	if err := checkOrigins(w.AllowedOrigins); err != nil {
		return err
	}
	if w.TrustedProxies != nil && len(w.TrustedProxies) == 0 {
		return &Error{Path: "web_configuration.trusted_proxies", Msg: errEmptyTrusted}
	}
	for i, p := range w.TrustedProxies {
		if !p.IsValid() {
			return &Error{Path: fmt.Sprintf("web_configuration.trusted_proxies[%d]", i), Msg: "expected an IP address or CIDR range"}
		}
	}
	t := c.TimeKeeper
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"checking_interval", t.CheckingInterval}, {"renewal_duration", t.RenewalDuration}, {"expiry_duration", t.ExpiryDuration}} {
		if d.v <= 0 {
			return &Error{Path: "time_keeper_configuration." + d.name, Msg: "expected a duration greater than zero, got " + formatDuration(d.v)}
		}
	}
	if t.RenewalDuration >= t.ExpiryDuration {
		return &Error{Path: "time_keeper_configuration.renewal_duration", Msg: fmt.Sprintf(
			"expected a duration shorter than expiry_duration (%s), got %s: files would expire before their renewal is due",
			formatDuration(t.ExpiryDuration), formatDuration(t.RenewalDuration))}
	}
	return nil
}

// Validate checks ranges and relations between fields; see
// ProxyConfig.Validate.
func (c StorageConfig) Validate() error {
	switch c.Discovery {
	case DiscoveryLocal:
	case DiscoveryRemote:
		if err := checkHost("discovery_mode.Remote.proxy_address", c.ProxyAddress); err != nil {
			return err
		}
	default:
		return &Error{Path: "discovery_mode", Msg: fmt.Sprintf("expected %q or %q, got %q", DiscoveryLocal, DiscoveryRemote, c.Discovery)}
	}
	if err := checkPort("discovery_mode.Remote.proxy_port", c.ProxyPort); err != nil {
		return err
	}
	if err := c.Network.validate(); err != nil {
		return err
	}
	if c.ReconnectionInterval <= 0 {
		return &Error{Path: "proxy_reconnection_interval", Msg: "expected a duration greater than zero, got " + formatDuration(c.ReconnectionInterval)}
	}
	if err := checkLabel("location", c.Location); err != nil {
		return err
	}
	return nil
}

const errEmptyTrusted = "expected at least one IP address or CIDR range: an empty list would refuse the identity headers from every peer (remove the field to accept them from any peer)"

func (n Network) validate() error {
	k := n.KMS
	if k == nil {
		return nil
	}
	const base = "network_security_configuration.encryption_and_kms"
	if k.Mode != KMSModeAES && k.Mode != KMSModeOTP {
		return &Error{Path: base, Msg: fmt.Sprintf("expected mode \"AES\" or \"OTP\", got %q", k.Mode)}
	}
	if err := checkHost(base+".address", k.Address); err != nil {
		return err
	}
	if err := checkPort(base+".port", k.Port); err != nil {
		return err
	}
	if (k.ClientCertificate == "") != (k.ClientKey == "") {
		return &Error{Path: base, Msg: "expected both client_certificate and client_key, or neither"}
	}
	return nil
}

func checkPort(path string, port int) error {
	if port < 1 || port > 65535 {
		return &Error{Path: path, Msg: fmt.Sprintf("expected a port number from 1 to 65535, got %d", port)}
	}
	return nil
}

// checkHost accepts an IP address or a DNS name, without a port.
func checkHost(path, host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if validHostname(host) {
		return nil
	}
	msg := fmt.Sprintf("expected an IP address or a host name, got %q", host)
	if _, _, err := net.SplitHostPort(host); err == nil {
		msg += " (the port goes in its own field)"
	}
	return &Error{Path: path, Msg: msg}
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case c == '-' && label > 0, c == '_',
			'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return h[len(h)-1] != '-'
}

// checkLabel accepts short printable text.
func checkLabel(path, s string) error {
	if len(s) > 200 {
		return &Error{Path: path, Msg: fmt.Sprintf("expected at most 200 bytes, got %d", len(s))}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return &Error{Path: path, Msg: fmt.Sprintf("expected printable text, got %q", s)}
		}
	}
	return nil
}

// formatDuration shows whole days as days, as the spec thinks of them.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d > 0 && d%day == 0:
		if d == day {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/day)
	default:
		return d.String()
	}
}

// checkOrigins accepts ["*"] or a list of origins as browsers send them:
// scheme://host[:port], without a path.
func checkOrigins(origins []string) error {
	const path = "web_configuration.allowed_cors_origins"
	if len(origins) == 0 {
		return &Error{Path: path, Msg: `expected a non-empty list: ["*"] for a public instance, or the origins allowed, like ["https://qasmat.example.com"]`}
	}
	for i, o := range origins {
		p := fmt.Sprintf("%s[%d]", path, i)
		if o == "*" {
			if len(origins) > 1 {
				return &Error{Path: p, Msg: `expected "*" alone: "*" makes the instance public, so other origins would mean nothing`}
			}
			continue
		}
		if err := checkOrigin(o); err != "" {
			return &Error{Path: p, Msg: fmt.Sprintf(`expected "*" or an origin like "https://example.com" (scheme, host and optional port), got %q: %s`, o, err)}
		}
	}
	return nil
}

// checkOrigin returns what is wrong with an origin, or "".
func checkOrigin(o string) string {
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "the scheme must be http or https"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return "an origin has no user, query or fragment"
	case u.Path != "":
		return "an origin has no path (not even a trailing /)"
	case u.Hostname() == "":
		return "the host is missing"
	}
	if checkHost("", u.Hostname()) != nil {
		return "the host is not a host name or an IP address"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "the port must be from 1 to 65535"
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "the port is empty"
	}
	return ""
}
