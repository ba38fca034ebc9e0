package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
)

// handler answers the proxy's requests from the share store. It sees only
// file IDs, epochs, chunk numbers and share bytes (invariant 9).
type handler struct {
	shares  *store.ShareStore
	dataDir string
	log     *slog.Logger
	// renewMu serialises renewal steps of one store: a prepare reads the old
	// epoch and writes the new one, which must not interleave with a commit.
	renewMu sync.Mutex
}

func (h *handler) handle(ctx context.Context, req wire.Message) (wire.Message, error) {
	switch m := req.(type) {
	case *wire.Ping:
		return &wire.Pong{Nonce: m.Nonce}, nil
	case *wire.PutChunk:
		if err := h.shares.PutChunk(m.FileID, m.Epoch, m.Index, m.Data); err != nil {
			return storeError("put chunk", err)
		}
		return &wire.Ok{}, nil
	case *wire.SyncFile:
		// Makes this file's chunks durable (its staged chunks are
		// ingested) and checks that every chunk is there.
		if err := h.shares.SyncFile(m.FileID, m.Epoch, m.Chunks); err != nil {
			return storeError("sync file", err)
		}
		return &wire.Ok{}, nil
	case *wire.GetChunk:
		data, err := h.shares.GetChunk(m.FileID, m.Epoch, m.Index)
		if err != nil {
			return storeError("get chunk", err)
		}
		return &wire.ChunkData{Data: data}, nil
	case *wire.DeleteFile:
		if err := h.shares.DeleteFile(m.FileID); err != nil {
			return storeError("delete file", err)
		}
		return &wire.Ok{}, nil
	case *wire.ListFiles:
		return h.listFiles(m)
	case *wire.Stats:
		return h.stats()
	case *wire.RenewPrepare:
		return h.renewPrepare(m)
	case *wire.RenewCommit:
		h.renewMu.Lock()
		defer h.renewMu.Unlock()
		epochs, err := h.shares.Epochs(m.FileID)
		if err != nil {
			return storeError("renew commit", err)
		}
		for _, e := range epochs {
			if e != m.Epoch {
				if err := h.shares.DeleteEpoch(m.FileID, e); err != nil {
					return storeError("renew commit", err)
				}
			}
		}
		return &wire.Ok{}, nil
	case *wire.RenewAbort:
		h.renewMu.Lock()
		defer h.renewMu.Unlock()
		if err := h.shares.DeleteEpoch(m.FileID, m.Epoch); err != nil {
			return storeError("renew abort", err)
		}
		return &wire.Ok{}, nil
	default:
		return wire.Errorf(wire.CodeBadRequest, "unexpected request %T", req), nil
	}
}

// getChunkReply encodes the ChunkData reply to m straight from the store's
// own copy of the share chunk, in a buffer sized once: one allocation and
// one copy per chunk instead of the two of GetChunk then wire.Marshal.
// Only without transit encryption, where the reply carries the stored bytes
// as they are.
func (h *handler) getChunkReply(m *wire.GetChunk) ([]byte, error) {
	var out []byte
	var encErr error
	err := h.shares.ViewChunk(m.FileID, m.Epoch, m.Index, func(chunk []byte) error {
		// 2 bytes of version and type, at most 5 of length (uvarint).
		out, encErr = wire.Append(transport.NewBuffer(len(chunk)+8), &wire.ChunkData{Data: chunk})
		return nil
	})
	if err != nil {
		reply, _ := storeError("get chunk", err)
		return wire.Marshal(reply)
	}
	return out, encErr
}

func (h *handler) listFiles(m *wire.ListFiles) (wire.Message, error) {
	ids, err := h.shares.Files()
	if err != nil {
		return storeError("list files", err)
	}
	limit := int(m.Limit)
	if limit <= 0 || limit > wire.MaxListIDs {
		limit = wire.MaxListIDs
	}
	out := &wire.FileList{}
	for _, id := range ids {
		fid := wire.FileID(id)
		if string(fid[:]) <= string(m.After[:]) {
			continue
		}
		if len(out.IDs) == limit {
			out.More = true
			break
		}
		out.IDs = append(out.IDs, fid)
	}
	return out, nil
}

func (h *handler) stats() (wire.Message, error) {
	used, files, err := h.shares.Usage()
	if err != nil {
		return storeError("stats", err)
	}
	free, total := diskSpace(h.dataDir)
	return &wire.StatsReply{UsedBytes: used, FreeBytes: free, TotalBytes: total, Files: files}, nil
}

// renewPrepare adds the delta to the share chunk of the old epoch and writes
// the sum as the new epoch beside it (made durable by the SyncFile that
// follows); the old epoch stays until commit, so a crash at any point leaves
// a complete epoch.
func (h *handler) renewPrepare(m *wire.RenewPrepare) (wire.Message, error) {
	h.renewMu.Lock()
	defer h.renewMu.Unlock()
	old, err := h.shares.GetChunk(m.FileID, m.FromEpoch, m.Index)
	if errors.Is(err, store.ErrNotFound) {
		return wire.Errorf(wire.CodeConflict, "renew prepare: epoch %d of chunk %d is not held", m.FromEpoch, m.Index), nil
	} else if err != nil {
		return storeError("renew prepare", err)
	}
	_, index, parts, err := shamir.DecodeShareChunk(old)
	if err != nil {
		return wire.Errorf(wire.CodeInternal, "stored share chunk is damaged: %v", err), nil
	}
	if index != m.Index {
		return wire.Errorf(wire.CodeInternal, "stored share chunk has index %d, want %d", index, m.Index), nil
	}
	if len(m.Delta) != len(parts) {
		return wire.Errorf(wire.CodeBadRequest, "renewal delta has %d bytes, share chunk %d", len(m.Delta), len(parts)), nil
	}
	next := make([]byte, len(old))
	copy(next, old)
	if err := shamir.AddShares(next[len(old)-len(parts):], m.Delta); err != nil {
		return wire.Errorf(wire.CodeBadRequest, "renewal delta: %v", err), nil
	}
	// Not synced here: the proxy sends SyncFile for ToEpoch once every
	// chunk is prepared, one fsync per file instead of one per chunk.
	if err := h.shares.PutChunk(m.FileID, m.ToEpoch, m.Index, next); err != nil {
		return storeError("renew prepare", err)
	}
	// The proxy records the new share chunk's digest in its catalog; it
	// never sees the share itself.
	return &wire.RenewPrepared{Digest: sha256.Sum256(next)}, nil
}

// storeError turns a share store failure into the wire's error reply; the
// detail stays in the storage server's log.
func storeError(op string, err error) (wire.Message, error) {
	if errors.Is(err, store.ErrNotFound) {
		return wire.Errorf(wire.CodeNotFound, "%s: %v", op, err), nil
	}
	return wire.Errorf(wire.CodeInternal, "%s: %v", op, err), nil
}
