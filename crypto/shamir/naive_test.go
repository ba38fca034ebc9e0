package shamir

import (
	"bytes"
	"crypto/rand"
	"io"
	"math/big"
	"slices"
	"testing"

	"github.com/qasmat/qasmat/crypto/field"
)

// The naive implementation below is the textbook one with math/big: every
// Horner step and every Lagrange term is a full multiplication followed by
// a division by P. It serves as a cross-check and as the benchmark baseline.

func leBig(b []byte) *big.Int {
	r := slices.Clone(b)
	slices.Reverse(r)
	return new(big.Int).SetBytes(r)
}

func putLE(dst []byte, v *big.Int) {
	v.FillBytes(dst)
	slices.Reverse(dst)
}

// naiveSplit shares each part of plain with coefficients drawn from rand
// exactly as the contract orders them.
func naiveSplit(k int, xs []int, plain []byte, rand io.Reader, out [][]byte) error {
	p := field.ModulusBig()
	buf := make([]byte, field.Bytes)
	coef := make([]*big.Int, k)
	t := new(big.Int)
	for j := 0; j < len(plain)/PartSize; j++ {
		coef[0] = leBig(plain[j*PartSize : (j+1)*PartSize])
		for i := 1; i < k; i++ {
			for {
				if _, err := io.ReadFull(rand, buf); err != nil {
					return err
				}
				coef[i] = leBig(buf)
				if coef[i].Cmp(p) < 0 {
					break
				}
			}
		}
		for i, x := range xs {
			xb := big.NewInt(int64(x))
			t.Set(coef[k-1])
			for d := k - 2; d >= 0; d-- {
				t.Mul(t, xb)
				t.Add(t, coef[d])
				t.Mod(t, p)
			}
			putLE(out[i][j*ShareSize:(j+1)*ShareSize], t)
		}
	}
	return nil
}

// naiveCombine rebuilds the parts with Lagrange coefficients mod P.
func naiveCombine(xs []int, shares [][]byte, out []byte) {
	p := field.ModulusBig()
	lam := make([]*big.Int, len(xs))
	for i, l := range lagrangeRats(xs) {
		inv := new(big.Int).ModInverse(new(big.Int).Mod(l.Denom(), p), p)
		lam[i] = inv.Mul(inv, l.Num())
		lam[i].Mod(lam[i], p)
	}
	acc, t := new(big.Int), new(big.Int)
	for j := 0; j < len(shares[0])/ShareSize; j++ {
		acc.SetInt64(0)
		for i := range shares {
			t.Mul(lam[i], leBig(shares[i][j*ShareSize:(j+1)*ShareSize]))
			acc.Add(acc, t)
		}
		acc.Mod(acc, p)
		b := make([]byte, ShareSize)
		putLE(b, acc)
		copy(out[j*PartSize:(j+1)*PartSize], b)
	}
}

// TestNaiveAgrees checks the fast paths against the textbook computation
// with the same coefficients.
func TestNaiveAgrees(t *testing.T) {
	for _, kn := range [][2]int{{2, 3}, {3, 5}, {5, 8}} {
		k, n := kn[0], kn[1]
		xs := xsRange(n)
		plain := make([]byte, 3*PartSize)
		rand.Read(plain)
		seed := make([]byte, 3*(k-1)*field.Bytes)
		rand.Read(seed)
		fast, slow := make([][]byte, n), make([][]byte, n)
		for i := range fast {
			fast[i] = make([]byte, 3*ShareSize)
			slow[i] = make([]byte, 3*ShareSize)
		}
		s, err := NewSplitter(k, xs, bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SplitParts(plain, fast); err != nil {
			t.Fatal(err)
		}
		if err := naiveSplit(k, xs, plain, bytes.NewReader(seed), slow); err != nil {
			t.Fatal(err)
		}
		for i := range fast {
			if !bytes.Equal(fast[i], slow[i]) {
				t.Fatalf("k=%d n=%d: share %d differs from the naive split", k, n, i)
			}
		}
		got := make([]byte, len(plain))
		naiveCombine(xs[n-k:], slow[n-k:], got)
		if !bytes.Equal(got, plain) {
			t.Fatalf("k=%d n=%d: naive combine does not rebuild", k, n)
		}
	}
}

func BenchmarkNaiveSplit(b *testing.B) {
	plain := make([]byte, 64*PartSize)
	rand.Read(plain)
	xs := xsRange(5)
	out := make([][]byte, len(xs))
	for i := range out {
		out[i] = make([]byte, 64*ShareSize)
	}
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		if err := naiveSplit(3, xs, plain, rand.Reader, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNaiveCombine(b *testing.B) {
	plain := make([]byte, 16*PartSize)
	rand.Read(plain)
	shares := splitAll(b, 3, xsRange(5), plain)
	sub := [][]byte{shares[0], shares[2], shares[4]}
	out := make([]byte, len(plain))
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		naiveCombine([]int{1, 3, 5}, sub, out)
	}
}
