// Package pedersen implements Pedersen commitments on NIST P-256 to the SHA-256 of a message.
//
// A commitment is C = m*G + r*H where G is the standard P-256 generator,
// m = SHA-256(msg) reduced modulo the group order n, r is a secret blinding
// scalar and H is a second generator derived from a fixed public label by
// try-and-increment (see deriveH), so that nobody knows log_G(H).
//
// The commitment is perfectly hiding (for uniform r, C is a uniform group
// element whatever msg is) and computationally binding (opening C to two
// messages yields log_G(H)).
package pedersen

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"filippo.io/nistec"
)

// HLabel is the domain-separation label from which H is derived.
const HLabel = "qasmat-pedersen-H-v1"

// ScalarSize is the encoded size of a Scalar.
const ScalarSize = 32

// CommitmentSize is the encoded size of a Commitment (compressed SEC 1 point).
const CommitmentSize = 33

// Scalar is a big-endian integer modulo the P-256 group order n. Blinding
// values are always in [1, n).
type Scalar [ScalarSize]byte

// Commitment is a P-256 point in compressed SEC 1 form (0x02 or 0x03 || x).
type Commitment [CommitmentSize]byte

// ErrInvalidCommitment is returned by ParseCommitment for any encoding that
// is not a valid, non-identity, compressed P-256 point.
var ErrInvalidCommitment = errors.New("pedersen: invalid commitment encoding")

// order is n, the order of the P-256 group, as big-endian 64-bit limbs
// (most significant first).
var order = [4]uint64{0xffffffff00000000, 0xffffffffffffffff, 0xbce6faada7179e84, 0xf3b9cac2fc632551}

// hPoint is H, computed once on first use.
var hPoint = sync.OnceValue(func() *nistec.P256Point {
	p, _, err := deriveH()
	if err != nil {
		// The derivation is deterministic and succeeds at a fixed counter
		// (pinned by the tests); failing here means a broken build.
		panic(err)
	}
	return p
})

// hTable holds k * 16^j * H for every 4-bit window j of a scalar and every
// nonzero digit k (entry [j][k-1]), about 90 KiB. With it r*H costs 64
// additions instead of a full variable-base multiplication, which makes a
// commitment cost under a tenth of hashing a 1 MiB chunk.
var hTable = sync.OnceValue(func() *[64][15]nistec.P256Point {
	t := new([64][15]nistec.P256Point)
	base := nistec.NewP256Point().Set(hPoint())
	for j := range t {
		t[j][0].Set(base)
		for k := 1; k < 15; k++ {
			t[j][k].Add(&t[j][k-1], base)
		}
		base.Add(&t[j][14], base) // 16 * base
	}
	return t
})

// mulH sets p = r*H and returns p. It runs in time independent of r: every
// window reads all 15 table entries and selects one with a mask.
func mulH(p *nistec.P256Point, r *Scalar) *nistec.P256Point {
	t := hTable()
	p.Set(nistec.NewP256Point())
	var sel nistec.P256Point
	identity := nistec.NewP256Point()
	for j := range 64 {
		// Window j is bits 4j..4j+3 of the big-endian r.
		b := r[31-j/2]
		digit := b >> (4 * (j & 1)) & 0x0f
		sel.Set(identity)
		for k := range 15 {
			sel.Select(&t[j][k], &sel, subtle.ConstantTimeByteEq(digit, byte(k+1)))
		}
		p.Add(p, &sel)
	}
	return p
}

// deriveH returns H and the counter at which the try-and-increment search
// succeeded: for i = 0, 1, 2, ... x = SHA-256(HLabel || BE uint32 i) and H is
// the first 0x02 || x that decodes as a valid compressed point. Since x is a
// hash output, nobody chose it with knowledge of a discrete logarithm.
func deriveH() (*nistec.P256Point, uint32, error) {
	var in [len(HLabel) + 4]byte
	copy(in[:], HLabel)
	var enc [CommitmentSize]byte
	enc[0] = 0x02
	for i := uint32(0); i < 1024; i++ {
		binary.BigEndian.PutUint32(in[len(HLabel):], i)
		x := sha256.Sum256(in[:])
		copy(enc[1:], x[:])
		if p, err := nistec.NewP256Point().SetBytes(enc[:]); err == nil {
			return p, i, nil
		}
	}
	return nil, 0, errors.New("pedersen: no generator found for label")
}

// H returns the compressed encoding of the second generator H.
func H() Commitment {
	var c Commitment
	copy(c[:], hPoint().BytesCompressed())
	return c
}

// RandomScalar returns a uniformly random scalar in [1, n) read from rand
// (crypto/rand when rand is nil), by rejection sampling of 32-byte values.
func RandomScalar(src io.Reader) (Scalar, error) {
	if src == nil {
		src = rand.Reader
	}
	var s Scalar
	// Each try is rejected with probability about 2^-32; a reader that
	// keeps producing values >= n is broken, so give up after a few.
	for range 64 {
		if _, err := io.ReadFull(src, s[:]); err != nil {
			return Scalar{}, fmt.Errorf("pedersen: reading randomness: %w", err)
		}
		if s.Valid() {
			return s, nil
		}
	}
	return Scalar{}, errors.New("pedersen: randomness source returned no scalar in range")
}

// limbs returns s as big-endian 64-bit limbs.
func (s *Scalar) limbs() [4]uint64 {
	return [4]uint64{
		binary.BigEndian.Uint64(s[0:]),
		binary.BigEndian.Uint64(s[8:]),
		binary.BigEndian.Uint64(s[16:]),
		binary.BigEndian.Uint64(s[24:]),
	}
}

// lessThanOrder reports (as 1 or 0, in constant time) whether s < n.
func (s *Scalar) lessThanOrder() uint64 {
	l := s.limbs()
	var b uint64
	_, b = bits.Sub64(l[3], order[3], 0)
	_, b = bits.Sub64(l[2], order[2], b)
	_, b = bits.Sub64(l[1], order[1], b)
	_, b = bits.Sub64(l[0], order[0], b)
	return b
}

// Valid reports whether s is in [1, n), the range of a blinding value, in
// constant time.
func (s *Scalar) Valid() bool {
	var acc byte
	for _, v := range s {
		acc |= v
	}
	nonZero := uint64(subtle.ConstantTimeByteEq(acc, 0) ^ 1)
	return nonZero&s.lessThanOrder() == 1
}

// messageScalar returns SHA-256(msg) mod n. Since 2^256 < 2n, one
// conditional subtraction reduces it; it is done in constant time because the
// message (and so its hash) is secret.
func messageScalar(msg []byte) Scalar {
	return digestScalar(sha256.Sum256(msg))
}

func digestScalar(d [32]byte) Scalar {
	s := Scalar(d)
	l := s.limbs()
	var t [4]uint64
	var b uint64
	t[3], b = bits.Sub64(l[3], order[3], 0)
	t[2], b = bits.Sub64(l[2], order[2], b)
	t[1], b = bits.Sub64(l[1], order[1], b)
	t[0], b = bits.Sub64(l[0], order[0], b)
	keep := b - 1 // all ones if d >= n (no borrow): take the difference
	for i := range l {
		l[i] ^= (l[i] ^ t[i]) & keep
		binary.BigEndian.PutUint64(s[8*i:], l[i])
	}
	return s
}

// Commit returns C = m*G + r*H with m = SHA-256(msg) mod n.
func Commit(msg []byte, r Scalar) Commitment {
	return CommitDigest(sha256.Sum256(msg), r)
}

// CommitDigest is Commit for a caller that has already computed
// digest = SHA-256(msg), for example by streaming msg through a hash.
func CommitDigest(digest [32]byte, r Scalar) Commitment {
	m := digestScalar(digest)
	mG, err := nistec.NewP256Point().ScalarBaseMult(m[:])
	if err != nil {
		panic(err) // unreachable: m is 32 bytes
	}
	rH := mulH(nistec.NewP256Point(), &r)
	var c Commitment
	// The sum is the identity only if m = -r*log_G(H) mod n, which finding
	// would break the commitment itself; it then encodes as all zeros, which
	// ParseCommitment and Verify never accept.
	copy(c[:], mG.Add(mG, rH).BytesCompressed())
	return c
}

// Verify reports whether c opens to msg with blinding r. The comparison is in
// constant time.
func Verify(c Commitment, msg []byte, r Scalar) bool {
	return VerifyDigest(c, sha256.Sum256(msg), r)
}

// VerifyDigest is Verify for digest = SHA-256(msg).
func VerifyDigest(c Commitment, digest [32]byte, r Scalar) bool {
	want := CommitDigest(digest, r)
	return subtle.ConstantTimeCompare(c[:], want[:])&int(c.nonIdentity()) == 1
}

// nonIdentity is 1 unless c is the all-zero encoding CommitDigest gives the
// identity.
func (c *Commitment) nonIdentity() byte {
	return c[0] >> 1 & 1 // 0x02 and 0x03 have bit 1 set, 0x00 does not
}

// ParseCommitment validates b as a compressed P-256 point (33 bytes, prefix
// 0x02 or 0x03, x < p, on the curve; the identity has no such encoding) and
// returns it as a Commitment.
func ParseCommitment(b []byte) (Commitment, error) {
	if len(b) != CommitmentSize {
		return Commitment{}, fmt.Errorf("%w: length %d, want %d", ErrInvalidCommitment, len(b), CommitmentSize)
	}
	if b[0] != 0x02 && b[0] != 0x03 {
		return Commitment{}, fmt.Errorf("%w: prefix 0x%02x is not a compressed point", ErrInvalidCommitment, b[0])
	}
	p, err := nistec.NewP256Point().SetBytes(b)
	if err != nil {
		return Commitment{}, fmt.Errorf("%w: %v", ErrInvalidCommitment, err)
	}
	if p.IsInfinity() == 1 {
		return Commitment{}, fmt.Errorf("%w: identity point", ErrInvalidCommitment)
	}
	return Commitment(b), nil
}

// Bytes returns the 33-byte encoding of c.
func (c Commitment) Bytes() []byte { return c[:] }
