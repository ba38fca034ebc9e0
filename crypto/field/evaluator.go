package field

import (
	"math/bits"
	"slices"
)

// maxDiffPoints bounds n for the forward-difference path, which keeps the
// unreduced values' top words small (f(n) < (1 + n + n^2) * 2^8192).
const maxDiffPoints = 1 << 16

// Evaluator writes the values of polynomials of one degree at fixed small
// points: the inner loop of a Shamir split. It holds scratch space and is
// not safe for concurrent use.
//
// For degree 1 or 2 at the points 1..n (in any order), the usual case, it
// walks forward differences: with D0 = f(1), D1 = f(2) - f(1), D2 = 2*a_2,
// each next value is D0 += D1, D1 += D2 — additions only, no
// multiplication, all kept unreduced (8192 bits plus a top word, exact
// integers, never negative) and reduced once per output. Otherwise it uses
// Horner's rule at each point (EvalSmall).
type Evaluator struct {
	k   int
	xs  []uint64
	byX []int // byX[x-1] = index of x in xs when xs is a permutation of 1..n
	t   Elem  // the folded value being written out
	lo  Elem  // Horner's unreduced value
	d0  Elem  // the forward differences' low words
	d1  Elem
	d2  Elem
	h0  uint64 // and their top words
	h1  uint64
	h2  uint64
}

// NewEvaluator returns an Evaluator for polynomials with k >= 1
// coefficients at the points xs (distinct, non-zero).
func NewEvaluator(k int, xs []uint64) *Evaluator {
	v := &Evaluator{k: k, xs: slices.Clone(xs)}
	if (k == 2 || k == 3) && len(xs) <= maxDiffPoints {
		byX := make([]int, len(xs))
		for i := range byX {
			byX[i] = -1
		}
		consecutive := true
		for i, x := range xs {
			if x < 1 || x > uint64(len(xs)) || byX[x-1] >= 0 {
				consecutive = false
				break
			}
			byX[x-1] = i
		}
		if consecutive {
			v.byX = byX
		}
	}
	return v
}

// EvalBytes writes f(xs[i]) mod P, Bytes bytes little-endian, into dst[i]
// (at least Bytes long) for the polynomial f with the k canonical
// coefficients coef (coef[j] multiplies X^j).
func (v *Evaluator) EvalBytes(dst [][]byte, coef []Elem) {
	if len(coef) != v.k || len(dst) != len(v.xs) {
		panic("field: Evaluator.EvalBytes with the wrong number of coefficients or outputs")
	}
	switch {
	case v.byX != nil && v.k == 2:
		v.diff1(dst, &coef[0], &coef[1])
	case v.byX != nil && v.k == 3:
		v.diff2(dst, (*[3]Elem)(coef))
	default:
		for i, x := range v.xs {
			hi := evalWide(&v.lo, coef, x)
			mask := fold(&v.t, &v.lo, hi)
			subCBytes(dst[i], &v.t, mask)
		}
	}
}

// diff1 handles a0 + a1 X at 1..n: D0 = a0 + a1, then D0 += a1.
func (v *Evaluator) diff1(dst [][]byte, a0, a1 *Elem) {
	h0 := sum2(&v.d0, a0, a1)
	for x := 1; ; x++ {
		mask := fold(&v.t, &v.d0, h0)
		subCBytes(dst[v.byX[x-1]], &v.t, mask)
		if x == len(v.byX) {
			return
		}
		h0 += addInPlace(&v.d0, a1)
	}
}

// diff2 handles a0 + a1 X + a2 X^2 at 1..n: D0 = a0 + a1 + a2 = f(1),
// D1 = a1 + 3 a2 = f(2) - f(1), D2 = 2 a2; then D0 += D1, D1 += D2.
func (v *Evaluator) diff2(dst [][]byte, a *[3]Elem) {
	v.h0, v.h1, v.h2 = diffSetup2(&v.d0, &v.d1, &v.d2, a)
	for x := 1; ; x++ {
		mask := fold(&v.t, &v.d0, v.h0)
		subCBytes(dst[v.byX[x-1]], &v.t, mask)
		if x == len(v.byX) {
			return
		}
		// (Folding and stepping in one pass was tried: more register
		// spills, more instructions in all.)
		c0, c1 := diffStep2(&v.d0, &v.d1, &v.d2)
		v.h0 += v.h1 + c0
		v.h1 += v.h2 + c1
	}
}

// addInPlace sets d = d + a mod 2^8192 and returns the carry.
func addInPlace(d, a *Elem) (carry uint64) {
	var c uint64
	for i := 0; i < Words; i += 4 {
		dd := (*[4]uint64)(d[i:])
		aa := (*[4]uint64)(a[i:])
		dd[0], c = bits.Add64(dd[0], aa[0], c)
		dd[1], c = bits.Add64(dd[1], aa[1], c)
		dd[2], c = bits.Add64(dd[2], aa[2], c)
		dd[3], c = bits.Add64(dd[3], aa[3], c)
	}
	return c
}

// diffSetup2 sets d0 = a0 + a1 + a2, d2 = 2 a2 and d1 = a1 + a2 + d2 (the
// low words) and returns their top words.
func diffSetup2(d0, d1, d2 *Elem, a *[3]Elem) (h0, h1, h2 uint64) {
	var c0, c1, c2, prev uint64
	for i := 0; i < Words; i += 4 {
		// All pointers first: a nil check between two ADCs would clobber
		// the carry flag and make the compiler recompute the chain.
		a0 := (*[4]uint64)(a[0][i:])
		a1 := (*[4]uint64)(a[1][i:])
		a2 := (*[4]uint64)(a[2][i:])
		q0 := (*[4]uint64)(d0[i:])
		q1 := (*[4]uint64)(d1[i:])
		q2 := (*[4]uint64)(d2[i:])
		// 2*a2, shifting in the top bit of the previous word.
		s0 := a2[0]<<1 | prev>>63
		s1 := a2[1]<<1 | a2[0]>>63
		s2 := a2[2]<<1 | a2[1]>>63
		s3 := a2[3]<<1 | a2[2]>>63
		prev = a2[3]
		q2[0], q2[1], q2[2], q2[3] = s0, s1, s2, s3
		var u0, u1, u2, u3 uint64
		u0, c0 = bits.Add64(a1[0], a2[0], c0)
		u1, c0 = bits.Add64(a1[1], a2[1], c0)
		u2, c0 = bits.Add64(a1[2], a2[2], c0)
		u3, c0 = bits.Add64(a1[3], a2[3], c0)
		q1[0], c1 = bits.Add64(u0, s0, c1)
		q1[1], c1 = bits.Add64(u1, s1, c1)
		q1[2], c1 = bits.Add64(u2, s2, c1)
		q1[3], c1 = bits.Add64(u3, s3, c1)
		q0[0], c2 = bits.Add64(u0, a0[0], c2)
		q0[1], c2 = bits.Add64(u1, a0[1], c2)
		q0[2], c2 = bits.Add64(u2, a0[2], c2)
		q0[3], c2 = bits.Add64(u3, a0[3], c2)
	}
	h2 = prev >> 63
	return c0 + c2, c0 + c1 + h2, h2
}

// diffStep2 sets d0 += d1 and d1 += d2 (old d1 into d0), returning the carries.
func diffStep2(d0, d1, d2 *Elem) (c0, c1 uint64) {
	for i := 0; i < Words; i += 4 {
		p0 := (*[4]uint64)(d0[i:])
		p1 := (*[4]uint64)(d1[i:])
		p2 := (*[4]uint64)(d2[i:])
		e0, e1, e2, e3 := p1[0], p1[1], p1[2], p1[3]
		p0[0], c0 = bits.Add64(p0[0], e0, c0)
		p0[1], c0 = bits.Add64(p0[1], e1, c0)
		p0[2], c0 = bits.Add64(p0[2], e2, c0)
		p0[3], c0 = bits.Add64(p0[3], e3, c0)
		p1[0], c1 = bits.Add64(e0, p2[0], c1)
		p1[1], c1 = bits.Add64(e1, p2[1], c1)
		p1[2], c1 = bits.Add64(e2, p2[2], c1)
		p1[3], c1 = bits.Add64(e3, p2[3], c1)
	}
	return c0, c1
}
