package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
)

// caller is the one thing the proxy needs of a storage connection.
type caller interface {
	Call(ctx context.Context, req []byte) ([]byte, error)
}

// call sends a wire message and decodes the reply; an Error reply comes back
// as a *wire.Error (errors.Is(err, wire.ErrNotFound) works).
func call(ctx context.Context, c caller, m wire.Message) (wire.Message, error) {
	req, err := wire.Marshal(m)
	if err != nil {
		return nil, err
	}
	b, err := c.Call(ctx, req)
	if err != nil {
		return nil, err
	}
	reply, err := wire.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("undecodable reply: %w", err)
	}
	if e, ok := reply.(*wire.Error); ok {
		return nil, e
	}
	return reply, nil
}

// callEncoded sends an already encoded request that expects Ok.
func callEncoded(ctx context.Context, c caller, req []byte) error {
	b, err := c.Call(ctx, req)
	if err != nil {
		return err
	}
	reply, err := wire.Unmarshal(b)
	if err != nil {
		return fmt.Errorf("undecodable reply: %w", err)
	}
	switch r := reply.(type) {
	case *wire.Error:
		return r
	case *wire.Ok:
		return nil
	default:
		return fmt.Errorf("unexpected reply %T", reply)
	}
}

// member is a storage server the proxy knows, connected or not.
type member struct {
	key      [32]byte
	name     string
	location string
	version  string
	host     string
	conn     *transport.Conn // nil while disconnected
	pingMs   float64
	stats    wire.StatsReply
}

// registry tracks storage servers by their static key (invariant 6): names
// are labels pinned to keys, never identities.
type registry struct {
	p       *Proxy
	mu      sync.Mutex
	members map[[32]byte]*member
}

func newRegistry(p *Proxy) *registry {
	r := &registry{p: p, members: map[[32]byte]*member{}}
	if recs, err := p.catalog.Servers(); err == nil {
		for _, s := range recs {
			r.members[s.Key] = &member{key: s.Key, name: s.Name, location: s.Location}
		}
	} else {
		p.log.Error("reading the storage registry", "err", err)
	}
	return r
}

// snapshot copies the members (sorted by name) for reading without the lock.
func (r *registry) snapshot() []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b member) int {
		if a.name < b.name {
			return -1
		} else if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

// connected returns the connected members sorted by name.
func (r *registry) connected() []member {
	all := r.snapshot()
	out := all[:0]
	for _, m := range all {
		if m.conn != nil {
			out = append(out, m)
		}
	}
	return out
}

// conn returns the live connection to the server with this key, or nil.
func (r *registry) conn(key [32]byte) *transport.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.members[key]; m != nil {
		return m.conn
	}
	return nil
}

func (r *registry) closeAll() {
	r.mu.Lock()
	var conns []*transport.Conn
	for _, m := range r.members {
		if m.conn != nil {
			conns = append(conns, m.conn)
		}
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// acceptPeers accepts storage servers until ctx ends.
func (p *Proxy) acceptPeers(ctx context.Context) {
	for {
		c, err := p.peerLn.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, transport.ErrClosed) {
				return
			}
			// A failed handshake (wrong pre-shared key, a port scanner) is
			// the peer's problem, not ours: log it and keep accepting.
			p.log.Warn("storage server refused at the handshake", "err", err)
			continue
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.servePeer(ctx, c) }()
	}
}

// helloTimeout bounds how long a connected peer may stay silent before
// introducing itself.
const helloTimeout = 15 * time.Second

// servePeer runs one storage server connection: Hello, then pings until it
// closes.
func (p *Proxy) servePeer(ctx context.Context, c *transport.Conn) {
	var key [32]byte
	copy(key[:], c.RemoteStatic())
	log := p.log.With("peer", c.RemoteAddr().String(), "key", transport.Fingerprint(key[:]))
	accepted := make(chan *member, 1)
	go c.Serve(func(hctx context.Context, req []byte) ([]byte, error) {
		m, err := wire.Unmarshal(req)
		if err != nil {
			return nil, err
		}
		hello, ok := m.(*wire.Hello)
		if !ok {
			return wire.Marshal(wire.Errorf(wire.CodeBadRequest, "the proxy accepts only Hello from storage servers"))
		}
		reply, mem := p.reg.hello(c, key, hello, log)
		if mem != nil {
			accepted <- mem
		}
		return wire.Marshal(reply)
	})
	var mem *member
	select {
	case mem = <-accepted:
	case <-c.Done():
		return
	case <-ctx.Done():
		c.Close()
		return
	case <-time.After(helloTimeout):
		log.Warn("storage server sent no Hello in time; disconnecting")
		c.Close()
		return
	}
	log = log.With("storage", mem.name)
	log.Info("storage server connected", "location", mem.location, "version", mem.version)
	p.metrics.connected.Set(float64(len(p.reg.connected())))
	p.kickSweeper()
	p.resetTransit(mem.name)
	go p.checkTransit(mem.name)
	p.pingLoop(ctx, c, key, log)
	p.reg.disconnected(key, c)
	p.metrics.connected.Set(float64(len(p.reg.connected())))
	log.Warn("storage server disconnected", "reason", c.Err())
}

// hello admits or refuses a storage server. A name is pinned to the first key
// that used it, and a key to its first name: a different key claiming a known
// name is refused (it could be an impostor collecting shares).
func (r *registry) hello(c *transport.Conn, key [32]byte, h *wire.Hello, log *slog.Logger) (*wire.HelloReply, *member) {
	refuse := func(format string, args ...any) (*wire.HelloReply, *member) {
		reason := fmt.Sprintf(format, args...)
		log.Warn("storage server refused", "name", h.Name, "reason", reason)
		// Let the reply go out before the connection closes.
		time.AfterFunc(time.Second, func() { c.Close() })
		return &wire.HelloReply{Accepted: false, Reason: reason}, nil
	}
	if h.Name == "" || !utf8.ValidString(h.Name) || len(h.Name) > 64 {
		return refuse("a storage server needs a name of 1 to 64 characters (-n NAME)")
	}
	if own := r.p.transitMode(); h.Transit != own {
		return refuse("%v", transitMismatch(own, h.Transit))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.members[key]; m != nil && m.name != h.Name {
		return refuse("this storage server's key is registered as %q; it cannot join as %q", m.name, h.Name)
	}
	for k, m := range r.members {
		if m.name == h.Name && k != key {
			return refuse("the name %q belongs to another storage server (key %s); this one has key %s",
				h.Name, transport.Fingerprint(k[:]), transport.Fingerprint(key[:]))
		}
	}
	now := time.Now().UTC()
	rec := store.ServerRecord{Key: key, Name: h.Name, Location: h.Location, FirstSeen: now, LastSeen: now}
	if old, err := r.p.catalog.Server(key); err == nil {
		rec.FirstSeen = old.FirstSeen
	}
	if err := r.p.catalog.PutServer(rec); err != nil {
		return refuse("the proxy could not record the storage server: %v", err)
	}
	m := r.members[key]
	if m == nil {
		m = &member{key: key}
		r.members[key] = m
	}
	if m.conn != nil && m.conn != c {
		// The same server reconnected (its old link may not have timed out
		// yet): the new connection wins.
		old := m.conn
		go old.Close()
	}
	m.name, m.location, m.version = h.Name, h.Location, h.SoftwareVersion
	m.host = c.RemoteAddr().String()
	m.conn = c
	m.stats = wire.StatsReply{FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes}
	cp := *m
	return &wire.HelloReply{Accepted: true}, &cp
}

func (r *registry) disconnected(key [32]byte, c *transport.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.members[key]; m != nil && m.conn == c {
		m.conn = nil
	}
}

// pingLoop measures the round trip to a storage server and refreshes its
// usage; a server that does not answer within the ping interval is
// disconnected (it redials by itself).
func (p *Proxy) pingLoop(ctx context.Context, c *transport.Conn, key [32]byte, log *slog.Logger) {
	t := time.NewTicker(p.opts.PingInterval)
	defer t.Stop()
	var nonce uint64
	for {
		nonce++
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, p.opts.PingInterval+2*time.Second)
		reply, err := call(pctx, c, &wire.Ping{Nonce: nonce})
		rtt := time.Since(start)
		var stats *wire.StatsReply
		if err == nil {
			if s, serr := call(pctx, c, &wire.Stats{}); serr == nil {
				stats, _ = s.(*wire.StatsReply)
			}
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil && c.Err() == nil {
				log.Warn("storage server does not answer pings; disconnecting", "err", err)
				c.Close()
			}
			return
		}
		if pong, ok := reply.(*wire.Pong); !ok || pong.Nonce != nonce {
			log.Warn("storage server answered a ping wrongly; disconnecting")
			c.Close()
			return
		}
		p.reg.mu.Lock()
		if m := p.reg.members[key]; m != nil && m.conn == c {
			m.pingMs = float64(rtt.Microseconds()) / 1000
			if stats != nil {
				m.stats = *stats
			}
		}
		p.reg.mu.Unlock()
		select {
		case <-t.C:
		case <-c.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}
