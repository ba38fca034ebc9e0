package shamir

import (
	"fmt"
	"math/big"
	"slices"

	"github.com/qasmat/qasmat/crypto/field"
)

// Combiner rebuilds parts from exactly len(xs) shares at fixed x
// coordinates. The Lagrange coefficients are computed once, in NewCombiner.
// It is not safe for concurrent use.
type Combiner struct {
	xs []int
	// comb is the Lagrange interpolation at 0 as small integer weights over a
	// common denominator; nil when they do not fit in words (huge x with
	// many shares), in which case lambda is used with full multiplications.
	comb   *field.Combination
	lambda []field.Elem
	ys     [][]byte // the current part's shares
	part   field.Elem
}

// NewCombiner returns a Combiner for shares at x coordinates xs (distinct,
// in 1..MaxX, at least 2): the threshold the data was split with.
func NewCombiner(xs []int) (*Combiner, error) {
	if err := checkXs(xs); err != nil {
		return nil, err
	}
	if len(xs) < 2 {
		return nil, fmt.Errorf("%w: %d", ErrTooFewShares, len(xs))
	}
	c := &Combiner{xs: slices.Clone(xs), ys: make([][]byte, len(xs))}
	w, d := lagrangeWeights(xs)
	if w != nil {
		comb, err := field.NewCombination(w, d)
		if err == nil {
			c.comb = comb
			return c, nil
		}
	}
	c.lambda = lagrangeElems(xs)
	return c, nil
}

// lagrangeRats returns the Lagrange coefficients at 0,
// lambda_i = prod_{j != i} x_j / (x_j - x_i), as reduced fractions.
func lagrangeRats(xs []int) []*big.Rat {
	lam := make([]*big.Rat, len(xs))
	for i, xi := range xs {
		num, den := big.NewInt(1), big.NewInt(1)
		for j, xj := range xs {
			if j != i {
				num.Mul(num, big.NewInt(int64(xj)))
				den.Mul(den, big.NewInt(int64(xj-xi)))
			}
		}
		lam[i] = new(big.Rat).SetFrac(num, den)
	}
	return lam
}

// lagrangeWeights writes the Lagrange coefficients at 0 as lambda_i = w_i/D
// with D the least common denominator, or returns nil if some w_i or D does
// not fit in 64 bits.
func lagrangeWeights(xs []int) (w []int64, d uint64) {
	lam := lagrangeRats(xs)
	den := big.NewInt(1)
	for _, l := range lam {
		g := new(big.Int).GCD(nil, nil, den, l.Denom())
		den.Mul(den, new(big.Int).Quo(l.Denom(), g))
	}
	if !den.IsUint64() {
		return nil, 0
	}
	w = make([]int64, len(xs))
	for i, l := range lam {
		wi := new(big.Int).Mul(l.Num(), new(big.Int).Quo(den, l.Denom()))
		if !wi.IsInt64() {
			return nil, 0
		}
		w[i] = wi.Int64()
	}
	return w, den.Uint64()
}

// lagrangeElems returns the Lagrange coefficients at 0 as field elements.
func lagrangeElems(xs []int) []field.Elem {
	lam := lagrangeRats(xs)
	out := make([]field.Elem, len(xs))
	for i, l := range lam {
		var num, inv field.Elem
		num.SetBig(l.Num())
		inv.Inverse(new(field.Elem).SetBig(l.Denom()))
		out[i].Mul(&num, &inv)
	}
	return out
}

// Xs returns a copy of the x coordinates, in share order.
func (c *Combiner) Xs() []int { return slices.Clone(c.xs) }

// CombineParts rebuilds len(out)/PartSize parts: shares[i] holds the shares
// for Xs()[i], all of the same length, a multiple of ShareSize. On error
// out is zeroed, so no partial result can be mistaken for data.
func (c *Combiner) CombineParts(shares [][]byte, out []byte) error {
	err := c.combine(shares, out)
	if err != nil {
		clear(out)
	}
	c.part = field.Elem{}
	clear(c.ys)
	return err
}

func (c *Combiner) combine(shares [][]byte, out []byte) error {
	if len(shares) < len(c.xs) {
		return fmt.Errorf("%w: %d of %d", ErrTooFewShares, len(shares), len(c.xs))
	}
	if len(shares) > len(c.xs) {
		return fmt.Errorf("shamir: %d shares for a combiner of %d", len(shares), len(c.xs))
	}
	size := len(shares[0])
	if size%ShareSize != 0 {
		return fmt.Errorf("%w: length %d is not a multiple of %d", ErrBadShare, size, ShareSize)
	}
	for i := range shares {
		if len(shares[i]) != size {
			return fmt.Errorf("%w: shares of different lengths", ErrBadShare)
		}
	}
	parts := size / ShareSize
	if len(out) != parts*PartSize {
		return fmt.Errorf("shamir: output is %d bytes, want %d", len(out), parts*PartSize)
	}
	for j := range parts {
		for i := range shares {
			c.ys[i] = shares[i][j*ShareSize : (j+1)*ShareSize]
		}
		if !c.combinePart(&c.part) {
			return fmt.Errorf("%w: part %d: a share is not below the modulus", ErrBadShare, j)
		}
		// A part is below 2^8184; anything else came from shares that do not
		// belong together (foreign, corrupt or too few for the threshold).
		if c.part[field.Words-1]>>56 != 0 {
			return fmt.Errorf("%w: part %d does not rebuild to %d bytes", ErrBadShare, j, PartSize)
		}
		storePart(out[j*PartSize:], &c.part)
	}
	return nil
}

// combinePart interpolates c.ys at 0 into dst and reports whether all were canonical.
func (c *Combiner) combinePart(dst *field.Elem) bool {
	if c.comb != nil {
		return c.comb.Eval(dst, c.ys)
	}
	*dst = field.Elem{}
	var y field.Elem
	for i := range c.ys {
		if y.SetBytes(c.ys[i]) != nil {
			return false
		}
		y.Mul(&c.lambda[i], &y)
		dst.Add(dst, &y)
	}
	return true
}
