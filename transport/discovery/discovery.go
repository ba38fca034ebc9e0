// Package discovery announces a Qasmat proxy on the local network by mDNS
// (service _qasmat._tcp) and lets storage servers find it without a
// configured address.
//
// Discovery only suggests an address. Nothing in an mDNS record is
// authenticated: trust still comes from the Noise handshake, the pinned proxy
// key and, in Private mode, the pre-shared key.
package discovery

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
)

// Service is the DNS-SD service type a proxy announces.
const Service = "_qasmat._tcp"

// domain is the mDNS domain.
const domain = "local."

// TXT record keys. The record is "proto=<wire version>", "fp=<fingerprint>",
// "key=<64 hex digits of the proxy's static Noise public key>".
const (
	txtProto = "proto="
	txtFP    = "fp="
	txtKey   = "key="
)

// Sentinel errors a storage server branches on.
var (
	// ErrNotFound: no proxy answered on this network.
	ErrNotFound = errors.New("no Qasmat proxy announces itself on the local network")
	// ErrAmbiguous: several proxies answered and none is pinned.
	ErrAmbiguous = errors.New("several Qasmat proxies announce themselves on the local network")
	// ErrPinnedNotFound: proxies answered, but not the one whose key is pinned.
	ErrPinnedNotFound = errors.New("the pinned proxy does not announce itself on the local network")
)

// Proxy is one proxy found by Browse.
type Proxy struct {
	Addr        string // host:port of its peer port, ready for transport.Dial
	Key         []byte // announced static key: a hint, checked by the handshake
	Fingerprint string // transport.Fingerprint(Key)
	Proto       int    // announced wire protocol version
}

// AnnounceOptions configure Announce.
type AnnounceOptions struct {
	Port int    // the proxy's peer port (required)
	Key  []byte // the proxy's static Noise public key (required, 32 bytes)
	// IPs to announce. Empty means the IPv4 address of the interface that
	// multicast leaves by (where the queries arrive), read again on every
	// query so that an address change is announced at once.
	IPs []net.IP
	// Iface is the multicast interface; nil means the system's default (the
	// route to 224.0.0.0/4, or the default route).
	Iface  *net.Interface
	Logger *slog.Logger
}

// Announcer answers mDNS queries for the proxy until closed.
type Announcer struct {
	srv  *mdns.Server
	once sync.Once
}

// Announce starts answering mDNS queries for _qasmat._tcp with the proxy's
// port and key.
func Announce(opts AnnounceOptions) (*Announcer, error) {
	if opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("discovery: port %d out of range", opts.Port)
	}
	if len(opts.Key) != 32 {
		return nil, fmt.Errorf("discovery: the proxy's key has %d bytes, want 32", len(opts.Key))
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	fp := transport.Fingerprint(opts.Key)
	z := &zone{
		// The instance and host names carry the fingerprint so that two
		// proxies never share a name (the browser merges records by name).
		instance: "qasmat-" + fp,
		host:     "qasmat-" + fp + ".local.",
		port:     opts.Port,
		txt:      txtRecords(opts.Key),
		ips:      opts.IPs,
		iface:    opts.Iface,
	}
	if _, err := z.service(); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	srv, err := mdns.NewServer(&mdns.Config{Zone: z, Iface: opts.Iface, Logger: debugLogger(logger)})
	if err != nil {
		return nil, fmt.Errorf("discovery: announcing by mDNS (is there a route to 224.0.0.0/4?): %w", err)
	}
	return &Announcer{srv: srv}, nil
}

// Close stops answering queries.
func (a *Announcer) Close() error {
	var err error
	a.once.Do(func() { err = a.srv.Shutdown() })
	return err
}

func txtRecords(key []byte) []string {
	return []string{
		txtProto + strconv.Itoa(wire.Version),
		txtFP + transport.Fingerprint(key),
		txtKey + hex.EncodeToString(key),
	}
}

// zone builds the records on every query, so the announced address follows
// the host's current address.
type zone struct {
	instance, host string
	port           int
	txt            []string
	ips            []net.IP
	iface          *net.Interface
}

func (z *zone) service() (*mdns.MDNSService, error) {
	ips := z.ips
	if len(ips) == 0 {
		ips = currentIPs(z.iface)
	}
	if len(ips) == 0 {
		// NewMDNSService would look the host name up in DNS: never that.
		ips = []net.IP{net.IPv4zero}
	}
	return mdns.NewMDNSService(z.instance, Service, domain, z.host, z.port, ips, z.txt)
}

// Records implements mdns.Zone.
func (z *zone) Records(q dns.Question) []dns.RR {
	s, err := z.service()
	if err != nil {
		return nil
	}
	if len(s.IPs) == 1 && s.IPs[0].Equal(net.IPv4zero) {
		return nil // no usable address right now: stay silent
	}
	return s.Records(q)
}

// currentIPs is the IPv4 address multicast leaves by: the interface the
// queries arrive on, hence the one storage servers on that link can reach.
func currentIPs(iface *net.Interface) []net.IP {
	if iface != nil {
		addrs, err := iface.Addrs()
		if err != nil {
			return nil
		}
		var out []net.IP
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				out = append(out, n.IP.To4())
			}
		}
		return out
	}
	// Connecting a UDP socket sends nothing: it only asks the kernel which
	// source address it would use for the mDNS group.
	c, err := net.Dial("udp4", "224.0.0.251:5353")
	if err != nil {
		return nil
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return []net.IP{ip.To4()}
}

// BrowseOptions configure Browse.
type BrowseOptions struct {
	// Timeout is how long to collect answers (default 1 s).
	Timeout time.Duration
	// Iface is the multicast interface; nil means the system's default.
	Iface  *net.Interface
	Logger *slog.Logger
}

// Browse asks the local network for Qasmat proxies (IPv4 mDNS) and returns
// every distinct one that answered within the timeout, sorted by
// fingerprint. Records that do not parse are skipped (logged at debug level).
func Browse(ctx context.Context, opts BrowseOptions) ([]Proxy, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	entries := make(chan *mdns.ServiceEntry, 64)
	params := &mdns.QueryParam{
		Service:     Service,
		Domain:      "local",
		Timeout:     opts.Timeout,
		Interface:   opts.Iface,
		Entries:     entries,
		DisableIPv6: true,
		Logger:      debugLogger(logger),
	}
	done := make(chan error, 1)
	go func() { done <- mdns.QueryContext(ctx, params); close(entries) }()
	var found []Proxy
	for e := range entries {
		p, err := parseEntry(e)
		if err != nil {
			logger.Debug("ignoring an mDNS answer", "name", e.Name, "err", err)
			continue
		}
		if !slices.ContainsFunc(found, func(q Proxy) bool { return bytes.Equal(q.Key, p.Key) }) {
			found = append(found, p)
		}
	}
	if err := <-done; err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("discovery: mDNS query (is there a route to 224.0.0.0/4?): %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b Proxy) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return found, nil
}

// parseEntry checks an answer's TXT record and address.
func parseEntry(e *mdns.ServiceEntry) (Proxy, error) {
	var p Proxy
	var fp string
	for _, f := range e.InfoFields {
		switch {
		case strings.HasPrefix(f, txtProto):
			v, err := strconv.Atoi(strings.TrimPrefix(f, txtProto))
			if err != nil {
				return p, fmt.Errorf("bad %q", f)
			}
			p.Proto = v
		case strings.HasPrefix(f, txtFP):
			fp = strings.TrimPrefix(f, txtFP)
		case strings.HasPrefix(f, txtKey):
			k, err := hex.DecodeString(strings.TrimPrefix(f, txtKey))
			if err != nil || len(k) != 32 {
				return p, fmt.Errorf("bad key in %q", f)
			}
			p.Key = k
		}
	}
	if p.Key == nil {
		return p, errors.New("no key in the TXT record")
	}
	p.Fingerprint = transport.Fingerprint(p.Key)
	if fp != "" && fp != p.Fingerprint {
		return p, fmt.Errorf("fingerprint %s does not match the key (%s)", fp, p.Fingerprint)
	}
	if p.Proto != wire.Version {
		return p, fmt.Errorf("protocol version %d, this build speaks %d", p.Proto, wire.Version)
	}
	if e.Port <= 0 || e.Port > 65535 {
		return p, fmt.Errorf("port %d", e.Port)
	}
	switch {
	case e.AddrV4 != nil && !e.AddrV4.IsUnspecified():
		p.Addr = net.JoinHostPort(e.AddrV4.String(), strconv.Itoa(e.Port))
	case e.AddrV6IPAddr != nil && !e.AddrV6IPAddr.IP.IsUnspecified():
		p.Addr = net.JoinHostPort(e.AddrV6IPAddr.String(), strconv.Itoa(e.Port))
	default:
		return p, errors.New("no address")
	}
	return p, nil
}

// Choose picks the proxy to dial: the one whose key is pinned, else the only
// one found. Several proxies and no pin is ErrAmbiguous: joining one at
// random could hand shares to a stranger's proxy.
func Choose(found []Proxy, pinned []byte) (Proxy, error) {
	if len(found) == 0 {
		return Proxy{}, ErrNotFound
	}
	if pinned != nil {
		for _, p := range found {
			if bytes.Equal(p.Key, pinned) {
				return p, nil
			}
		}
		return Proxy{}, fmt.Errorf("%w: pinned %s, found %s (if the proxy was really replaced, delete pinned-proxy.key in the data folder)",
			ErrPinnedNotFound, transport.Fingerprint(pinned), fingerprints(found))
	}
	if len(found) > 1 {
		return Proxy{}, fmt.Errorf(`%w (%s) and none is pinned: use "discovery_mode": {"Remote": {"proxy_address": ...}} in the storage config, or write the right proxy's key (64 hex digits) into pinned-proxy.key in the data folder`,
			ErrAmbiguous, fingerprints(found))
	}
	return found[0], nil
}

func fingerprints(ps []Proxy) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Fingerprint + " at " + p.Addr
	}
	return strings.Join(s, ", ")
}

// Find browses and chooses: the function a storage server in Local mode
// calls before every dial (storage.Options.Discover).
func Find(ctx context.Context, opts BrowseOptions, pinned []byte) (string, error) {
	found, err := Browse(ctx, opts)
	if err != nil {
		return "", err
	}
	p, err := Choose(found, pinned)
	if err != nil {
		return "", err
	}
	return p.Addr, nil
}

// debugLogger sends the mdns package's log lines to slog at debug level: it
// reports every unanswerable IPv6 socket as an error, which is noise here.
func debugLogger(l *slog.Logger) *log.Logger {
	return log.New(writerFunc(func(b []byte) (int, error) {
		l.Debug(strings.TrimSpace(string(b)), "component", "mdns")
		return len(b), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

var _ io.Writer = writerFunc(nil)
