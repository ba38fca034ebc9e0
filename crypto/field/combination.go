package field

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
)

// ErrCombinationTooLarge means the weights or denominator of a Combination
// do not fit the fast representation.
var ErrCombinationTooLarge = errors.New("field: combination weights too large")

// Combination computes (w_0*a_0 + ... + w_{k-1}*a_{k-1}) / D mod P for fixed
// small signed integer weights w_i and a small denominator D >= 1, without
// any full multiplication: the weighted sum is accumulated in 8192 bits plus
// one top word, reduced once, and divided exactly by D (see Eval).
// Lagrange interpolation at 0 with small x coordinates has this shape.
// A Combination is not safe for concurrent use (it keeps carries between
// passes).
type Combination struct {
	w      []weight
	base   Elem   // N*P mod 2^8192, N = sum of |w_i| over negative w_i
	baseHi uint64 // and its top word
	d      uint64 // D
	shift  uint   // D = 2^shift * odd
	odd    uint64
	oddInv uint64         // odd^-1 mod 2^64
	pInv   uint64         // P^-1 mod D
	pow    *[Words]uint64 // 2^(64j) mod D, when odd > 1
	negC   uint64         // -C mod D, when odd > 1
}

type weight struct {
	w   uint64 // |w_i|
	neg bool   // w_i < 0
}

// NewCombination prepares a Combination. It fails with
// ErrCombinationTooLarge unless the sum of |w_i| is below 2^64-1.
func NewCombination(w []int64, d uint64) (*Combination, error) {
	if len(w) == 0 || d == 0 {
		return nil, errors.New("field: combination needs weights and a non-zero denominator")
	}
	l := &Combination{d: d, w: make([]weight, len(w))}
	var n, total uint64
	for i, wi := range w {
		a := uint64(wi)
		if wi < 0 {
			a = -a // also right for math.MinInt64
			n += a
		}
		l.w[i] = weight{a, wi < 0}
		var carry uint64
		total, carry = bits.Add64(total, a, 0)
		if carry != 0 || total == ^uint64(0) {
			return nil, ErrCombinationTooLarge
		}
	}
	// The accumulator starts at N*P so that subtracting |w_i|*a_i with
	// a_i < P never goes below zero, and ends below (sum |w_i|)*P, so its
	// top word is below 2^64-1 as fold needs.
	var carry uint64
	for i := range Words {
		h, lo := bits.Mul64(p[i], n)
		var cc uint64
		l.base[i], cc = bits.Add64(lo, carry, 0)
		carry = h + cc
	}
	l.baseHi = carry

	l.shift = uint(bits.TrailingZeros64(d))
	l.odd = d >> l.shift
	// Newton's iteration doubles the correct low bits of the inverse each
	// time; odd*odd = 1 mod 8 gives 3 bits to start from.
	inv := l.odd
	for range 5 {
		inv *= 2 - l.odd*inv
	}
	l.oddInv = inv
	if d > 1 {
		db := new(big.Int).SetUint64(d)
		l.pInv = new(big.Int).ModInverse(new(big.Int).Mod(pBig, db), db).Uint64()
	}
	if l.odd > 1 {
		db := new(big.Int).SetUint64(d)
		l.negC = new(big.Int).Mod(new(big.Int).Neg(c.Big()), db).Uint64()
		l.pow = new([Words]uint64)
		r := uint64(1)
		for j := range l.pow {
			l.pow[j] = r
			r = bits.Rem64(r, 0, d) // r * 2^64 mod d
		}
	}
	return l, nil
}

// Eval sets e to the combination of the values a_i, given as Bytes-byte
// little-endian encodings in a (one per weight), and reports whether every
// one was canonical (exactly Bytes long and below P); if one was not, e
// holds no meaningful value. It does not allocate.
//
// With S = N*P + sum w_i*a_i, reduced to S' < P (fold leaves
// S' = t - (C & mask), computed on the fly by the passes below): the division is exact
// after adding m*P with m = -S'*P^-1 mod D, and (S' + m*P)/D < P needs no
// further reduction. Dividing out 2^shift is a shift; dividing by the odd
// part goes from the low word up, one multiply by odd^-1 mod 2^64 per word
// (Hensel division), which is exact because the quotient fits in 8192 bits.
func (l *Combination) Eval(e *Elem, a [][]byte) bool {
	if len(a) != len(l.w) {
		return false
	}
	for _, b := range a {
		if len(b) != Bytes {
			return false
		}
	}
	t := new(Elem) // on the stack: escape analysis keeps it there
	hi, ok := l.accumulate(t, a)
	mask := fold(t, t, hi)
	// S' = t - (C & mask). As -C = P - 2^8192, S' + m*P is also
	// t + (m + sub)*P - sub*2^8192 with sub = mask & 1, which lets the
	// division pass add a multiple of P instead of subtracting C first.
	sub := mask & 1
	switch {
	case l.d == 1:
		subC(e, t, mask)
	case l.odd == 1:
		// m depends only on the low word of S' when D is a power of two.
		s0 := t[0] - (c[0] & mask)
		m := l.pInv * (-s0) & (l.d - 1)
		top := addMulP(t, m+sub) - sub
		shiftRight(e, t, top, l.shift)
	default:
		r := l.remainder(t, sub)
		h, lw := bits.Mul64((l.d-r)%l.d, l.pInv)
		m := bits.Rem64(h, lw, l.d)
		top := addMulP(t, m+sub) - sub
		if l.shift != 0 {
			shiftRight(t, t, top, l.shift)
			top = 0
		}
		l.hensel(e, t)
	}
	return ok
}

// accumulate sets lo + hi*2^8192 = N*P + sum w_i*a_i and checks a_i < P,
// one pass per input over the running sum.
func (l *Combination) accumulate(lo *Elem, a [][]byte) (hi uint64, ok bool) {
	hi = l.baseHi
	src := &l.base
	canon := uint64(1)
	for i, wt := range l.w {
		var top, c uint64
		if wt.neg {
			top, c = mulSubBytes(lo, src, a[i], wt.w)
			hi -= top
		} else {
			top, c = mulAddBytes(lo, src, a[i], wt.w)
			hi += top
		}
		canon &= c
		src = lo
	}
	// The top word is exact: the true sum is below 2^8256 and not negative.
	return hi, canon == 1
}

// mulAddBytes sets dst = src + w*y mod 2^8192 for y given as Bytes
// little-endian bytes, and returns the part that overflowed 8192 bits and
// whether y < P (1) or not (0).
func mulAddBytes(dst, src *Elem, y []byte, w uint64) (top, canon uint64) {
	in := (*[Bytes]byte)(y)
	var k, cy, b uint64
	for i := 0; i < Words; i += 4 {
		q := (*[32]byte)(in[8*i:])
		ss := (*[4]uint64)(src[i:])
		dd := (*[4]uint64)(dst[i:])
		pp := (*[4]uint64)(p[i:])
		y0 := binary.LittleEndian.Uint64(q[0:])
		y1 := binary.LittleEndian.Uint64(q[8:])
		y2 := binary.LittleEndian.Uint64(q[16:])
		y3 := binary.LittleEndian.Uint64(q[24:])
		_, b = bits.Sub64(y0, pp[0], b)
		_, b = bits.Sub64(y1, pp[1], b)
		_, b = bits.Sub64(y2, pp[2], b)
		_, b = bits.Sub64(y3, pp[3], b)
		h0, l0 := bits.Mul64(y0, w)
		h1, l1 := bits.Mul64(y1, w)
		h2, l2 := bits.Mul64(y2, w)
		h3, l3 := bits.Mul64(y3, w)
		var c uint64
		l0, c = bits.Add64(l0, k, 0)
		l1, c = bits.Add64(l1, h0, c)
		l2, c = bits.Add64(l2, h1, c)
		l3, c = bits.Add64(l3, h2, c)
		k = h3 + c
		dd[0], cy = bits.Add64(ss[0], l0, cy)
		dd[1], cy = bits.Add64(ss[1], l1, cy)
		dd[2], cy = bits.Add64(ss[2], l2, cy)
		dd[3], cy = bits.Add64(ss[3], l3, cy)
	}
	return k + cy, b
}

// mulSubBytes is mulAddBytes subtracting: dst = src - w*y mod 2^8192, and
// top is the amount borrowed beyond 8192 bits.
func mulSubBytes(dst, src *Elem, y []byte, w uint64) (top, canon uint64) {
	in := (*[Bytes]byte)(y)
	var k, cy, b uint64
	for i := 0; i < Words; i += 4 {
		q := (*[32]byte)(in[8*i:])
		ss := (*[4]uint64)(src[i:])
		dd := (*[4]uint64)(dst[i:])
		pp := (*[4]uint64)(p[i:])
		y0 := binary.LittleEndian.Uint64(q[0:])
		y1 := binary.LittleEndian.Uint64(q[8:])
		y2 := binary.LittleEndian.Uint64(q[16:])
		y3 := binary.LittleEndian.Uint64(q[24:])
		_, b = bits.Sub64(y0, pp[0], b)
		_, b = bits.Sub64(y1, pp[1], b)
		_, b = bits.Sub64(y2, pp[2], b)
		_, b = bits.Sub64(y3, pp[3], b)
		h0, l0 := bits.Mul64(y0, w)
		h1, l1 := bits.Mul64(y1, w)
		h2, l2 := bits.Mul64(y2, w)
		h3, l3 := bits.Mul64(y3, w)
		var c uint64
		l0, c = bits.Add64(l0, k, 0)
		l1, c = bits.Add64(l1, h0, c)
		l2, c = bits.Add64(l2, h1, c)
		l3, c = bits.Add64(l3, h2, c)
		k = h3 + c
		dd[0], cy = bits.Sub64(ss[0], l0, cy)
		dd[1], cy = bits.Sub64(ss[1], l1, cy)
		dd[2], cy = bits.Sub64(ss[2], l2, cy)
		dd[3], cy = bits.Sub64(ss[3], l3, cy)
	}
	return k + cy, b
}

// remainder returns S' mod D for S' = t - sub*C, from the precomputed
// 2^(64j) mod D: sum t_j * (2^(64j) mod D) fits in three words.
func (l *Combination) remainder(t *Elem, sub uint64) uint64 {
	var r0, r1, r2 uint64
	pow := l.pow
	for j := 0; j < Words; j += 4 {
		tt := (*[4]uint64)(t[j:])
		pw := (*[4]uint64)(pow[j:])
		h0, l0 := bits.Mul64(tt[0], pw[0])
		h1, l1 := bits.Mul64(tt[1], pw[1])
		h2, l2 := bits.Mul64(tt[2], pw[2])
		h3, l3 := bits.Mul64(tt[3], pw[3])
		var c uint64
		r0, c = bits.Add64(r0, l0, 0)
		r1, c = bits.Add64(r1, h0, c)
		r2 += c
		r0, c = bits.Add64(r0, l1, 0)
		r1, c = bits.Add64(r1, h1, c)
		r2 += c
		r0, c = bits.Add64(r0, l2, 0)
		r1, c = bits.Add64(r1, h2, c)
		r2 += c
		r0, c = bits.Add64(r0, l3, 0)
		r1, c = bits.Add64(r1, h3, c)
		r2 += c
	}
	r := bits.Rem64(0, r2, l.d)
	r = bits.Rem64(r, r1, l.d)
	r = bits.Rem64(r, r0, l.d)
	// r + sub*negC < 2D <= 2^65: add with the carry and reduce once more.
	s, carry := bits.Add64(r, sub*l.negC, 0)
	return bits.Rem64(carry, s, l.d)
}

// addMulP sets t = t + m*P mod 2^8192 and returns the part above 8192 bits.
func addMulP(t *Elem, m uint64) (top uint64) {
	var k, cy uint64
	for j := 0; j < Words; j += 4 {
		tt := (*[4]uint64)(t[j:])
		pp := (*[4]uint64)(p[j:])
		h0, l0 := bits.Mul64(pp[0], m)
		h1, l1 := bits.Mul64(pp[1], m)
		h2, l2 := bits.Mul64(pp[2], m)
		h3, l3 := bits.Mul64(pp[3], m)
		var c uint64
		l0, c = bits.Add64(l0, k, 0)
		l1, c = bits.Add64(l1, h0, c)
		l2, c = bits.Add64(l2, h1, c)
		l3, c = bits.Add64(l3, h2, c)
		k = h3 + c
		tt[0], cy = bits.Add64(tt[0], l0, cy)
		tt[1], cy = bits.Add64(tt[1], l1, cy)
		tt[2], cy = bits.Add64(tt[2], l2, cy)
		tt[3], cy = bits.Add64(tt[3], l3, cy)
	}
	return k + cy
}

// shiftRight sets e = (t + top*2^8192) >> s for 1 <= s <= 63 (e may be t).
func shiftRight(e, t *Elem, top uint64, s uint) {
	// Masking the counts to 6 bits tells the compiler they are below 64,
	// sparing the code Go's semantics need for larger counts.
	sr, sl := s&63, (64-s)&63
	for j := 0; j < Words-4; j += 4 {
		tt := (*[5]uint64)(t[j:])
		ee := (*[4]uint64)(e[j:])
		ee[0] = tt[0]>>sr | tt[1]<<sl
		ee[1] = tt[1]>>sr | tt[2]<<sl
		ee[2] = tt[2]>>sr | tt[3]<<sl
		ee[3] = tt[3]>>sr | tt[4]<<sl
	}
	e[Words-4] = t[Words-4]>>sr | t[Words-3]<<sl
	e[Words-3] = t[Words-3]>>sr | t[Words-2]<<sl
	e[Words-2] = t[Words-2]>>sr | t[Words-1]<<sl
	e[Words-1] = t[Words-1]>>sr | top<<sl
}

// hensel sets e = t / odd, which must be exact and below 2^8192: from the
// lowest word up, each quotient word is the remaining low word times
// odd^-1 mod 2^64 (Hensel, or "divexact", division).
func (l *Combination) hensel(e, t *Elem) {
	inv, odd := l.oddInv, l.odd
	var borrow uint64
	for j, v := range t {
		var bb uint64
		v, bb = bits.Sub64(v, borrow, 0)
		q := v * inv
		e[j] = q
		hq, _ := bits.Mul64(q, odd)
		borrow = hq + bb
	}
}

// DivWord sets e = a / d mod P (d >= 1) and returns e: exact division by a
// small integer, without computing d's inverse mod P. It prepares a
// Combination on each call; loops should build one and reuse it.
func (e *Elem) DivWord(a *Elem, d uint64) *Elem {
	l, err := NewCombination([]int64{1}, d)
	if err != nil {
		panic("field: DivWord by zero")
	}
	var b [Bytes]byte
	a.PutBytes(b[:])
	if !l.Eval(e, [][]byte{b[:]}) {
		panic("field: DivWord of a non-canonical value")
	}
	return e
}
