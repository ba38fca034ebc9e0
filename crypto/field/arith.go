package field

import (
	"math/big"
	"math/bits"
)

// All reductions below are branch-free on the values: whether P is
// subtracted or added is decided by masks, not by comparisons, so the time
// taken does not depend on secrets.

// Add sets e = a + b mod P and returns e.
func (e *Elem) Add(a, b *Elem) *Elem {
	var s Elem
	var carry uint64
	for i := range s {
		s[i], carry = bits.Add64(a[i], b[i], carry)
	}
	reduce(e, &s, carry)
	return e
}

// Sub sets e = a - b mod P and returns e.
func (e *Elem) Sub(a, b *Elem) *Elem {
	var d Elem
	var borrow uint64
	for i := range d {
		d[i], borrow = bits.Sub64(a[i], b[i], borrow)
	}
	mask := -borrow
	var carry uint64
	for i := range d {
		e[i], carry = bits.Add64(d[i], p[i]&mask, carry)
	}
	return e
}

// Neg sets e = -a mod P and returns e.
func (e *Elem) Neg(a *Elem) *Elem {
	var zero Elem
	return e.Sub(&zero, a)
}

// MulWord sets e = a * w mod P and returns e.
func (e *Elem) MulWord(a *Elem, w uint64) *Elem {
	var t Elem
	var carry uint64
	for i := range t {
		hi, lo := bits.Mul64(a[i], w)
		var cc uint64
		t[i], cc = bits.Add64(lo, carry, 0)
		carry = hi + cc
	}
	// a < 2^8192 makes the top word below w, so below 2^64-1.
	reduce(e, &t, carry)
	return e
}

// MulAddWord sets e = a * w + b mod P and returns e: one step of Horner's
// rule at the point w.
func (e *Elem) MulAddWord(a *Elem, w uint64, b *Elem) *Elem {
	var t Elem
	t.MulWord(a, w)
	return e.Add(&t, b)
}

// Mul sets e = a * b mod P and returns e. It is a full 8192-bit product
// through math/big: correct but slow and allocating, for the rare places
// (set-up, tests) that need it. It is not constant-time.
func (e *Elem) Mul(a, b *Elem) *Elem {
	v := new(big.Int).Mul(a.Big(), b.Big())
	return e.SetBig(v)
}

// Inverse sets e = a^-1 mod P and returns e; the inverse of 0 is 0.
// It goes through math/big and is meant for public values only.
func (e *Elem) Inverse(a *Elem) *Elem {
	v := new(big.Int).ModInverse(a.Big(), pBig)
	if v == nil {
		*e = Elem{}
		return e
	}
	return e.SetBig(v)
}
