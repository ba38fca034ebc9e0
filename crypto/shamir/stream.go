package shamir

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/qasmat/qasmat/crypto/pedersen"
)

// SplitStream reads plaintext from r in chunks of ChunkPlainSize bytes and
// calls emit once per chunk, in index order, with the chunk's metadata and
// its encoded share chunks (shares[i] for sp.Xs()[i]). An empty reader gives
// exactly one chunk, with no data parts. The share buffers are reused: they
// are valid only during the call to emit, which must copy them or be done
// with them before returning; meta (with its Digests) is the caller's to
// keep. Memory is one plaintext chunk plus one share chunk per x, whatever
// the stream's length. size is the number of plaintext bytes read. An error
// from emit stops the stream and is returned as is.
func SplitStream(r io.Reader, sp *Splitter, emit func(meta ChunkMeta, shares [][]byte) error) (size int64, err error) {
	return splitStream(r, sp, nil, emit)
}

// splitStream is SplitStream with the source of the blinding values (nil:
// crypto/rand), so fixtures can be reproduced.
func splitStream(r io.Reader, sp *Splitter, blind io.Reader, emit func(ChunkMeta, [][]byte) error) (int64, error) {
	xs := sp.Xs()
	plainBuf := getChunkBuf()
	plain := (*plainBuf)[:MaxChunkParts*PartSize]
	bufs := make([]*[]byte, len(xs))
	shares := make([][]byte, len(xs))
	payloads := make([][]byte, len(xs))
	for i := range bufs {
		bufs[i] = getChunkBuf()
	}
	// The buffers held plaintext, blinding values and shares: clear what
	// was used before they go back to the pool, so that nothing lingers.
	// Only the used part: a 4 KiB file must not pay for clearing megabytes.
	plainUsed, shareUsed := 0, 0
	defer func() {
		clear(plain[:plainUsed])
		putChunkBuf(plainBuf)
		for _, b := range bufs {
			clear((*b)[:shareUsed])
			putChunkBuf(b)
		}
	}()

	var size int64
	for index := uint32(0); ; index++ {
		n, err := io.ReadFull(r, plain[:ChunkPlainSize])
		switch {
		case err == io.EOF && index > 0:
			return size, nil // the previous chunk was full and ended the stream
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF), err == nil:
		default:
			return size, fmt.Errorf("shamir: reading chunk %d: %w", index, err)
		}

		parts := ChunkParts(n)
		plainUsed = max(plainUsed, n, parts*PartSize)
		shareUsed = max(shareUsed, ShareChunkHeaderSize+parts*ShareSize)
		clear(plain[n : (parts-1)*PartSize])
		blinding, err := pedersen.RandomScalar(blind)
		if err != nil {
			return size, err
		}
		putTrailer(plain[(parts-1)*PartSize:parts*PartSize], index, uint32(n), &blinding)
		meta := ChunkMeta{
			Index:      index,
			PlainLen:   uint32(n),
			Commitment: commitChunk(index, plain[:n], blinding),
			Digests:    make([][32]byte, len(xs)),
		}
		for i, x := range xs {
			shares[i] = (*bufs[i])[:ShareChunkHeaderSize+parts*ShareSize]
			putShareChunkHeader(shares[i], x, index, parts)
			payloads[i] = shares[i][ShareChunkHeaderSize:]
		}
		if err := sp.SplitParts(plain[:parts*PartSize], payloads); err != nil {
			return size, fmt.Errorf("shamir: splitting chunk %d: %w", index, err)
		}
		for i := range shares {
			meta.Digests[i] = sha256.Sum256(shares[i])
		}
		size += int64(n)
		if err := emit(meta, shares); err != nil {
			return size, err
		}
		if n < ChunkPlainSize {
			return size, nil
		}
		if index == math.MaxUint32 {
			return size, fmt.Errorf("shamir: stream longer than %d chunks", uint64(math.MaxUint32)+1)
		}
	}
}

// chunkBufs recycles the plaintext and share buffers of SplitStream between
// calls: allocating (and zeroing) n+1 MiB per file dominated the cost of
// small files. A buffer goes back only after its used part was cleared.
var chunkBufs = sync.Pool{New: func() any {
	b := make([]byte, max(MaxShareChunkSize, MaxChunkParts*PartSize))
	return &b
}}

func getChunkBuf() *[]byte  { return chunkBufs.Get().(*[]byte) }
func putChunkBuf(b *[]byte) { chunkBufs.Put(b) }
