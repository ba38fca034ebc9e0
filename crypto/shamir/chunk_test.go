package shamir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qasmat/qasmat/crypto/field"
	"github.com/qasmat/qasmat/crypto/pedersen"
)

// counterStream is the deterministic stand-in for a CSPRNG used by the chunk
// fixtures: SHA-256(seed || BE uint64 0) || SHA-256(seed || BE uint64 1) || ...
// (the same construction as testdata/chunk_reference.py).
type counterStream struct {
	seed    []byte
	counter uint64
	buf     []byte
}

func (s *counterStream) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(s.buf) == 0 {
			in := binary.BigEndian.AppendUint64(append([]byte(nil), s.seed...), s.counter)
			d := sha256.Sum256(in)
			s.buf = d[:]
			s.counter++
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return len(p), nil
}

type fixtureShare struct {
	x      int
	digest [32]byte
	enc    []byte
}

type fixtureChunk struct {
	meta   ChunkMeta
	r      pedersen.Scalar
	shares []fixtureShare
}

type fixtureCase struct {
	name                string
	k                   int
	xs                  []int
	coefSeed, blindSeed []byte
	data                []byte
	chunks              []fixtureChunk
	fileHash            [32]byte
}

func fixtureHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("fixture: bad hex: %v", err)
	}
	return b
}

// readChunkFixtures parses testdata/chunk-v1.txt, written by
// testdata/chunk_reference.py.
func readChunkFixtures(t *testing.T) []*fixtureCase {
	t.Helper()
	f, err := os.Open("testdata/chunk-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	var cases []*fixtureCase
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		kv := map[string]string{}
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		var cur *fixtureCase
		if len(cases) > 0 {
			cur = cases[len(cases)-1]
		}
		switch fields[0] {
		case "case":
			c := &fixtureCase{name: fields[1], coefSeed: fixtureHex(t, kv["coefseed"]), blindSeed: fixtureHex(t, kv["blindseed"])}
			c.k, _ = strconv.Atoi(kv["k"])
			for _, s := range strings.Split(kv["xs"], ",") {
				x, _ := strconv.Atoi(s)
				c.xs = append(c.xs, x)
			}
			cases = append(cases, c)
		case "data":
			if len(fields) > 1 {
				cur.data = fixtureHex(t, fields[1])
			}
		case "chunk":
			var ch fixtureChunk
			idx, _ := strconv.ParseUint(kv["index"], 10, 32)
			n, _ := strconv.ParseUint(kv["len"], 10, 32)
			ch.meta.Index, ch.meta.PlainLen = uint32(idx), uint32(n)
			cm, err := pedersen.ParseCommitment(fixtureHex(t, kv["commitment"]))
			if err != nil {
				t.Fatal(err)
			}
			ch.meta.Commitment = cm
			ch.r = pedersen.Scalar(fixtureHex(t, kv["r"]))
			cur.chunks = append(cur.chunks, ch)
		case "share":
			ch := &cur.chunks[len(cur.chunks)-1]
			x, _ := strconv.Atoi(kv["x"])
			s := fixtureShare{x: x, digest: [32]byte(fixtureHex(t, kv["digest"])), enc: fixtureHex(t, kv["bytes"])}
			ch.shares = append(ch.shares, s)
			ch.meta.Digests = append(ch.meta.Digests, s.digest)
		case "filehash":
			cur.fileHash = [32]byte(fixtureHex(t, fields[1]))
		default:
			t.Fatalf("fixture: unknown record %q", fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no fixture cases")
	}
	return cases
}

// TestChunkFixturesReproduce checks the chunk layout, the share-chunk
// encoding, the commitment message and the file hash against the
// independent Python reference: with the same deterministic randomness,
// SplitStream must write the same bytes.
func TestChunkFixturesReproduce(t *testing.T) {
	for _, fc := range readChunkFixtures(t) {
		t.Run(fc.name, func(t *testing.T) {
			sp, err := NewSplitter(fc.k, fc.xs, &counterStream{seed: fc.coefSeed})
			if err != nil {
				t.Fatal(err)
			}
			var metas []ChunkMeta
			size, err := splitStream(bytes.NewReader(fc.data), sp, &counterStream{seed: fc.blindSeed}, func(meta ChunkMeta, shares [][]byte) error {
				i := len(metas)
				if i >= len(fc.chunks) {
					t.Fatalf("more chunks than the reference's %d", len(fc.chunks))
				}
				want := fc.chunks[i]
				if meta.Index != want.meta.Index || meta.PlainLen != want.meta.PlainLen {
					t.Errorf("chunk %d: index %d len %d, reference %d %d", i, meta.Index, meta.PlainLen, want.meta.Index, want.meta.PlainLen)
				}
				if meta.Commitment != want.meta.Commitment {
					t.Errorf("chunk %d: commitment %x, reference %x", i, meta.Commitment, want.meta.Commitment)
				}
				for j := range shares {
					if !bytes.Equal(shares[j], want.shares[j].enc) {
						t.Errorf("chunk %d x=%d: share chunk differs from the reference", i, fc.xs[j])
					}
					if meta.Digests[j] != want.shares[j].digest {
						t.Errorf("chunk %d x=%d: digest %x, reference %x", i, fc.xs[j], meta.Digests[j], want.shares[j].digest)
					}
				}
				metas = append(metas, meta)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(fc.data)) || len(metas) != len(fc.chunks) {
				t.Fatalf("size %d in %d chunks, reference %d in %d", size, len(metas), len(fc.data), len(fc.chunks))
			}
			if got := FileHash(size, metas); got != fc.fileHash {
				t.Errorf("file hash %x, reference %x", got, fc.fileHash)
			}
		})
	}
}

// TestChunkFixturesOpen rebuilds the reference's share chunks with every
// k-subset: an old stored file must stay readable.
func TestChunkFixturesOpen(t *testing.T) {
	for _, fc := range readChunkFixtures(t) {
		t.Run(fc.name, func(t *testing.T) {
			for _, ch := range fc.chunks {
				start := int(ch.meta.Index) * ChunkPlainSize
				data := fc.data[start : start+int(ch.meta.PlainLen)]
				if !pedersen.Verify(ch.meta.Commitment, chunkMessage(ch.meta.Index, data), ch.r) {
					t.Errorf("reference commitment does not open with the reference r")
				}
				chunkSubsets(len(fc.xs), fc.k, func(idx []int) {
					xs := make([]int, len(idx))
					shares := make([][]byte, len(idx))
					// Feed the share chunks in reverse: OpenChunk matches by x.
					for j, i := range idx {
						xs[j] = fc.xs[i]
						shares[len(idx)-1-j] = ch.shares[i].enc
					}
					c, err := NewCombiner(xs)
					if err != nil {
						t.Fatal(err)
					}
					got, err := OpenChunk(c, ch.meta, shares, []byte("prefix"))
					if err != nil {
						t.Fatalf("xs %v: %v", xs, err)
					}
					if !bytes.Equal(got, append([]byte("prefix"), data...)) {
						t.Fatalf("xs %v: wrong data", xs)
					}
				})
			}
		})
	}
}

func chunkMessage(index uint32, data []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte(chunkLabel), index), data...)
}

// chunkSubsets calls f with every k-element subset of 0..n-1.
func chunkSubsets(n, k int, f func(idx []int)) {
	idx := make([]int, k)
	var rec func(pos, start int)
	rec = func(pos, start int) {
		if pos == k {
			f(idx)
			return
		}
		for i := start; i <= n-(k-pos); i++ {
			idx[pos] = i
			rec(pos+1, i+1)
		}
	}
	rec(0, 0)
}

func TestCommitChunkMessage(t *testing.T) {
	r, err := pedersen.RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some chunk data")
	c := commitChunk(7, data, r)
	if !pedersen.Verify(c, chunkMessage(7, data), r) {
		t.Fatal("chunk commitment is not to label || index || data")
	}
	if pedersen.Verify(c, chunkMessage(8, data), r) {
		t.Fatal("chunk commitment does not bind the index")
	}
}

func TestDecodeShareChunk(t *testing.T) {
	good := make([]byte, ShareChunkSize(PartSize+1))
	putShareChunkHeader(good, 300, 9, 3)
	x, index, parts, err := DecodeShareChunk(good)
	if err != nil || x != 300 || index != 9 || len(parts) != 3*ShareSize || &parts[0] != &good[ShareChunkHeaderSize] {
		t.Fatalf("DecodeShareChunk(good) = %d, %d, %d bytes, %v", x, index, len(parts), err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short header":   good[:11],
		"header only":    good[:ShareChunkHeaderSize],
		"version 0":      mutate(func(b []byte) []byte { b[0] = 0; return b }),
		"version 2":      mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"flags":          mutate(func(b []byte) []byte { b[1] = 1; return b }),
		"x = 0":          mutate(func(b []byte) []byte { b[2], b[3] = 0, 0; return b }),
		"zero parts":     mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0); return b[:ShareChunkHeaderSize] }),
		"count too big":  mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], MaxChunkParts+1); return b }),
		"count > len":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 4); return b }),
		"count < len":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 2); return b }),
		"truncated":      good[:len(good)-1],
		"one extra byte": append(append([]byte(nil), good...), 0),
	} {
		if _, _, _, err := DecodeShareChunk(b); !errors.Is(err, ErrMalformedShareChunk) {
			t.Errorf("%s: err = %v, want ErrMalformedShareChunk", name, err)
		}
	}
	full := make([]byte, MaxShareChunkSize)
	putShareChunkHeader(full, 1, 0, MaxChunkParts)
	if _, _, _, err := DecodeShareChunk(full); err != nil {
		t.Errorf("full share chunk: %v", err)
	}
	if MaxShareChunkSize != 12+1024*1024 {
		t.Errorf("MaxShareChunkSize = %d, want 12 + 1024*1024", MaxShareChunkSize)
	}
}

func FuzzDecodeShareChunk(f *testing.F) {
	seed := make([]byte, ShareChunkSize(0))
	putShareChunkHeader(seed, 1, 0, 1)
	f.Add(seed)
	f.Add(seed[:ShareChunkHeaderSize])
	f.Add([]byte{1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, index, parts, err := DecodeShareChunk(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedShareChunk) {
				t.Fatalf("error %v is not ErrMalformedShareChunk", err)
			}
			return
		}
		// Decode -> encode gives back the same bytes.
		enc := make([]byte, ShareChunkHeaderSize, ShareChunkHeaderSize+len(parts))
		putShareChunkHeader(enc, x, index, len(parts)/ShareSize)
		enc = append(enc, parts...)
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip %x -> %x", b, enc)
		}
	})
}

func TestFileHash(t *testing.T) {
	metas := make([]ChunkMeta, 3)
	for i := range metas {
		r, _ := pedersen.RandomScalar(nil)
		metas[i] = ChunkMeta{Index: uint32(i), PlainLen: ChunkPlainSize, Commitment: commitChunk(uint32(i), []byte{byte(i)}, r)}
	}
	size := int64(2*ChunkPlainSize + 5)
	h := FileHash(size, metas)

	// Known answer, composed independently of FileHash.
	var msg []byte
	msg = append(msg, "qasmat-file-v1"...)
	msg = binary.BigEndian.AppendUint64(msg, uint64(size))
	for _, m := range metas {
		msg = append(msg, m.Commitment[:]...)
	}
	if h != sha256.Sum256(msg) {
		t.Fatal("FileHash is not SHA-256(label || size || C_0 || C_1 || C_2)")
	}
	if FileHash(size, metas) != h {
		t.Fatal("FileHash is not deterministic")
	}
	if FileHash(size+1, metas) == h {
		t.Error("FileHash ignores the size")
	}
	for i := range metas {
		for bit := 0; bit < 8*pedersen.CommitmentSize; bit += 37 {
			changed := append([]ChunkMeta(nil), metas...)
			changed[i].Commitment[bit/8] ^= 1 << (bit % 8)
			if FileHash(size, changed) == h {
				t.Errorf("FileHash ignores bit %d of chunk %d's commitment", bit, i)
			}
		}
	}
	if FileHash(size, metas[:2]) == h {
		t.Error("FileHash ignores a missing chunk")
	}
	swapped := []ChunkMeta{metas[1], metas[0], metas[2]}
	if FileHash(size, swapped) == h {
		t.Error("FileHash ignores chunk order")
	}
}

// TestMalleableSharesCaught plays a storage server that alters its share so
// that the rebuilt chunk shifts by a chosen amount (Shamir shares are
// linear). The digest check would catch it first; OpenChunk must catch it
// on its own too: in the data by the commitment, in the padding or the
// trailer's spare bytes by the zero checks.
func TestMalleableSharesCaught(t *testing.T) {
	xs := []int{1, 3, 5}
	data := []byte("pay 100 to alice")
	metas, shares := splitCollect(t, 3, xs, data)
	meta := metas[0]
	p := field.ModulusBig()
	// lambda_0 = x1 x2 / ((x1 - x0)(x2 - x0)) for the share at x = 1.
	lambda := new(big.Int).Mul(big.NewInt(3*5), new(big.Int).ModInverse(big.NewInt((3-1)*(5-1)), p))
	lambdaInv := new(big.Int).ModInverse(lambda, p)

	// shift returns share chunk 0 altered so the rebuilt part gets +e.
	shift := func(part int, e *big.Int) []byte {
		enc := append([]byte(nil), shares[0][0]...)
		s := enc[ShareChunkHeaderSize+part*ShareSize : ShareChunkHeaderSize+(part+1)*ShareSize]
		v := new(big.Int).SetBytes(reverse(s))
		v.Add(v, new(big.Int).Mul(e, lambdaInv)).Mod(v, p)
		copy(s, reverse(v.FillBytes(make([]byte, ShareSize))))
		return enc
	}
	c, err := NewCombiner(xs)
	if err != nil {
		t.Fatal(err)
	}
	open := func(first []byte) ([]byte, error) {
		return OpenChunk(c, meta, [][]byte{first, shares[0][1], shares[0][2]}, nil)
	}
	if got, err := open(shares[0][0]); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("untouched shares: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		part int
		e    *big.Int
	}{
		// data[0] 'p' -> 'q': little-endian, so +1 at byte 0.
		"data byte":            {0, big.NewInt(1)},
		"padding byte":         {0, new(big.Int).Lsh(big.NewInt(1), 8*uint(len(data)))},
		"trailer spare byte":   {1, new(big.Int).Lsh(big.NewInt(1), 8*trailerUsedBytes)},
		"trailer blinding":     {1, new(big.Int).Lsh(big.NewInt(1), 8*trailerBlindOff)},
		"trailer data length":  {1, new(big.Int).Lsh(big.NewInt(1), 8*trailerLenOff)},
		"part top byte (1023)": {0, new(big.Int).Lsh(big.NewInt(1), 8*PartSize)},
	} {
		got, err := open(shift(tc.part, tc.e))
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: err = %v, want ErrIntegrity", name, err)
		}
		if len(got) != 0 {
			t.Errorf("%s: returned %q with the error", name, got)
		}
	}
}

func reverse(b []byte) []byte {
	r := make([]byte, len(b))
	for i, v := range b {
		r[len(b)-1-i] = v
	}
	return r
}
