package shamir

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/qasmat/qasmat/crypto/field"
)

// The throughput targets are per core: run with -cpu 1, e.g.
//
//	go test ./crypto/shamir/ -run '^$' -bench . -benchmem -cpu 1
//
// MB/s counts plaintext bytes. Splits use the default generator (real
// randomness). BenchmarkNaive* (naive_test.go) is the math/big baseline.

// benchParts is one full chunk of parts (about 1 MiB of plaintext) per op.
const benchParts = 1023

type benchCase struct {
	k, n int
	xs   []int // the subset combined
	name string
}

// Combine costs depend on the Lagrange denominator D of the subset: a power
// of two is a shift, an odd factor adds a remainder pass and a Hensel
// division. x = {1,3,5} (D = 8) is the worst case for (3,5);
// {1,2,5} (D = 6) is slower still here, and {1,3,4,5,7} (D = 12) is among
// the slowest for (5,8).
var benchCases = []benchCase{
	{2, 3, []int{1, 3}, "k=2,n=3"},
	{3, 5, []int{1, 3, 5}, "k=3,n=5"},
	{3, 5, []int{1, 2, 5}, "k=3,n=5,x=1,2,5"},
	{5, 8, []int{1, 3, 4, 5, 7}, "k=5,n=8"},
}

func BenchmarkSplit(b *testing.B) {
	for _, bc := range benchCases {
		if bc.name != fmt.Sprintf("k=%d,n=%d", bc.k, bc.n) {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			plain := make([]byte, benchParts*PartSize)
			rand.Read(plain)
			s, err := NewSplitter(bc.k, xsRange(bc.n), nil)
			if err != nil {
				b.Fatal(err)
			}
			out := make([][]byte, bc.n)
			for i := range out {
				out[i] = make([]byte, benchParts*ShareSize)
			}
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.SplitParts(plain, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCombine(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			plain := make([]byte, benchParts*PartSize)
			rand.Read(plain)
			shares := splitAll(b, bc.k, xsRange(bc.n), plain)
			sub := make([][]byte, len(bc.xs))
			for i, x := range bc.xs {
				sub[i] = shares[x-1]
			}
			c, err := NewCombiner(bc.xs)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, len(plain))
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.CombineParts(sub, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCoefficientDraw(b *testing.B) {
	src, err := newCoefficientSource(nil, 2)
	if err != nil {
		b.Fatal(err)
	}
	coef := make([]field.Elem, 2)
	b.SetBytes(2 * field.Bytes)
	for b.Loop() {
		if err := src.draw(coef); err != nil {
			b.Fatal(err)
		}
	}
}
