package field

import (
	"encoding/binary"
	"math/bits"
)

// The loops below work on four words at a time: the four products first,
// then each carry chain over the four words in a row, so that the compiler
// keeps the carry in the flags (ADC/SBB) instead of materialising it after
// every word. Words is a multiple of four.

// reduce sets dst = hi*2^8192 + lo mod P, for any lo and hi < 2^64-1.
//
// Since 2^8192 = P + C with C < 2^8126, the value is congruent to
// u = lo + hi*C < 2^8192 + 2^8190 < 2P, so at most one P is to be
// subtracted. fold computes u + C instead: it overflows 8192 bits exactly
// when u >= P, and then its low 8192 bits are u - P; otherwise u is the
// result and C is taken back off. The choice is made by a mask, not a
// branch, so the time does not depend on the value.
func reduce(dst, lo *Elem, hi uint64) {
	var t Elem
	mask := fold(&t, lo, hi)
	subC(dst, &t, mask)
}

// fold sets t = lo + (hi+1)*C mod 2^8192 (hi < 2^64-1) and returns the mask
// for subC: all ones when C must still be subtracted, zero when t is done.
func fold(t, lo *Elem, hi uint64) (mask uint64) {
	h := hi + 1
	var k, cy uint64 // product carry, sum carry
	for i := 0; i < Words; i += 4 {
		cc := (*[4]uint64)(c[i:])
		ll := (*[4]uint64)(lo[i:])
		tt := (*[4]uint64)(t[i:])
		h0, l0 := bits.Mul64(h, cc[0])
		h1, l1 := bits.Mul64(h, cc[1])
		h2, l2 := bits.Mul64(h, cc[2])
		h3, l3 := bits.Mul64(h, cc[3])
		var x uint64
		l0, x = bits.Add64(l0, k, 0)
		l1, x = bits.Add64(l1, h0, x)
		l2, x = bits.Add64(l2, h1, x)
		l3, x = bits.Add64(l3, h2, x)
		k = h3 + x
		l0, cy = bits.Add64(l0, ll[0], cy)
		l1, cy = bits.Add64(l1, ll[1], cy)
		l2, cy = bits.Add64(l2, ll[2], cy)
		l3, cy = bits.Add64(l3, ll[3], cy)
		tt[0], tt[1], tt[2], tt[3] = l0, l1, l2, l3
	}
	// (hi+1)*C < 2^8190 leaves no product carry (k == 0); cy is bit 8192.
	return cy - 1
}

// subC sets dst = t - (C & mask) mod 2^8192.
func subC(dst, t *Elem, mask uint64) {
	var b uint64
	for i := 0; i < Words; i += 4 {
		tt := (*[4]uint64)(t[i:])
		cc := (*[4]uint64)(c[i:])
		d := (*[4]uint64)(dst[i:])
		// The masking is done before the chain: an AND between two
		// SBBs would clobber the carry flag and force the compiler to
		// recompute the chain.
		m0, m1, m2, m3 := cc[0]&mask, cc[1]&mask, cc[2]&mask, cc[3]&mask
		d[0], b = bits.Sub64(tt[0], m0, b)
		d[1], b = bits.Sub64(tt[1], m1, b)
		d[2], b = bits.Sub64(tt[2], m2, b)
		d[3], b = bits.Sub64(tt[3], m3, b)
	}
}

// subCBytes is subC writing little-endian bytes into dst.
func subCBytes(dst []byte, t *Elem, mask uint64) {
	out := (*[Bytes]byte)(dst)
	var b uint64
	for i := 0; i < Words; i += 4 {
		tt := (*[4]uint64)(t[i:])
		cc := (*[4]uint64)(c[i:])
		m0, m1, m2, m3 := cc[0]&mask, cc[1]&mask, cc[2]&mask, cc[3]&mask
		var d0, d1, d2, d3 uint64
		d0, b = bits.Sub64(tt[0], m0, b)
		d1, b = bits.Sub64(tt[1], m1, b)
		d2, b = bits.Sub64(tt[2], m2, b)
		d3, b = bits.Sub64(tt[3], m3, b)
		q := (*[32]byte)(out[8*i:])
		binary.LittleEndian.PutUint64(q[0:], d0)
		binary.LittleEndian.PutUint64(q[8:], d1)
		binary.LittleEndian.PutUint64(q[16:], d2)
		binary.LittleEndian.PutUint64(q[24:], d3)
	}
}

// IsCanonical reports whether e < P, in time independent of the value.
func (e *Elem) IsCanonical() bool {
	var b uint64
	for i := 0; i < Words; i += 4 {
		ee := (*[4]uint64)(e[i:])
		pp := (*[4]uint64)(p[i:])
		_, b = bits.Sub64(ee[0], pp[0], b)
		_, b = bits.Sub64(ee[1], pp[1], b)
		_, b = bits.Sub64(ee[2], pp[2], b)
		_, b = bits.Sub64(ee[3], pp[3], b)
	}
	return b == 1
}
