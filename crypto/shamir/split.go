package shamir

import (
	"fmt"
	"io"
	"slices"

	"github.com/qasmat/qasmat/crypto/field"
)

// Splitter evaluates fresh random polynomials of degree k-1 at fixed x
// coordinates. It is not safe for concurrent use.
type Splitter struct {
	k   int
	xs  []int
	src *coefficientSource
	// poly holds the current part's polynomial: poly[0] is the part
	// itself, poly[1:] the random coefficients a_1 .. a_{k-1}.
	poly []field.Elem
	ev   *field.Evaluator
	outs [][]byte // the current part's share slices
}

// NewSplitter returns a Splitter for threshold k and x coordinates xs
// (2 <= k <= len(xs), xs distinct in 1..MaxX). Coefficients are drawn from
// rand as Bytes-byte little-endian values, rejected if not below P, in the
// order a_1 .. a_{k-1} for each part in turn; rand == nil means the
// package's CSPRNG (AES-256-CTR keyed from crypto/rand).
func NewSplitter(k int, xs []int, rand io.Reader) (*Splitter, error) {
	if err := checkXs(xs); err != nil {
		return nil, err
	}
	if k < 2 || k > len(xs) {
		return nil, fmt.Errorf("shamir: threshold %d with %d shares: need 2 <= k <= n", k, len(xs))
	}
	src, err := newCoefficientSource(rand, k-1)
	if err != nil {
		return nil, err
	}
	x := make([]uint64, len(xs))
	for i, xi := range xs {
		x[i] = uint64(xi)
	}
	return &Splitter{
		k:    k,
		xs:   slices.Clone(xs),
		src:  src,
		poly: make([]field.Elem, k),
		ev:   field.NewEvaluator(k, x),
		outs: make([][]byte, len(xs)),
	}, nil
}

// K returns the threshold.
func (s *Splitter) K() int { return s.k }

// Xs returns a copy of the x coordinates, in share order.
func (s *Splitter) Xs() []int { return slices.Clone(s.xs) }

// SplitParts splits plain, a whole number of PartSize-byte parts, with a
// fresh polynomial per part. out[i] receives the shares for Xs()[i] and
// must be len(plain)/PartSize*ShareSize bytes long.
func (s *Splitter) SplitParts(plain []byte, out [][]byte) error {
	if len(plain)%PartSize != 0 {
		return fmt.Errorf("shamir: plaintext length %d is not a multiple of %d", len(plain), PartSize)
	}
	return s.split(plain, len(plain)/PartSize, out)
}

// split shares parts parts of plain, or of zero when plain is nil (renewal).
func (s *Splitter) split(plain []byte, parts int, out [][]byte) error {
	if len(out) != len(s.xs) {
		return fmt.Errorf("shamir: %d output buffers for %d shares", len(out), len(s.xs))
	}
	for i := range out {
		if len(out[i]) != parts*ShareSize {
			return fmt.Errorf("shamir: output buffer %d is %d bytes, want %d", i, len(out[i]), parts*ShareSize)
		}
	}
	// The scratch holds a part and its coefficients: anyone who reads
	// memory later should not find them.
	defer s.src.wipe()
	defer clear(s.poly)
	defer clear(s.outs)
	s.poly[0] = field.Elem{}
	for j := range parts {
		if err := s.src.draw(s.poly[1:]); err != nil {
			return err
		}
		if plain != nil {
			loadPart(&s.poly[0], plain[j*PartSize:])
		}
		for i := range out {
			s.outs[i] = out[i][j*ShareSize : (j+1)*ShareSize]
		}
		s.ev.EvalBytes(s.outs, s.poly)
	}
	return nil
}
