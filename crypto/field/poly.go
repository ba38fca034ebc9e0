package field

import "math/bits"

// EvalSmall sets e = coef[0] + coef[1]*x + ... + coef[k-1]*x^(k-1) mod P by
// Horner's rule at the small point x, and returns e. The coefficients must
// be canonical and there must be at least one.
//
// Each Horner step only multiplies by the word x, and the steps run without
// reduction: the running value is kept as 8192 bits plus one extra top word,
// whose bound follows from the public x and k alone. When that bound fits
// in a word, the steps run two per pass over the words (one carry per
// step) and the value is reduced once at the end; otherwise each step is
// reduced. At x = 1 the polynomial is the sum of its coefficients.
func (e *Elem) EvalSmall(coef []Elem, x uint64) *Elem {
	var lo Elem
	hi := evalWide(&lo, coef, x)
	reduce(e, &lo, hi)
	return e
}

// evalWide sets lo + hi*2^8192 to a value congruent to the polynomial at x.
func evalWide(lo *Elem, coef []Elem, x uint64) (hi uint64) {
	k := len(coef)
	switch {
	case k == 1:
		*lo = coef[0]
		return 0
	case x == 1:
		// The sum of the coefficients, two more per pass.
		if k == 2 {
			return sum2(lo, &coef[0], &coef[1])
		}
		hi = sum3(lo, &coef[0], &coef[1], &coef[2])
		j := 3
		for ; j+1 < k; j += 2 {
			hi += sum3(lo, lo, &coef[j], &coef[j+1])
		}
		if j < k {
			hi += sum2(lo, lo, &coef[j])
		}
		return hi
	case !hornerFits(k-1, x):
		*lo = coef[k-1]
		for j := k - 2; j >= 0; j-- {
			lo.MulAddWord(lo, x, &coef[j])
		}
		return 0
	}
	// Horner's rule, two steps per pass over the words. A pass that starts
	// from the previous one's value carries that value's top word along:
	// it is multiplied by x twice.
	j := k - 1
	src := &coef[j]
	for ; j >= 2; j -= 2 {
		hi = hi*x*x + horner2(lo, src, &coef[j-1], &coef[j-2], x)
		src = lo
	}
	if j == 1 {
		hi = hi*x + horner1(lo, src, &coef[0], x)
	}
	return hi
}

// hornerFits reports whether steps unreduced Horner steps at x keep the
// top word below 2^64-1 (as reduce needs). If the value is below
// (h+1)*2^8192, after a step (value*x + a, a < 2^8192) it is below
// ((h+1)*x + 1)*2^8192, so its top word is at most (h+1)*x.
func hornerFits(steps int, x uint64) bool {
	var h uint64
	for range steps {
		hh, lo := bits.Mul64(h+1, x)
		if hh != 0 || lo == ^uint64(0) {
			return false
		}
		h = lo
	}
	return true
}

// horner1 sets lo + hi*2^8192 = a1*x + a0 without reduction (a1 may be lo).
func horner1(lo, a1, a0 *Elem, x uint64) (hi uint64) {
	var k uint64
	for i := 0; i < Words; i += 4 {
		p1 := (*[4]uint64)(a1[i:])
		p0 := (*[4]uint64)(a0[i:])
		q := (*[4]uint64)(lo[i:])
		h0, l0 := bits.Mul64(p1[0], x)
		h1, l1 := bits.Mul64(p1[1], x)
		h2, l2 := bits.Mul64(p1[2], x)
		h3, l3 := bits.Mul64(p1[3], x)
		var c uint64
		l0, c = bits.Add64(l0, k, 0)
		l1, c = bits.Add64(l1, h0, c)
		l2, c = bits.Add64(l2, h1, c)
		l3, c = bits.Add64(l3, h2, c)
		h3 += c
		l0, c = bits.Add64(l0, p0[0], 0)
		l1, c = bits.Add64(l1, p0[1], c)
		l2, c = bits.Add64(l2, p0[2], c)
		l3, c = bits.Add64(l3, p0[3], c)
		k = h3 + c
		q[0], q[1], q[2], q[3] = l0, l1, l2, l3
	}
	return k
}

// horner2 sets lo + hi*2^8192 = (a2*x + a1)*x + a0 without reduction (a2
// may be lo), both
// steps in one pass: the words of the first step feed the second at once.
// Loads sit next to their use, which keeps fewer values live across the
// multiplications (measured: about 8% fewer instructions than loading all
// operands first).
func horner2(lo, a2, a1, a0 *Elem, x uint64) (hi uint64) {
	var k1, k2 uint64
	for i := 0; i < Words; i += 4 {
		p2 := (*[4]uint64)(a2[i:])
		h0, l0 := bits.Mul64(p2[0], x)
		h1, l1 := bits.Mul64(p2[1], x)
		h2, l2 := bits.Mul64(p2[2], x)
		h3, l3 := bits.Mul64(p2[3], x)
		var c uint64
		l0, c = bits.Add64(l0, k1, 0)
		l1, c = bits.Add64(l1, h0, c)
		l2, c = bits.Add64(l2, h1, c)
		l3, c = bits.Add64(l3, h2, c)
		h3 += c
		p1 := (*[4]uint64)(a1[i:])
		l0, c = bits.Add64(l0, p1[0], 0)
		l1, c = bits.Add64(l1, p1[1], c)
		l2, c = bits.Add64(l2, p1[2], c)
		l3, c = bits.Add64(l3, p1[3], c)
		k1 = h3 + c
		g0, m0 := bits.Mul64(l0, x)
		g1, m1 := bits.Mul64(l1, x)
		m0, c = bits.Add64(m0, k2, 0)
		m1, c = bits.Add64(m1, g0, c)
		g2, m2 := bits.Mul64(l2, x)
		g3, m3 := bits.Mul64(l3, x)
		m2, c = bits.Add64(m2, g1, c)
		m3, c = bits.Add64(m3, g2, c)
		g3 += c
		p0 := (*[4]uint64)(a0[i:])
		q := (*[4]uint64)(lo[i:])
		q[0], c = bits.Add64(m0, p0[0], 0)
		q[1], c = bits.Add64(m1, p0[1], c)
		q[2], c = bits.Add64(m2, p0[2], c)
		q[3], c = bits.Add64(m3, p0[3], c)
		k2 = g3 + c
	}
	// The top word: the first step's top word carried through the second.
	return k1*x + k2
}

// sum2 sets lo + hi*2^8192 = a + b (a may be lo).
func sum2(lo, a, b *Elem) (hi uint64) {
	var c uint64
	for i := 0; i < Words; i += 4 {
		aa := (*[4]uint64)(a[i:])
		bb := (*[4]uint64)(b[i:])
		q := (*[4]uint64)(lo[i:])
		q[0], c = bits.Add64(aa[0], bb[0], c)
		q[1], c = bits.Add64(aa[1], bb[1], c)
		q[2], c = bits.Add64(aa[2], bb[2], c)
		q[3], c = bits.Add64(aa[3], bb[3], c)
	}
	return c
}

// sum3 sets lo + hi*2^8192 = a + b + c (a may be lo).
func sum3(lo, a, b, c *Elem) (hi uint64) {
	var c1, c2 uint64
	for i := 0; i < Words; i += 4 {
		aa := (*[4]uint64)(a[i:])
		bb := (*[4]uint64)(b[i:])
		cc := (*[4]uint64)(c[i:])
		q := (*[4]uint64)(lo[i:])
		var l0, l1, l2, l3 uint64
		l0, c1 = bits.Add64(aa[0], bb[0], c1)
		l1, c1 = bits.Add64(aa[1], bb[1], c1)
		l2, c1 = bits.Add64(aa[2], bb[2], c1)
		l3, c1 = bits.Add64(aa[3], bb[3], c1)
		q[0], c2 = bits.Add64(l0, cc[0], c2)
		q[1], c2 = bits.Add64(l1, cc[1], c2)
		q[2], c2 = bits.Add64(l2, cc[2], c2)
		q[3], c2 = bits.Add64(l3, cc[3], c2)
	}
	return c1 + c2
}
