package kms

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"
)

// ParseMode reads a transit mode as written in the configuration ("AES",
// "OTP").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "AES":
		return ModeAES, nil
	case "OTP":
		return ModeOTP, nil
	}
	return 0, fmt.Errorf("kms: unknown transit mode %q (AES or OTP)", s)
}

// LinksConfig describes this node's access to its key manager.
type LinksConfig struct {
	Mode Mode
	// Address is the key manager's host:port.
	Address string
	// SAEID is this node's SAE ID ("proxy" on the proxy, the server's
	// name on a storage server by default).
	SAEID string
	// CACertificate, ClientCertificate, ClientKey: HTTPS with a client
	// certificate, as ETSI GS QKD 014 requires. All empty selects the
	// simulator's plain-HTTP demo mode, allowed only on loopback.
	CACertificate, ClientCertificate, ClientKey string
	// Options tunes the sealers and openers (waits, rotation).
	Options TransitOptions
}

// Links keeps one Sealer and one Opener per peer SAE for a node, and the
// health of each link for the API and metrics. Safe for concurrent use.
type Links struct {
	mode   Mode
	client *Client
	self   string
	opts   TransitOptions

	mu      sync.Mutex
	sealers map[string]*Sealer
	openers map[string]*Opener
	health  map[string]LinkHealth
}

// LinkHealth is what a node last saw of its link to one peer.
type LinkHealth struct {
	OK       bool
	Err      string // the last failure, "" when the last use worked
	At       time.Time
	Sealed   uint64 // messages sealed for the peer
	Opened   uint64 // messages opened from the peer
	Failures uint64
}

// NewLinks connects a node to its key manager (no request is made yet).
func NewLinks(c LinksConfig) (*Links, error) {
	if c.Mode != ModeAES && c.Mode != ModeOTP {
		return nil, fmt.Errorf("kms: unknown transit mode %v", c.Mode)
	}
	if c.SAEID == "" {
		return nil, fmt.Errorf("kms: this node's SAE ID is empty")
	}
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, fmt.Errorf("kms: key manager address %q: %w", c.Address, err)
	}
	var client *Client
	switch {
	case c.CACertificate == "" && c.ClientCertificate == "" && c.ClientKey == "":
		if !loopbackHost(host) {
			return nil, fmt.Errorf("kms: the key manager at %s is not on loopback: give ca_certificate, client_certificate and client_key (plain HTTP is for loopback demos only)", c.Address)
		}
		client = NewInsecureClient(c.Address, c.SAEID)
	case c.CACertificate == "" || c.ClientCertificate == "" || c.ClientKey == "":
		return nil, fmt.Errorf("kms: ca_certificate, client_certificate and client_key go together: give all three (or none for a loopback demo)")
	default:
		tc, err := ClientTLSConfig(c.CACertificate, c.ClientCertificate, c.ClientKey)
		if err != nil {
			return nil, err
		}
		client = NewClient(c.Address, tc)
	}
	return &Links{mode: c.Mode, client: client, self: c.SAEID, opts: c.Options,
		sealers: map[string]*Sealer{}, openers: map[string]*Opener{}, health: map[string]LinkHealth{}}, nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Mode is the transit mode of every link.
func (l *Links) Mode() Mode { return l.mode }

// Address is the key manager's host:port.
func (l *Links) Address() string { return l.client.Addr() }

// Self is this node's SAE ID.
func (l *Links) Self() string { return l.self }

func (l *Links) sealer(peer string) *Sealer {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sealers[peer]
	if s == nil {
		o := l.opts
		o.Link = l.self + "→" + peer
		s, _ = NewSealer(l.mode, ETSILink{Client: l.client, PeerSAE: peer}, o) // mode checked in NewLinks
		l.sealers[peer] = s
	}
	return s
}

// Reset drops the sealer of the link to peer, so that the next message
// to it takes a fresh key: after a failed transfer or a new connection the
// peer may not have (or no longer have) the key in use, and a key manager
// hands a key to its slave only once.
func (l *Links) Reset(peer string) {
	l.mu.Lock()
	delete(l.sealers, peer)
	l.mu.Unlock()
}

func (l *Links) opener(peer string) *Opener {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.openers[peer]
	if p == nil {
		o := l.opts
		o.Link = peer + "→" + l.self
		p = NewOpener(ETSILink{Client: l.client, PeerSAE: peer}, o)
		l.openers[peer] = p
	}
	return p
}

// record notes the outcome of one use of the link to peer: a seal, an
// open, or a status check (counted in neither).
func (l *Links) record(peer string, err error, use linkUse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.health[peer]
	h.At = time.Now()
	switch {
	case err != nil:
		h.OK, h.Err = false, err.Error()
		h.Failures++
	case use == useSeal:
		h.OK, h.Err = true, ""
		h.Sealed++
	case use == useOpen:
		h.OK, h.Err = true, ""
		h.Opened++
	default:
		h.OK, h.Err = true, ""
	}
	l.health[peer] = h
}

type linkUse int

const (
	useSeal linkUse = iota
	useOpen
	useCheck
)

// Seal protects payload for peer with fresh QKD keys (see Sealer.Seal).
func (l *Links) Seal(ctx context.Context, peer string, payload, aad []byte) ([]byte, error) {
	out, err := l.sealer(peer).Seal(ctx, payload, aad)
	if ctx.Err() == nil {
		l.record(peer, err, useSeal)
	}
	return out, err
}

// Open checks and decrypts a payload sealed by peer (see Opener.Open). A
// message sealed in another mode than the configured one is refused: a
// peer may never downgrade the link.
func (l *Links) Open(ctx context.Context, peer string, sealed, aad []byte) ([]byte, error) {
	mode, err := SealedMode(sealed)
	if err == nil && mode != l.mode {
		err = fmt.Errorf("%w on link %s→%s: sealed with %v, this link uses %v", ErrSealed, peer, l.self, mode, l.mode)
	}
	var out []byte
	if err == nil {
		out, err = l.opener(peer).Open(ctx, sealed, aad)
	}
	if ctx.Err() == nil {
		l.record(peer, err, useOpen)
	}
	return out, err
}

// Health returns what this node last saw of its link to peer; ok is false
// when the link was never used.
func (l *Links) Health(peer string) (LinkHealth, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.health[peer]
	return h, ok
}

// Check asks the key manager for the status of the link to peer, so that a
// key manager that is down or refuses shows before any transfer.
func (l *Links) Check(ctx context.Context, peer string) error {
	_, err := l.client.Status(ctx, peer)
	l.record(peer, err, useCheck)
	return err
}

// Associated-data kinds of Qasmat's sealed share payloads.
const (
	AADPut   = 'P' // PutChunk data: file, epoch, index
	AADGet   = 'G' // ChunkData answering GetChunk: file, epoch, index
	AADRenew = 'R' // RenewPrepare delta: file, new epoch, index
)

// TransitAAD is the associated data of a sealed share payload: it binds the
// payload to its message kind, file, epoch and chunk, so that a sealed
// payload cannot be replayed into another message. Both ends compute it;
// it is never sent.
func TransitAAD(kind byte, id [16]byte, epoch, index uint32) []byte {
	b := make([]byte, 0, 1+16+8)
	b = append(b, kind)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint32(b, epoch)
	return binary.BigEndian.AppendUint32(b, index)
}
