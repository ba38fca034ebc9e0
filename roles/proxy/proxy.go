// Package proxy runs the Qasmat proxy: it accepts storage servers over Noise,
// splits uploaded files into shares, rebuilds and verifies them on retrieval,
// and serves the REST API and dashboard.
package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flynn/noise"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/discovery"
	"github.com/qasmat/qasmat/webui"
)

// Options configure a proxy. The zero value of each duration means its
// default.
type Options struct {
	DataDir    string // catalog and the proxy's static key live here
	PeerListen string // address storage servers dial, e.g. ":49999"
	WebListen  string // REST API and dashboard, e.g. "0.0.0.0:3000"; port 0 picks a free one
	PSK        []byte // pre-shared key of a private network, nil for public
	// Announce answers mDNS queries (transport/discovery) with the peer port
	// and the proxy's key, so that storage servers in Local mode find it.
	Announce bool

	AllowedOrigins []string
	TrustedProxies []netip.Prefix
	MaxFileSize    int64
	ClientConfig   []byte

	CheckInterval   time.Duration // time keeper period (default 1 day)
	RenewalDuration time.Duration // renew files older than this (default 15 days)
	ExpiryDuration  time.Duration // a file not renewed for this long is expired (default 30 days)

	PingInterval  time.Duration // liveness and round-trip probe of each storage server (default 5 s)
	SweepInterval time.Duration // orphan and tombstone sweeper period (default 1 min)

	// Transit, when set, seals share chunks in transit with QKD keys from
	// an ETSI GS QKD 014 key manager (transit.go); PeerSAEIDs maps storage
	// server names to their SAE IDs when they differ.
	Transit    *kms.Links
	PeerSAEIDs map[string]string

	Version string
	Logger  *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PeerListen == "" {
		o.PeerListen = ":49999"
	}
	if o.WebListen == "" {
		o.WebListen = "0.0.0.0:3000"
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 1_000_000_000
	}
	if o.AllowedOrigins == nil {
		o.AllowedOrigins = []string{"*"}
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 24 * time.Hour
	}
	if o.RenewalDuration <= 0 {
		o.RenewalDuration = 15 * 24 * time.Hour
	}
	if o.ExpiryDuration <= 0 {
		o.ExpiryDuration = 30 * 24 * time.Hour
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Proxy is a running proxy.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	catalog *store.Catalog
	key     noise.DHKey
	reg     *registry
	metrics *metrics
	promReg *prometheus.Registry

	peerLn *transport.Listener
	webLn  net.Listener
	web    *http.Server

	uploadsMu sync.Mutex
	uploads   map[string]bool       // owner\x00name of protects in progress
	inflight  map[[16]byte]struct{} // file IDs being written: never orphans
	sweepNow  chan struct{}

	renew *renewer // renewals and epoch convergence in progress (renew.go)
	// readers pins the epochs that downloads are reading (readers.go).
	readers *epochReaders

	wg sync.WaitGroup
}

// New opens the catalog and binds both listeners; Run serves them.
func New(opts Options) (*Proxy, error) {
	opts.setDefaults()
	if opts.DataDir == "" {
		return nil, errors.New("proxy: a data directory is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	key, err := transport.LoadOrCreateStaticKey(filepath.Join(opts.DataDir, "proxy.key"))
	if err != nil {
		return nil, err
	}
	catalog, err := store.OpenCatalog(filepath.Join(opts.DataDir, "catalog"))
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		opts:     opts,
		log:      opts.Logger,
		catalog:  catalog,
		key:      key,
		uploads:  map[string]bool{},
		inflight: map[[16]byte]struct{}{},
		sweepNow: make(chan struct{}, 1),
		renew:    newRenewer(),
		readers:  newEpochReaders(),
		promReg:  prometheus.NewRegistry(),
	}
	p.promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.metrics = newMetrics(p.promReg)
	p.reg = newRegistry(p)

	p.peerLn, err = transport.Listen(opts.PeerListen, transport.Config{Static: key, PSK: opts.PSK})
	if err != nil {
		catalog.Close()
		return nil, fmt.Errorf("listening for storage servers on %s: %w", opts.PeerListen, err)
	}
	p.webLn, err = net.Listen("tcp", opts.WebListen)
	if err != nil {
		p.peerLn.Close()
		catalog.Close()
		return nil, fmt.Errorf("listening for the REST API on %s: %w", opts.WebListen, err)
	}
	handler, err := webui.NewRouter(p, webui.Options{
		AllowedOrigins: opts.AllowedOrigins,
		TrustedProxies: opts.TrustedProxies,
		MaxFileSize:    opts.MaxFileSize,
		Version:        opts.Version,
		Transit:        transitName(opts.Transit),
		ClientConfig:   opts.ClientConfig,
		Registerer:     p.promReg,
		Gatherer:       p.promReg,
		Logger:         opts.Logger,
	})
	if err != nil {
		p.webLn.Close()
		p.peerLn.Close()
		catalog.Close()
		return nil, err
	}
	p.web = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	return p, nil
}

// PeerAddr is where storage servers connect.
func (p *Proxy) PeerAddr() net.Addr { return p.peerLn.Addr() }

// WebAddr is where the REST API and dashboard listen.
func (p *Proxy) WebAddr() net.Addr { return p.webLn.Addr() }

// PublicKey is the proxy's static Noise key (storage servers pin it).
func (p *Proxy) PublicKey() []byte { return p.key.Public }

// Run serves until ctx is cancelled, then stops gracefully: in-flight
// requests get a grace period, then the catalog is closed.
func (p *Proxy) Run(ctx context.Context) error {
	p.log.Info("proxy listening",
		"api", "http://"+p.webLn.Addr().String(),
		"peers", p.peerLn.Addr().String(),
		"key", transport.Fingerprint(p.key.Public),
		"network", networkMode(p.opts.PSK))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	webErr := make(chan error, 1)
	go func() { webErr <- p.web.Serve(p.webLn) }()
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.acceptPeers(runCtx) }()
	go func() { defer p.wg.Done(); p.sweepLoop(runCtx) }()
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.timeKeeper(runCtx) }()
	go func() { defer p.wg.Done(); p.convergeLoop(runCtx) }()
	if p.opts.Announce {
		if a := p.announce(); a != nil {
			defer a.Close()
		}
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-webErr:
		err = fmt.Errorf("REST API server: %w", err)
	}
	p.log.Info("proxy stopping")
	shutCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	_ = p.web.Shutdown(shutCtx)
	stop()
	cancel()
	p.peerLn.Close()
	p.reg.closeAll()
	p.wg.Wait()
	if cerr := p.catalog.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// announce starts answering mDNS queries. A failure is logged, not fatal:
// storage servers in Remote mode still reach the proxy.
func (p *Proxy) announce() *discovery.Announcer {
	tcp, _ := p.peerLn.Addr().(*net.TCPAddr)
	if tcp == nil {
		return nil
	}
	var ips []net.IP
	if tcp.IP.IsLoopback() {
		p.log.Warn("not announcing the proxy on the local network: its peer port listens on loopback only", "peers", tcp.String())
		return nil
	}
	if !tcp.IP.IsUnspecified() {
		ips = []net.IP{tcp.IP} // bound to one address: announce that one
	}
	a, err := discovery.Announce(discovery.AnnounceOptions{Port: tcp.Port, Key: p.key.Public, IPs: ips, Logger: p.log})
	if err != nil {
		p.log.Error("cannot announce the proxy on the local network; storage servers need Remote mode", "err", err)
		return nil
	}
	p.log.Info("announcing the proxy on the local network (mDNS)", "service", discovery.Service, "port", tcp.Port,
		"key", transport.Fingerprint(p.key.Public))
	return a
}

func networkMode(psk []byte) string {
	if psk != nil {
		return "private (pre-shared key)"
	}
	return "public"
}

func newFileID() ([16]byte, error) {
	var id [16]byte
	for {
		if _, err := rand.Read(id[:]); err != nil {
			return id, err
		}
		if id != ([16]byte{}) { // the zero ID is reserved by the wire protocol
			return id, nil
		}
	}
}
