// Package storage runs a Qasmat storage server: it dials the proxy over
// Noise, answers its requests from a pebble share store, and redials with
// backoff whenever the connection drops.
package storage

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/discovery"
	"github.com/qasmat/qasmat/transport/wire"
)

// Options configure a storage server.
type Options struct {
	Name      string
	Location  string
	DataDir   string
	ProxyAddr string // host:port of the proxy's peer port
	PSK       []byte // pre-shared key of a private network, nil for public
	// Discover, when set, replaces ProxyAddr: it is called before every
	// dial (so a proxy that moved or restarted is found again) with the
	// pinned proxy key (nil before first contact) and returns the address
	// to dial, e.g. discovery.Find for Local mode. The address is only a
	// suggestion: the handshake and the pin decide.
	Discover func(ctx context.Context, pinnedKey []byte) (addr string, err error)
	// ReconnectInterval is the longest wait between two dial attempts
	// (proxy_reconnection_interval, default 30 s); the first retry comes
	// within a second.
	ReconnectInterval time.Duration
	// Transit, when set, opens the QKD-sealed share payloads from the
	// proxy and seals the share chunks sent back (transit.go); ProxySAE is
	// the proxy's SAE ID at the key manager (default "proxy").
	Transit  *kms.Links
	ProxySAE string
	// Observe, when set, sees every request from the proxy as it came out
	// of the Noise channel, before the QKD layer is opened (tests capture
	// and tamper with the wire there; never set in production).
	Observe func(wire.Message)
	// ProxySilence is how long the proxy may send nothing (it pings every
	// 5 s) before this server treats the connection as dead and redials
	// (default 20 s). Without it a dead link is only noticed when TCP
	// gives up, which takes much longer after a cut during an upload.
	ProxySilence time.Duration

	Version string
	Logger  *slog.Logger
}

// Server is a storage server.
type Server struct {
	opts   Options
	log    *slog.Logger
	key    noise.DHKey
	shares *store.ShareStore
	h      *handler
}

// ErrProxyKeyChanged means the proxy answered with another key than the one
// pinned on first contact.
var ErrProxyKeyChanged = errors.New("the proxy's key differs from the pinned one")

// New opens the share store and the server's static key.
func New(opts Options) (*Server, error) {
	if opts.Name == "" {
		return nil, errors.New("a storage server needs a name (-n NAME)")
	}
	if opts.DataDir == "" {
		return nil, errors.New("a storage server needs a data directory (--data-dir DIR)")
	}
	if opts.ReconnectInterval <= 0 {
		opts.ReconnectInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	key, err := transport.LoadOrCreateStaticKey(filepath.Join(opts.DataDir, "storage.key"))
	if err != nil {
		return nil, err
	}
	shares, err := store.OpenShareStore(filepath.Join(opts.DataDir, "shares"))
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("storage", opts.Name)
	return &Server{
		opts: opts, log: log, key: key, shares: shares,
		h: &handler{shares: shares, dataDir: opts.DataDir, log: log},
	}, nil
}

// Close closes the share store.
func (s *Server) Close() error { return s.shares.Close() }

// PublicKey is the server's static Noise key (its identity at the proxy).
func (s *Server) PublicKey() []byte { return s.key.Public }

// Run keeps a connection to the proxy until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	proxyAddr := s.opts.ProxyAddr
	if s.opts.Discover != nil {
		proxyAddr = "discovered on the local network (mDNS)"
	}
	s.log.Info("storage server starting", "proxy", proxyAddr, "key", transport.Fingerprint(s.key.Public),
		"data_dir", s.opts.DataDir)
	wait := 500 * time.Millisecond
	for {
		connected, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			wait = 500 * time.Millisecond
		}
		s.log.Warn("not connected to the proxy; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, s.opts.ReconnectInterval)
	}
}

// session dials the proxy, introduces itself and serves requests until the
// connection drops; connected reports whether the proxy accepted it.
func (s *Server) session(ctx context.Context) (connected bool, err error) {
	addr, err := s.proxyAddr(ctx)
	if err != nil {
		return false, err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := transport.Dial(dctx, addr, transport.Config{Static: s.key, PSK: s.opts.PSK})
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := s.checkPin(conn.RemoteStatic()); err != nil {
		s.log.Error("refusing the proxy", "err", err, "proxy_key", transport.Fingerprint(conn.RemoteStatic()))
		return false, err
	}
	served := make(chan error, 1)
	var lastHeard atomic.Int64
	lastHeard.Store(time.Now().UnixNano())
	go func() {
		served <- conn.ServeOwned(func(hctx context.Context, req []byte) ([]byte, error) {
			lastHeard.Store(time.Now().UnixNano())
			m, err := wire.Unmarshal(req)
			if err != nil {
				return wire.Marshal(wire.Errorf(wire.CodeBadRequest, "%v", err))
			}
			crashBefore(m)
			if s.opts.Observe != nil {
				s.opts.Observe(m)
			}
			if refused := s.transitIn(hctx, m); refused != nil {
				return wire.Marshal(refused)
			}
			// Every reply is freshly encoded and given up (ServeOwned).
			if g, ok := m.(*wire.GetChunk); ok && s.opts.Transit == nil {
				return s.h.getChunkReply(g)
			}
			reply, err := s.h.handle(hctx, m)
			if err != nil {
				return nil, err
			}
			crashAfter(m)
			reply = s.transitOut(hctx, m, reply)
			return wire.Marshal(reply)
		})
	}()
	free, total := diskSpace(s.opts.DataDir)
	hello, err := wire.Marshal(&wire.Hello{Name: s.opts.Name, Location: s.opts.Location,
		SoftwareVersion: s.opts.Version, FreeBytes: free, TotalBytes: total, Transit: s.transitMode()})
	if err != nil {
		return false, err
	}
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	b, err := conn.Call(hctx, hello)
	cancel()
	if err != nil {
		return false, fmt.Errorf("introducing this server to the proxy: %w", err)
	}
	m, err := wire.Unmarshal(b)
	if err != nil {
		return false, err
	}
	reply, ok := m.(*wire.HelloReply)
	if !ok {
		return false, fmt.Errorf("the proxy answered Hello with %T", m)
	}
	if !reply.Accepted {
		s.log.Error("the proxy refused this storage server", "reason", reply.Reason)
		return false, fmt.Errorf("refused by the proxy: %s", reply.Reason)
	}
	s.log.Info("connected to the proxy", "proxy", conn.RemoteAddr().String())
	if s.opts.Transit != nil {
		// A new session: the proxy may have restarted and lost the QKD
		// keys it already fetched; share chunks sent back use a fresh key.
		s.opts.Transit.Reset(s.proxySAE())
	}
	silence := s.opts.ProxySilence
	if silence <= 0 {
		silence = defaultProxySilence
	}
	watch := time.NewTicker(min(silence/4, time.Second))
	defer watch.Stop()
	for {
		select {
		case err = <-served:
			return true, err
		case <-ctx.Done():
			conn.Close()
			<-served
			return true, err
		case <-watch.C:
			if quiet := time.Since(time.Unix(0, lastHeard.Load())); quiet > silence {
				s.log.Warn("the proxy sent nothing (not even a ping); treating the connection as dead and redialing",
					"silent_for", quiet.Round(time.Second))
				conn.Close()
				<-served
				return true, fmt.Errorf("the proxy was silent for %v", quiet.Round(time.Second))
			}
		}
	}
}

// defaultProxySilence: four missed pings of the proxy (every 5 s).
const defaultProxySilence = 20 * time.Second

// proxyAddr is the configured address, or in Local mode the one discovery
// suggests for the pinned proxy (or the only one announced).
func (s *Server) proxyAddr(ctx context.Context) (string, error) {
	if s.opts.Discover == nil {
		return s.opts.ProxyAddr, nil
	}
	pinned, err := s.pinnedKey()
	if err != nil {
		return "", err
	}
	addr, err := s.opts.Discover(ctx, pinned)
	if errors.Is(err, discovery.ErrAmbiguous) || errors.Is(err, discovery.ErrPinnedNotFound) {
		// The operator has to act: say so loudly, not only as a retry warning.
		s.log.Error("cannot choose a proxy on the local network", "err", err)
	}
	if err != nil {
		return "", fmt.Errorf("discovering the proxy: %w", err)
	}
	s.log.Debug("discovered the proxy", "addr", addr)
	return addr, nil
}

// pinnedKey is the pinned proxy key, nil before first contact.
func (s *Server) pinnedKey() ([]byte, error) {
	path := filepath.Join(s.opts.DataDir, "pinned-proxy.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	pinned, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(pinned) != 32 {
		return nil, fmt.Errorf("%s is damaged: expected 64 hex digits (delete it to pin the proxy's key again)", path)
	}
	return pinned, nil
}

// checkPin pins the proxy's key on first contact and refuses any other key
// afterwards (invariant 6): a storage server never hands shares to an
// impostor that took over the proxy's address. The pin is a file of its own
// so that an operator who really replaced the proxy can reset it.
func (s *Server) checkPin(key []byte) error {
	path := filepath.Join(s.opts.DataDir, "pinned-proxy.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := writeFileSync(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return fmt.Errorf("pinning the proxy's key: %w", err)
		}
		s.log.Info("pinned the proxy's key on first contact", "proxy_key", transport.Fingerprint(key))
		return nil
	} else if err != nil {
		return err
	}
	pinned, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(pinned) != 32 {
		return fmt.Errorf("%s is damaged: expected 64 hex digits (delete it to pin the proxy's key again)", path)
	}
	if !bytes.Equal(pinned, key) {
		return fmt.Errorf("%w: pinned %s, got %s (if the proxy was really replaced, delete %s)",
			ErrProxyKeyChanged, transport.Fingerprint(pinned), transport.Fingerprint(key), path)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
