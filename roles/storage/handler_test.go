package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"testing"

	"github.com/qasmat/qasmat/crypto/shamir"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport/wire"
)

// The two-phase renewal on a real share store: prepare writes the new epoch
// beside the old one and answers its digest, a renewal adds up to a share
// of the same secret, commit keeps only the new epoch, abort only the old.
func TestRenewPrepareCommitAbort(t *testing.T) {
	ss, err := store.OpenShareStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	h := &handler{shares: ss, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	call := func(m wire.Message) wire.Message {
		t.Helper()
		r, err := h.handle(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Protect a 3000-byte chunk at (2,3) and store the share of x=1.
	sp, err := shamir.NewSplitter(2, []int{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("qasmat"), 500)
	var meta shamir.ChunkMeta
	var shares [][]byte
	if _, err := shamir.SplitStream(bytes.NewReader(plain), sp, func(m shamir.ChunkMeta, s [][]byte) error {
		meta = m
		for _, b := range s {
			shares = append(shares, bytes.Clone(b))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := wire.FileID{1, 2, 3}
	if _, ok := call(&wire.PutChunk{FileID: id, Epoch: 0, Index: 0, Data: shares[0]}).(*wire.Ok); !ok {
		t.Fatal("put chunk failed")
	}
	parts := shamir.ChunkParts(len(plain))
	deltas := [][]byte{make([]byte, parts*shamir.ShareSize), make([]byte, parts*shamir.ShareSize), make([]byte, parts*shamir.ShareSize)}
	if err := shamir.RefreshParts(2, []int{1, 2, 3}, parts, nil, deltas); err != nil {
		t.Fatal(err)
	}
	rp, ok := call(&wire.RenewPrepare{FileID: id, FromEpoch: 0, ToEpoch: 1, Index: 0, Delta: deltas[0]}).(*wire.RenewPrepared)
	if !ok {
		t.Fatal("RenewPrepare did not answer RenewPrepared")
	}
	next, err := ss.GetChunk(id, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Digest != sha256.Sum256(next) {
		t.Fatal("the answered digest is not the digest of the stored new share chunk")
	}
	if bytes.Equal(next, shares[0]) {
		t.Fatal("the renewed share equals the old one")
	}
	// The renewed share of x=1 with x=2's share renewed the same way opens
	// the chunk; with x=2's old share it does not.
	other := bytes.Clone(shares[1])
	if err := shamir.AddShares(other[shamir.ShareChunkHeaderSize:], deltas[1]); err != nil {
		t.Fatal(err)
	}
	comb, err := shamir.NewCombiner([]int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := shamir.OpenChunk(comb, meta, [][]byte{next, other}, nil); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("renewed shares do not open the chunk: %v", err)
	}
	if _, err := shamir.OpenChunk(comb, meta, [][]byte{next, shares[1]}, nil); !errors.Is(err, shamir.ErrIntegrity) {
		t.Fatalf("mixed epochs: %v, want ErrIntegrity", err)
	}
	// A prepare from an epoch not held is a conflict.
	if e, ok := call(&wire.RenewPrepare{FileID: id, FromEpoch: 7, ToEpoch: 8, Index: 0, Delta: deltas[0]}).(*wire.Error); !ok || e.Code != wire.CodeConflict {
		t.Fatal("prepare from a missing epoch was not refused as a conflict")
	}
	epochs := func() []uint32 {
		es, err := ss.Epochs(id)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	if es := epochs(); len(es) != 2 {
		t.Fatalf("epochs after prepare %v, want [0 1]", es)
	}
	call(&wire.RenewAbort{FileID: id, Epoch: 1})
	if es := epochs(); len(es) != 1 || es[0] != 0 {
		t.Fatalf("epochs after abort %v, want [0]", es)
	}
	call(&wire.RenewPrepare{FileID: id, FromEpoch: 0, ToEpoch: 1, Index: 0, Delta: deltas[0]})
	call(&wire.RenewCommit{FileID: id, Epoch: 1})
	call(&wire.RenewCommit{FileID: id, Epoch: 1}) // idempotent
	if es := epochs(); len(es) != 1 || es[0] != 1 {
		t.Fatalf("epochs after commit %v, want [1]", es)
	}
}

// SyncFile through the handler: a file sent in order is staged, made
// durable and checked; a missing chunk is answered NotFound; a file that
// was never written is NotFound too.
func TestSyncFileStagedUpload(t *testing.T) {
	dir := t.TempDir()
	ss, err := store.OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &handler{shares: ss, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	call := func(m wire.Message) wire.Message {
		t.Helper()
		r, err := h.handle(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	id := wire.FileID{9, 9, 9}
	var chunks [][]byte
	for i := uint32(0); i < 6; i++ {
		data := bytes.Repeat([]byte{byte(i + 1)}, 20000+int(i))
		chunks = append(chunks, data)
		if _, ok := call(&wire.PutChunk{FileID: id, Epoch: 0, Index: i, Data: data}).(*wire.Ok); !ok {
			t.Fatalf("put chunk %d failed", i)
		}
	}
	if e, ok := call(&wire.SyncFile{FileID: id, Epoch: 0, Chunks: 7}).(*wire.Error); !ok || e.Code != wire.CodeNotFound {
		t.Fatal("SyncFile claiming 7 chunks of 6 was not answered NotFound")
	}
	if _, ok := call(&wire.SyncFile{FileID: id, Epoch: 0, Chunks: 6}).(*wire.Ok); !ok {
		t.Fatal("SyncFile of a complete file failed")
	}
	if e, ok := call(&wire.SyncFile{FileID: wire.FileID{1}, Epoch: 0, Chunks: 1}).(*wire.Error); !ok || e.Code != wire.CodeNotFound {
		t.Fatal("SyncFile of an unknown file was not answered NotFound")
	}
	if err := ss.Close(); err != nil {
		t.Fatal(err)
	}
	ss, err = store.OpenShareStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	h.shares = ss
	for i, want := range chunks {
		r, ok := call(&wire.GetChunk{FileID: id, Epoch: 0, Index: uint32(i)}).(*wire.ChunkData)
		if !ok || !bytes.Equal(r.Data, want) {
			t.Fatalf("chunk %d does not read back after reopening", i)
		}
	}
	if st, ok := call(&wire.Stats{}).(*wire.StatsReply); !ok || st.Files != 1 || st.UsedBytes != 6*20000+15 {
		t.Fatalf("stats after the upload: %+v", st)
	}
}
