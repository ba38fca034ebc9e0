package storage

import (
	"context"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/transport/wire"
)

// QKD transit on a storage server (docs/design.md, "QKD transit"): with
// Options.Transit set, every share payload from the proxy (PutChunk data,
// RenewPrepare deltas) must be sealed with QKD keys and is opened before
// the handler sees it, and every share chunk sent back (ChunkData) is
// sealed for the proxy. The store only ever holds opened shares.

// proxySAE is the proxy's SAE ID at the key manager.
func (s *Server) proxySAE() string {
	if s.opts.ProxySAE != "" {
		return s.opts.ProxySAE
	}
	return "proxy"
}

func (s *Server) transitMode() uint8 {
	if s.opts.Transit == nil {
		return 0
	}
	return uint8(s.opts.Transit.Mode())
}

// transitIn opens the sealed payload of a request in place; a payload that
// cannot be opened is refused with an Error reply (nothing is stored).
func (s *Server) transitIn(ctx context.Context, m wire.Message) wire.Message {
	if s.opts.Transit == nil {
		return nil
	}
	var err error
	switch r := m.(type) {
	case *wire.PutChunk:
		r.Data, err = s.opts.Transit.Open(ctx, s.proxySAE(), r.Data, kms.TransitAAD(kms.AADPut, r.FileID, r.Epoch, r.Index))
	case *wire.RenewPrepare:
		r.Delta, err = s.opts.Transit.Open(ctx, s.proxySAE(), r.Delta, kms.TransitAAD(kms.AADRenew, r.FileID, r.ToEpoch, r.Index))
	}
	if err != nil {
		s.log.Warn("refused a share payload that failed its QKD transit check", "err", err)
		return wire.Errorf(wire.CodeBadRequest, "QKD transit: %v", err)
	}
	return nil
}

// transitOut seals the share chunk of a ChunkData reply for the proxy.
func (s *Server) transitOut(ctx context.Context, req, reply wire.Message) wire.Message {
	if s.opts.Transit == nil {
		return reply
	}
	g, ok := req.(*wire.GetChunk)
	cd, isData := reply.(*wire.ChunkData)
	if !ok || !isData {
		return reply
	}
	sealed, err := s.opts.Transit.Seal(ctx, s.proxySAE(), cd.Data, kms.TransitAAD(kms.AADGet, g.FileID, g.Epoch, g.Index))
	if err != nil {
		s.log.Warn("could not seal a share chunk for the proxy", "err", err)
		return wire.Errorf(wire.CodeInternal, "QKD transit: %v", err)
	}
	return &wire.ChunkData{Data: sealed}
}
