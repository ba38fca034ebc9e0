package shamir

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"
)

// splitCollect splits data with SplitStream and keeps copies of every share
// chunk: shares[chunk][i] is for xs[i].
func splitCollect(t testing.TB, k int, xs []int, data []byte) ([]ChunkMeta, [][][]byte) {
	t.Helper()
	sp, err := NewSplitter(k, xs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var metas []ChunkMeta
	var shares [][][]byte
	size, err := SplitStream(bytes.NewReader(data), sp, func(meta ChunkMeta, sh [][]byte) error {
		c := make([][]byte, len(sh))
		for i := range sh {
			c[i] = bytes.Clone(sh[i])
		}
		metas = append(metas, meta)
		shares = append(shares, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) {
		t.Fatalf("SplitStream size %d, want %d", size, len(data))
	}
	return metas, shares
}

// openCollected rebuilds the file from the shares at positions idx (into
// xs), checking each share chunk's digest first as the proxy does, and
// feeding the share chunks to OpenChunk in reverse order.
func openCollected(t testing.TB, xs, idx []int, metas []ChunkMeta, shares [][][]byte) ([]byte, error) {
	t.Helper()
	sub := make([]int, len(idx))
	for j, i := range idx {
		sub[j] = xs[i]
	}
	c, err := NewCombiner(sub)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for ci, meta := range metas {
		pick := make([][]byte, len(idx))
		for j, i := range idx {
			if sha256.Sum256(shares[ci][i]) != meta.Digests[i] {
				t.Fatalf("chunk %d x=%d: digest mismatch", ci, xs[i])
			}
			pick[len(idx)-1-j] = shares[ci][i]
		}
		if out, err = OpenChunk(c, meta, pick, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestStreamRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 1022, 1023, 1024, 2045, 2046, ChunkPlainSize - 1, ChunkPlainSize, ChunkPlainSize + 1, 3*ChunkPlainSize + 12345}
	for _, kn := range [][2]int{{2, 3}, {3, 5}} {
		k, n := kn[0], kn[1]
		xs := make([]int, n)
		for i := range xs {
			xs[i] = i + 1
		}
		for _, size := range sizes {
			t.Run(fmt.Sprintf("k=%d,n=%d/size=%d", k, n, size), func(t *testing.T) {
				data := make([]byte, size)
				rand.Read(data)
				metas, shares := splitCollect(t, k, xs, data)

				wantChunks := max(1, (size+ChunkPlainSize-1)/ChunkPlainSize)
				if len(metas) != wantChunks {
					t.Fatalf("%d chunks, want %d", len(metas), wantChunks)
				}
				total := 0
				for i, m := range metas {
					if m.Index != uint32(i) {
						t.Errorf("chunk %d has index %d", i, m.Index)
					}
					if i < len(metas)-1 && m.PlainLen != ChunkPlainSize {
						t.Errorf("chunk %d of %d holds %d bytes, want a full chunk", i, len(metas), m.PlainLen)
					}
					total += int(m.PlainLen)
					if len(m.Digests) != n {
						t.Fatalf("chunk %d: %d digests for %d shares", i, len(m.Digests), n)
					}
					for j, s := range shares[i] {
						if len(s) != ShareChunkSize(int(m.PlainLen)) {
							t.Errorf("chunk %d x=%d: %d bytes, want %d", i, xs[j], len(s), ShareChunkSize(int(m.PlainLen)))
						}
						if x, idx, _, err := DecodeShareChunk(s); err != nil || x != xs[j] || idx != m.Index {
							t.Errorf("chunk %d share %d: header x=%d index=%d err=%v", i, j, x, idx, err)
						}
					}
				}
				if total != size {
					t.Fatalf("chunks hold %d bytes, want %d", total, size)
				}

				check := func(idx []int) {
					got, err := openCollected(t, xs, idx, metas, shares)
					if err != nil {
						t.Fatalf("subset %v: %v", idx, err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("subset %v: data differs", idx)
					}
				}
				if size <= 2*PartSize {
					chunkSubsets(n, k, check)
				} else {
					// Large sizes: the worst spread of x and the first k.
					check([]int{0, n / 2, n - 1}[:k])
					check(slices.Collect(func(yield func(int) bool) {
						for i := range k {
							yield(i)
						}
					}))
				}
			})
		}
	}
}

// TestStreamEmptyIsOneChunk: an empty file still has a chunk, so it has a
// commitment and shares like any other file.
func TestStreamEmptyIsOneChunk(t *testing.T) {
	metas, shares := splitCollect(t, 2, []int{1, 2}, nil)
	if len(metas) != 1 || metas[0].PlainLen != 0 || len(shares[0][0]) != ShareChunkHeaderSize+ShareSize {
		t.Fatalf("empty input: %d chunks, first %d bytes, share chunk %d bytes", len(metas), metas[0].PlainLen, len(shares[0][0]))
	}
}

// TestStreamChunkingIgnoresReadSizes: chunk boundaries come from
// io.ReadFull, not from how the reader happens to return its bytes.
func TestStreamChunkingIgnoresReadSizes(t *testing.T) {
	data := make([]byte, 2*ChunkPlainSize+100)
	rand.Read(data)
	sp, err := NewSplitter(2, []int{1, 2, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lens []uint32
	r := iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(data)))
	size, err := SplitStream(r, sp, func(meta ChunkMeta, _ [][]byte) error {
		lens = append(lens, meta.PlainLen)
		return nil
	})
	if err != nil || size != int64(len(data)) {
		t.Fatalf("size %d err %v", size, err)
	}
	if !slices.Equal(lens, []uint32{ChunkPlainSize, ChunkPlainSize, 100}) {
		t.Fatalf("chunk lengths %v", lens)
	}
}

func TestStreamReadErrorStops(t *testing.T) {
	boom := errors.New("disk on fire")
	sp, _ := NewSplitter(2, []int{1, 2}, nil)
	r := io.MultiReader(bytes.NewReader(make([]byte, ChunkPlainSize+10)), iotest.ErrReader(boom))
	var chunks int
	_, err := SplitStream(r, sp, func(ChunkMeta, [][]byte) error { chunks++; return nil })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if chunks != 1 {
		t.Fatalf("%d chunks emitted, want only the complete one", chunks)
	}
}

func TestStreamEmitErrorStops(t *testing.T) {
	stop := errors.New("storage server gone")
	sp, _ := NewSplitter(2, []int{1, 2}, nil)
	var chunks int
	_, err := SplitStream(bytes.NewReader(make([]byte, 3*ChunkPlainSize)), sp, func(ChunkMeta, [][]byte) error {
		chunks++
		return stop
	})
	if !errors.Is(err, stop) || chunks != 1 {
		t.Fatalf("err = %v after %d chunks, want the emit error after 1", err, chunks)
	}
}

// TestStreamBlindingIsFresh: the same data in two chunks or two files gets
// different commitments, so the catalog does not reveal equal chunks.
func TestStreamBlindingIsFresh(t *testing.T) {
	data := make([]byte, 2*ChunkPlainSize) // two identical all-zero chunks
	a, _ := splitCollect(t, 2, []int{1, 2}, data)
	b, _ := splitCollect(t, 2, []int{1, 2}, data)
	if a[0].Commitment == a[1].Commitment && a[0].Index == a[1].Index {
		t.Fatal("equal chunks share a commitment")
	}
	if a[0].Commitment == b[0].Commitment {
		t.Fatal("the same file split twice gives the same commitment")
	}
	if FileHash(int64(len(data)), a) == FileHash(int64(len(data)), b) {
		t.Fatal("the same file split twice gives the same file hash")
	}
}

func TestBitFlipDetected(t *testing.T) {
	xs := []int{1, 2, 3, 4, 5}
	data := make([]byte, ChunkPlainSize+5000)
	rand.Read(data)
	metas, shares := splitCollect(t, 3, xs, data)
	c, err := NewCombiner([]int{1, 3, 5})
	if err != nil {
		t.Fatal(err)
	}
	for ci, meta := range metas {
		good := [][]byte{shares[ci][0], shares[ci][2], shares[ci][4]}
		size := len(good[1])
		// Every header bit, then bits spread over the first data part, the
		// padding and the trailer part, and the very last bit.
		var bits []int
		for b := range 8 * ShareChunkHeaderSize {
			bits = append(bits, b)
		}
		for _, off := range []int{ShareChunkHeaderSize, ShareChunkHeaderSize + 500, size - 2*ShareSize + 7, size - ShareSize, size - ShareSize + 20, size - 1} {
			bits = append(bits, 8*off, 8*off+7)
		}
		for _, bit := range bits {
			bad := bytes.Clone(good[1])
			bad[bit/8] ^= 1 << (bit % 8)
			if sha256.Sum256(bad) == meta.Digests[2] {
				t.Fatalf("chunk %d: flipping bit %d leaves the digest unchanged", ci, bit)
			}
			dst := []byte("keep")
			got, err := OpenChunk(c, meta, [][]byte{good[0], bad, good[2]}, dst)
			if err == nil {
				t.Fatalf("chunk %d: flipped bit %d accepted", ci, bit)
			}
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrMalformedShareChunk) &&
				!errors.Is(err, ErrIndexMismatch) && !errors.Is(err, ErrBadX) && !errors.Is(err, ErrDuplicateX) {
				t.Errorf("chunk %d bit %d: error %v is none of the sentinels", ci, bit, err)
			}
			if string(got) != "keep" {
				t.Fatalf("chunk %d bit %d: dst became %d bytes", ci, bit, len(got))
			}
			if tail := got[len(got):cap(got)]; !allZero(tail) {
				t.Fatalf("chunk %d bit %d: unverified bytes left in dst's spare capacity", ci, bit)
			}
		}
	}
}

func TestForeignSharesRejected(t *testing.T) {
	xs := []int{1, 2, 3}
	data := make([]byte, 2*ChunkPlainSize)
	rand.Read(data[:ChunkPlainSize])
	copy(data[ChunkPlainSize:], data[:ChunkPlainSize]) // chunk 1 = chunk 0
	metas, shares := splitCollect(t, 2, xs, data)
	// Another file with the very same bytes: same layout, other randomness.
	otherMetas, other := splitCollect(t, 2, xs, data)
	c, _ := NewCombiner([]int{1, 2})

	expect := func(name string, meta ChunkMeta, sh [][]byte, want error) {
		t.Helper()
		got, err := OpenChunk(c, meta, sh, nil)
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
		if len(got) != 0 {
			t.Errorf("%s: data returned with an error", name)
		}
	}
	expect("both shares from chunk 1", metas[0], [][]byte{shares[1][0], shares[1][1]}, ErrIndexMismatch)
	expect("one share from chunk 1", metas[0], [][]byte{shares[0][0], shares[1][1]}, ErrIndexMismatch)
	expect("both shares from the other file", metas[0], [][]byte{other[0][0], other[0][1]}, ErrIntegrity)
	expect("one share from the other file", metas[0], [][]byte{shares[0][0], other[0][1]}, ErrIntegrity)
	expect("the other file's commitment", otherMetas[0], [][]byte{shares[0][0], shares[0][1]}, ErrIntegrity)

	// A server that rewrites headers so chunk 1's shares claim to be chunk
	// 0's: the trailer and the commitment still say chunk 1.
	relabel := func(b []byte) []byte {
		b = bytes.Clone(b)
		putShareChunkHeader(b, int(b[3]), 0, len(b[ShareChunkHeaderSize:])/ShareSize)
		return b
	}
	expect("chunk 1 relabelled as chunk 0", metas[0], [][]byte{relabel(shares[1][0]), relabel(shares[1][1])}, ErrIntegrity)

	wrongLen := metas[0]
	wrongLen.PlainLen--
	expect("catalog length off by one", wrongLen, [][]byte{shares[0][0], shares[0][1]}, ErrIntegrity)
	wrongLen.PlainLen -= PartSize
	expect("catalog length a part short", wrongLen, [][]byte{shares[0][0], shares[0][1]}, ErrMalformedShareChunk)

	expect("too few", metas[0], [][]byte{shares[0][0]}, ErrTooFewShares)
	expect("duplicate x", metas[0], [][]byte{shares[0][0], shares[0][0]}, ErrDuplicateX)
	expect("x not in the combiner", metas[0], [][]byte{shares[0][0], shares[0][2]}, ErrBadX)
	expect("malformed", metas[0], [][]byte{shares[0][0], shares[0][1][:100]}, ErrMalformedShareChunk)
}

// zeroReader yields zeros without allocating, to feed a long stream.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSplitStreamMemoryBounded: 64 MiB through SplitStream allocates a fixed
// number of chunk buffers, not one per chunk.
func TestSplitStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("splits 64 MiB")
	}
	const size = 64 << 20
	xs := []int{1, 2, 3, 4, 5}
	sp, err := NewSplitter(3, xs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunks int
	emit := func(ChunkMeta, [][]byte) error { chunks++; return nil }

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := SplitStream(io.LimitReader(zeroReader{}, size), sp, emit)
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("SplitStream = %d, %v", n, err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	// One plaintext buffer and one share-chunk buffer per x: n+1 chunks.
	limit := uint64(len(xs)+2) * MaxShareChunkSize
	t.Logf("%d chunks, %d bytes allocated (%.1f chunk buffers), %d allocations",
		chunks, allocated, float64(allocated)/MaxShareChunkSize, after.Mallocs-before.Mallocs)
	if allocated > limit {
		t.Fatalf("allocated %d bytes for a %d-chunk stream, want at most %d (%d chunk buffers)", allocated, chunks, limit, len(xs)+2)
	}
	if perChunk := (after.Mallocs - before.Mallocs) / uint64(chunks); perChunk > 10 {
		t.Errorf("%d allocations per chunk", perChunk)
	}
}

func TestOpenChunkReusesDst(t *testing.T) {
	xs := []int{1, 2, 3}
	data := make([]byte, 5000)
	rand.Read(data)
	metas, shares := splitCollect(t, 2, xs, data)
	c, _ := NewCombiner([]int{2, 3})
	buf := make([]byte, 0, ChunkParts(len(data))*PartSize)
	allocs := testing.AllocsPerRun(5, func() {
		out, err := OpenChunk(c, metas[0], [][]byte{shares[0][1], shares[0][2]}, buf[:0])
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("OpenChunk: %v", err)
		}
	})
	// A few small ones (the share order, the hash state); none for the data.
	if allocs > 6 {
		t.Errorf("%.0f allocations per OpenChunk with a large enough dst", allocs)
	}
	if tail := buf[len(data):cap(buf)]; !allZero(tail) {
		t.Error("trailer (with the blinding value) left in dst's spare capacity")
	}
}

func benchXs(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i + 1
	}
	return xs
}

func BenchmarkSplitStream(b *testing.B) {
	for _, kn := range [][2]int{{2, 3}, {3, 5}} {
		k, n := kn[0], kn[1]
		b.Run(fmt.Sprintf("k=%d,n=%d", k, n), func(b *testing.B) {
			sp, err := NewSplitter(k, benchXs(n), nil)
			if err != nil {
				b.Fatal(err)
			}
			const size = 8 * ChunkPlainSize
			data := make([]byte, size)
			rand.Read(data)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := SplitStream(bytes.NewReader(data), sp, func(ChunkMeta, [][]byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenChunk(b *testing.B) {
	for _, kn := range [][2]int{{2, 3}, {3, 5}} {
		k, n := kn[0], kn[1]
		b.Run(fmt.Sprintf("k=%d,n=%d", k, n), func(b *testing.B) {
			xs := benchXs(n)
			data := make([]byte, ChunkPlainSize)
			rand.Read(data)
			metas, shares := splitCollect(b, k, xs, data)
			// Worst spread of x: 1, the middle, n (as in BenchmarkCombine).
			idx := []int{0, n / 2, n - 1}[:k]
			if k == 2 {
				idx = []int{0, n - 1}
			}
			sub := make([]int, k)
			pick := make([][]byte, k)
			for j, i := range idx {
				sub[j], pick[j] = xs[i], shares[0][i]
			}
			c, err := NewCombiner(sub)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, ChunkParts(ChunkPlainSize)*PartSize)
			b.SetBytes(ChunkPlainSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := OpenChunk(c, metas[0], pick, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
