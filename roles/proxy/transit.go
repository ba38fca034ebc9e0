package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/qasmat/qasmat/kms"
)

// QKD transit (docs/design.md, "QKD transit"): with Options.Transit set,
// every share chunk the proxy sends (PutChunk, RenewPrepare deltas) is
// sealed with keys from the key manager for the storage server's SAE, and
// every share chunk it receives (ChunkData) must be sealed by that server.
// The associated data binds a sealed payload to its message, file, epoch
// and chunk, so that it cannot be replayed elsewhere.

// transitMode is the Hello value of this proxy's mode (0 without QKD).
func (p *Proxy) transitMode() uint8 {
	if p.opts.Transit == nil {
		return 0
	}
	return uint8(p.opts.Transit.Mode())
}

func modeName(m uint8) string {
	if m == 0 {
		return "no QKD transit"
	}
	return "QKD " + kms.Mode(m).String()
}

// peerSAE is the SAE ID of a storage server at the key manager: the
// configured mapping, else its name.
func (p *Proxy) peerSAE(name string) string {
	if sae := p.opts.PeerSAEIDs[name]; sae != "" {
		return sae
	}
	return name
}

// seal protects a share payload for server name; without QKD it is the
// payload itself.
func (p *Proxy) seal(ctx context.Context, name string, payload, aad []byte) ([]byte, error) {
	if p.opts.Transit == nil {
		return payload, nil
	}
	out, err := p.opts.Transit.Seal(ctx, p.peerSAE(name), payload, aad)
	if err != nil {
		p.metrics.transitErrors.WithLabelValues(name, "seal").Inc()
		return nil, err
	}
	return out, nil
}

// open checks and decrypts a share payload from server name.
func (p *Proxy) open(ctx context.Context, name string, sealed, aad []byte) ([]byte, error) {
	if p.opts.Transit == nil {
		return sealed, nil
	}
	out, err := p.opts.Transit.Open(ctx, p.peerSAE(name), sealed, aad)
	if err != nil {
		p.metrics.transitErrors.WithLabelValues(name, "open").Inc()
		return nil, err
	}
	return out, nil
}

// transitStatus is what GET /api/storage shows of a server's QKD link: ""
// without QKD, "ok", "unused" before the first transfer, or the last error.
func (p *Proxy) transitStatus(name string) string {
	if p.opts.Transit == nil {
		return ""
	}
	h, ok := p.opts.Transit.Health(p.peerSAE(name))
	switch {
	case !ok:
		return "unused"
	case h.OK:
		return "ok"
	}
	return h.Err
}

// checkTransit asks the key manager about a newly connected server's link,
// so that a key manager that is down or refuses shows in the API at once.
func (p *Proxy) checkTransit(name string) {
	if p.opts.Transit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.opts.Transit.Check(ctx, p.peerSAE(name)); err != nil {
		p.metrics.transitErrors.WithLabelValues(name, "status").Inc()
		p.log.Warn("QKD key manager check failed for a storage server's link", "storage", name, "err", err)
	}
}

// transitMismatch explains a refused Hello.
func transitMismatch(proxy, server uint8) error {
	return fmt.Errorf("transit mode mismatch: the proxy uses %s, this storage server %s; configure the same encryption_and_kms on both",
		modeName(proxy), modeName(server))
}

// transitName is the mode as the API shows it, "" without QKD.
func transitName(l *kms.Links) string {
	if l == nil {
		return ""
	}
	return l.Mode().String()
}

// resetTransit makes the next share sent to server name use a fresh QKD
// key: after a failed send or a reconnection the server may lack the key in
// use (its fetch was cancelled, or it restarted and lost its cache).
func (p *Proxy) resetTransit(name string) {
	if p.opts.Transit != nil {
		p.opts.Transit.Reset(p.peerSAE(name))
	}
}
