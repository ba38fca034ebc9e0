package shamir

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/qasmat/qasmat/crypto/pedersen"
)

// Chunk layout. A file is cut into chunks of up to ChunkDataParts data parts
// followed by one trailer part. The trailer carries the chunk's index, its
// data length and the Pedersen blinding r, so r is secret-shared with the
// data: any k shares rebuild it, fewer learn nothing of it.
const (
	// ChunkDataParts is the largest number of data parts in a chunk.
	ChunkDataParts = 1023
	// ChunkPlainSize is the largest number of plaintext bytes in a chunk.
	ChunkPlainSize = ChunkDataParts * PartSize
	// MaxChunkParts is the largest number of parts in a chunk, trailer included.
	MaxChunkParts = ChunkDataParts + 1

	// ShareChunkHeaderSize is the size of a share chunk's header.
	ShareChunkHeaderSize = 12
	// ShareChunkVersion is the format version in byte 0 of a share chunk.
	ShareChunkVersion = 1
	// MaxShareChunkSize is the size of a full chunk's share chunk.
	MaxShareChunkSize = ShareChunkHeaderSize + MaxChunkParts*ShareSize

	// TrailerVersion is the format version in byte 0 of a chunk's trailer part.
	TrailerVersion = 1

	// chunkLabel starts the message a chunk commitment is computed over:
	// chunkLabel || BE uint32 index || data.
	chunkLabel = "qasmat-chunk-v1"
	// chunkPrefixSize is the length of chunkLabel || BE uint32 index.
	chunkPrefixSize = len(chunkLabel) + 4
	// fileLabel starts the message FileHash is computed over.
	fileLabel = "qasmat-file-v1"

	trailerIndexOff  = 1
	trailerLenOff    = 5
	trailerBlindOff  = 9
	trailerUsedBytes = trailerBlindOff + pedersen.ScalarSize
)

var (
	// ErrMalformedShareChunk means a share chunk's encoding is invalid: too
	// short, unknown version or flags, x of 0, a part count out of range or
	// not matching its length or its chunk's data length.
	ErrMalformedShareChunk = errors.New("shamir: malformed share chunk")
	// ErrIndexMismatch means a share chunk belongs to another chunk index
	// than the one being opened.
	ErrIndexMismatch = errors.New("shamir: share chunk index mismatch")
	// ErrIntegrity means the shares rebuild something other than the
	// committed chunk: wrong trailer, nonzero padding or a Pedersen
	// commitment that does not open. Shares from another file, or altered
	// shares, end here (or at ErrBadShare, which is wrapped together with it).
	ErrIntegrity = errors.New("shamir: chunk fails its integrity check")
)

// ChunkMeta describes one chunk of a file, as kept in the proxy's catalog.
type ChunkMeta struct {
	Index      uint32
	PlainLen   uint32 // data bytes in this chunk
	Commitment pedersen.Commitment
	Digests    [][32]byte // SHA-256 of each share chunk, in the Splitter's xs order
}

// ChunkParts returns the number of parts, trailer included, of a chunk
// holding plainLen data bytes (at most ChunkPlainSize).
func ChunkParts(plainLen int) int {
	return (plainLen+PartSize-1)/PartSize + 1
}

// ShareChunkSize returns the encoded size of every share chunk of a chunk
// holding plainLen data bytes.
func ShareChunkSize(plainLen int) int {
	return ShareChunkHeaderSize + ChunkParts(plainLen)*ShareSize
}

// putShareChunkHeader writes the 12-byte header: version, flags (0), x,
// chunk index and part count.
func putShareChunkHeader(b []byte, x int, index uint32, parts int) {
	b[0] = ShareChunkVersion
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:4], uint16(x))
	binary.BigEndian.PutUint32(b[4:8], index)
	binary.BigEndian.PutUint32(b[8:12], uint32(parts))
}

// DecodeShareChunk checks a share chunk's header against its length and
// returns its x coordinate, chunk index and share bytes (part count *
// ShareSize bytes, aliasing b). It checks the form only; whether the shares
// are genuine is decided by the digest in the catalog and by OpenChunk.
func DecodeShareChunk(b []byte) (x int, index uint32, parts []byte, err error) {
	if len(b) < ShareChunkHeaderSize {
		return 0, 0, nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformedShareChunk, len(b))
	}
	if b[0] != ShareChunkVersion {
		return 0, 0, nil, fmt.Errorf("%w: version %d", ErrMalformedShareChunk, b[0])
	}
	if b[1] != 0 {
		return 0, 0, nil, fmt.Errorf("%w: flags 0x%02x", ErrMalformedShareChunk, b[1])
	}
	x = int(binary.BigEndian.Uint16(b[2:4]))
	if x == 0 {
		return 0, 0, nil, fmt.Errorf("%w: %w: x = 0", ErrMalformedShareChunk, ErrBadX)
	}
	index = binary.BigEndian.Uint32(b[4:8])
	count := binary.BigEndian.Uint32(b[8:12])
	if count < 1 || count > MaxChunkParts {
		return 0, 0, nil, fmt.Errorf("%w: %d parts", ErrMalformedShareChunk, count)
	}
	if want := ShareChunkHeaderSize + int(count)*ShareSize; len(b) != want {
		return 0, 0, nil, fmt.Errorf("%w: %d bytes for %d parts, want %d", ErrMalformedShareChunk, len(b), count, want)
	}
	return x, index, b[ShareChunkHeaderSize:], nil
}

// putTrailer fills the trailer part of a chunk.
func putTrailer(t []byte, index, plainLen uint32, r *pedersen.Scalar) {
	clear(t)
	t[0] = TrailerVersion
	binary.BigEndian.PutUint32(t[trailerIndexOff:], index)
	binary.BigEndian.PutUint32(t[trailerLenOff:], plainLen)
	copy(t[trailerBlindOff:], r[:])
}

// chunkDigest returns SHA-256(chunkLabel || BE uint32 index || data), the
// hash the chunk commitment is to.
func chunkDigest(index uint32, data []byte) [32]byte {
	var prefix [chunkPrefixSize]byte
	copy(prefix[:], chunkLabel)
	binary.BigEndian.PutUint32(prefix[len(chunkLabel):], index)
	h := sha256.New()
	h.Write(prefix[:])
	h.Write(data)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// commitChunk returns the Pedersen commitment of chunk index holding data
// with blinding r: the message is "qasmat-chunk-v1" || BE uint32 index || data.
func commitChunk(index uint32, data []byte, r pedersen.Scalar) pedersen.Commitment {
	return pedersen.CommitDigest(chunkDigest(index, data), r)
}

// OpenChunk rebuilds and verifies one chunk from exactly k share chunks (one
// per x of c, in any order) and appends its data bytes to dst. It does not
// check digests: the caller compares each share chunk with meta.Digests
// first and passes only the good ones. It checks every header against meta,
// combines, checks the trailer (version, index, length, blinding, zero
// padding) and the Pedersen commitment. On error it returns dst unchanged in
// length, and whatever it wrote past len(dst) is zeroed: rebuilt bytes are
// never handed out unverified.
func OpenChunk(c *Combiner, meta ChunkMeta, shares [][]byte, dst []byte) ([]byte, error) {
	if meta.PlainLen > ChunkPlainSize {
		return dst, fmt.Errorf("shamir: chunk %d: data length %d exceeds %d", meta.Index, meta.PlainLen, ChunkPlainSize)
	}
	xs := c.Xs()
	if len(shares) < len(xs) {
		return dst, fmt.Errorf("%w: chunk %d: %d of %d", ErrTooFewShares, meta.Index, len(shares), len(xs))
	}
	if len(shares) > len(xs) {
		return dst, fmt.Errorf("shamir: chunk %d: %d share chunks for a combiner of %d", meta.Index, len(shares), len(xs))
	}
	dataLen := int(meta.PlainLen)
	parts := ChunkParts(dataLen)
	ordered := make([][]byte, len(xs))
	for i, b := range shares {
		x, index, p, err := DecodeShareChunk(b)
		if err != nil {
			return dst, fmt.Errorf("chunk %d, share chunk %d: %w", meta.Index, i, err)
		}
		if index != meta.Index {
			return dst, fmt.Errorf("%w: share chunk %d (x=%d) is for chunk %d, opening chunk %d", ErrIndexMismatch, i, x, index, meta.Index)
		}
		if len(p) != parts*ShareSize {
			return dst, fmt.Errorf("%w: chunk %d, x=%d: %d parts, a chunk of %d bytes has %d",
				ErrMalformedShareChunk, meta.Index, x, len(p)/ShareSize, dataLen, parts)
		}
		at := slices.Index(xs, x)
		if at < 0 {
			return dst, fmt.Errorf("%w: chunk %d: x=%d is not one of %v", ErrBadX, meta.Index, x, xs)
		}
		if ordered[at] != nil {
			return dst, fmt.Errorf("%w: chunk %d: x=%d twice", ErrDuplicateX, meta.Index, x)
		}
		ordered[at] = p
	}

	base := len(dst)
	out := slices.Grow(dst, parts*PartSize)[:base+parts*PartSize]
	plain := out[base:]
	fail := func(err error) ([]byte, error) {
		clear(plain)
		return out[:base], err
	}
	if err := c.CombineParts(ordered, plain); err != nil {
		return fail(fmt.Errorf("%w: chunk %d: %w", ErrIntegrity, meta.Index, err))
	}

	trailer := plain[(parts-1)*PartSize:]
	if trailer[0] != TrailerVersion {
		return fail(fmt.Errorf("%w: chunk %d: trailer version %d", ErrIntegrity, meta.Index, trailer[0]))
	}
	if got := binary.BigEndian.Uint32(trailer[trailerIndexOff:]); got != meta.Index {
		return fail(fmt.Errorf("%w: chunk %d: trailer says chunk %d", ErrIntegrity, meta.Index, got))
	}
	if got := binary.BigEndian.Uint32(trailer[trailerLenOff:]); got != meta.PlainLen {
		return fail(fmt.Errorf("%w: chunk %d: trailer says %d data bytes, catalog %d", ErrIntegrity, meta.Index, got, meta.PlainLen))
	}
	r := pedersen.Scalar(trailer[trailerBlindOff:trailerUsedBytes])
	if !r.Valid() {
		return fail(fmt.Errorf("%w: chunk %d: blinding value out of range", ErrIntegrity, meta.Index))
	}
	// Shamir shares are malleable: a server can shift a rebuilt part by a
	// chosen amount. The commitment catches changed data; the zero checks
	// catch changes confined to the padding and the trailer's spare bytes.
	if !allZero(plain[dataLen:(parts-1)*PartSize]) || !allZero(trailer[trailerUsedBytes:]) {
		return fail(fmt.Errorf("%w: chunk %d: nonzero padding", ErrIntegrity, meta.Index))
	}
	if !pedersen.VerifyDigest(meta.Commitment, chunkDigest(meta.Index, plain[:dataLen]), r) {
		return fail(fmt.Errorf("%w: chunk %d: commitment does not open", ErrIntegrity, meta.Index))
	}
	clear(plain[dataLen:]) // padding and trailer, with r, stay out of dst's spare capacity
	return out[:base+dataLen], nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, v := range b {
		acc |= v
	}
	return acc == 0
}

// FileHash binds a whole file: SHA-256("qasmat-file-v1" || BE uint64 size ||
// C_0 || C_1 || ...) over the chunk commitments in index order. It is as
// hiding as the commitments, so the catalog and the API can show it without
// revealing anything about the content.
func FileHash(size int64, metas []ChunkMeta) [32]byte {
	h := sha256.New()
	var hdr [len(fileLabel) + 8]byte
	copy(hdr[:], fileLabel)
	binary.BigEndian.PutUint64(hdr[len(fileLabel):], uint64(size))
	h.Write(hdr[:])
	for i := range metas {
		h.Write(metas[i].Commitment[:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
