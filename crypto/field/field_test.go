package field

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"
)

// testValues returns canonical elements: edge values first, then random ones.
func testValues(t testing.TB, random int) []Elem {
	t.Helper()
	pb := ModulusBig()
	edges := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2),
		new(big.Int).Sub(pb, big.NewInt(1)),
		new(big.Int).Sub(pb, big.NewInt(2)),
		new(big.Int).Rsh(pb, 1),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 8184), big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 8191),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1)),
	}
	var out []Elem
	for _, v := range edges {
		var e Elem
		e.SetBig(v)
		out = append(out, e)
	}
	for range random {
		v, err := rand.Int(rand.Reader, pb)
		if err != nil {
			t.Fatal(err)
		}
		var e Elem
		e.SetBig(v)
		out = append(out, e)
	}
	return out
}

func mod(v *big.Int) *big.Int { return v.Mod(v, ModulusBig()) }

func check(t *testing.T, what string, got *Elem, want *big.Int) {
	t.Helper()
	if !got.IsCanonical() {
		t.Fatalf("%s: result not canonical", what)
	}
	if got.Big().Cmp(want) != 0 {
		t.Fatalf("%s: got %x, want %x", what, got.Big(), want)
	}
}

func TestBytesRoundTrip(t *testing.T) {
	for _, e := range testValues(t, 10) {
		b := make([]byte, Bytes)
		e.PutBytes(b)
		// Little-endian: the big-endian encoding reversed.
		be := e.Big().FillBytes(make([]byte, Bytes))
		for i := range be {
			if b[i] != be[Bytes-1-i] {
				t.Fatal("PutBytes is not little-endian")
			}
		}
		var f, g Elem
		if err := f.SetBytes(b); err != nil || f != e {
			t.Fatalf("SetBytes(PutBytes(e)) = %v, %v", f.Big(), err)
		}
		if !g.SetBytesRaw(b) || g != e {
			t.Fatal("SetBytesRaw(PutBytes(e)) differs")
		}
	}
}

func TestSetBytesRejects(t *testing.T) {
	var e Elem
	b := make([]byte, Bytes)
	Modulus().PutBytes(b)
	if err := e.SetBytes(b); !errors.Is(err, ErrNotCanonical) {
		t.Fatalf("SetBytes(P) = %v, want ErrNotCanonical", err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if err := e.SetBytes(b); !errors.Is(err, ErrNotCanonical) {
		t.Fatalf("SetBytes(2^8192-1) = %v, want ErrNotCanonical", err)
	}
	if e.SetBytesRaw(b) {
		t.Fatal("SetBytesRaw reported 2^8192-1 canonical")
	}
	e = Elem{}
	if err := e.SetBytes(b[:Bytes-1]); err == nil {
		t.Fatal("SetBytes accepted 1023 bytes")
	}
	if !e.IsZero() {
		t.Fatal("a failed SetBytes changed the element")
	}
	var pm1 Elem
	pm1.SetBig(new(big.Int).Sub(ModulusBig(), big.NewInt(1)))
	if !pm1.IsCanonical() || Modulus().IsCanonical() {
		t.Fatal("IsCanonical wrong at the boundary")
	}
}

func TestAddSubNeg(t *testing.T) {
	vals := testValues(t, 6)
	for i := range vals {
		for j := range vals {
			a, b := &vals[i], &vals[j]
			var e Elem
			check(t, "Add", e.Add(a, b), mod(new(big.Int).Add(a.Big(), b.Big())))
			check(t, "Sub", e.Sub(a, b), mod(new(big.Int).Sub(a.Big(), b.Big())))
		}
		var e Elem
		check(t, "Neg", e.Neg(&vals[i]), mod(new(big.Int).Neg(vals[i].Big())))
	}
}

func TestMulWordAndMulAddWord(t *testing.T) {
	vals := testValues(t, 6)
	words := []uint64{0, 1, 2, 3, 5, 255, 65535, 1 << 32, ^uint64(0)}
	for i := range vals {
		for _, w := range words {
			a, b := &vals[i], &vals[(i+1)%len(vals)]
			wb := new(big.Int).SetUint64(w)
			var e Elem
			check(t, "MulWord", e.MulWord(a, w), mod(new(big.Int).Mul(a.Big(), wb)))
			want := mod(new(big.Int).Add(new(big.Int).Mul(a.Big(), wb), b.Big()))
			check(t, "MulAddWord", e.MulAddWord(a, w, b), want)
			// In place, as Horner's rule uses it.
			e = *a
			check(t, "MulAddWord in place", e.MulAddWord(&e, w, b), want)
		}
	}
}

func TestMulInverse(t *testing.T) {
	vals := testValues(t, 3)
	for i := range vals {
		a, b := &vals[i], &vals[(i+3)%len(vals)]
		var e Elem
		check(t, "Mul", e.Mul(a, b), mod(new(big.Int).Mul(a.Big(), b.Big())))
		if a.IsZero() {
			continue
		}
		var inv, one Elem
		inv.Inverse(a)
		one.SetUint64(1)
		if !e.Mul(a, &inv).Equal(&one) {
			t.Fatal("a * a^-1 != 1")
		}
	}
}

// TestReduce covers the whole input range lo + hi*2^8192, including the
// largest, where the fold lands just below 2P.
func TestReduce(t *testing.T) {
	var ones Elem
	for i := range ones {
		ones[i] = ^uint64(0)
	}
	los := append(testValues(t, 4), ones, *Modulus())
	for _, lo := range los {
		for _, hi := range []uint64{0, 1, 2, 31, 1 << 40, ^uint64(0) - 1} {
			v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 8192)
			v.Add(v, lo.Big())
			var e Elem
			reduce(&e, &lo, hi)
			check(t, "Reduce", &e, mod(v))
		}
	}
}

func TestEvalSmall(t *testing.T) {
	vals := testValues(t, 8)
	// The points cover the one-pass path and, with large x and many
	// coefficients, the reduce-every-step path.
	for _, x := range []uint64{1, 2, 5, 16, 255, 65535, 1 << 40} {
		for k := 1; k <= 17; k++ {
			coef := make([]Elem, k)
			want := new(big.Int)
			for j := k - 1; j >= 0; j-- {
				coef[j] = vals[(j*7+k)%len(vals)]
				want.Mul(want, new(big.Int).SetUint64(x))
				want.Add(want, coef[j].Big())
			}
			var e Elem
			check(t, "EvalSmall", e.EvalSmall(coef, x), mod(want))
		}
	}
	if !hornerFits(4, 65535) || hornerFits(5, 65535) {
		t.Fatal("hornerFits bound wrong")
	}
}

func TestCombination(t *testing.T) {
	vals := testValues(t, 8)
	cases := []struct {
		w []int64
		d uint64
	}{
		{[]int64{1}, 1},
		{[]int64{1}, 3},
		{[]int64{15, -10, 3}, 8}, // Lagrange at 0 for x = 1, 3, 5
		{[]int64{8, -6, 1}, 3},   // x = 1, 2, 4
		{[]int64{6, -8, 3}, 1},   // x = 2, 3, 4
		{[]int64{-5, -7, 9}, 12}, // even and odd parts in the denominator
		{[]int64{1 << 62, -(1 << 62), 3}, 1<<63 - 25},
		{[]int64{-1 << 63}, ^uint64(0)},
		{[]int64{1 << 62, 1<<63 - 1, -(1 << 62) + 2}, 5}, // sum |w| = 2^64-2
		{[]int64{3, 3, 3, 3, 3}, 1 << 63},
	}
	for _, tc := range cases {
		l, err := NewCombination(tc.w, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		for off := range vals {
			a := make([][]byte, len(tc.w))
			sum := new(big.Int)
			for i := range a {
				v := &vals[(off+i*5)%len(vals)]
				a[i] = make([]byte, Bytes)
				v.PutBytes(a[i])
				sum.Add(sum, new(big.Int).Mul(big.NewInt(tc.w[i]), v.Big()))
			}
			var e Elem
			if !l.Eval(&e, a) {
				t.Fatal("Eval reported a canonical input as not canonical")
			}
			// e*D = sum w_i a_i (mod P)
			got := new(big.Int).Mul(e.Big(), new(big.Int).SetUint64(tc.d))
			if !e.IsCanonical() || mod(got).Cmp(mod(sum)) != 0 {
				t.Fatalf("w=%v d=%d: wrong result", tc.w, tc.d)
			}
		}
	}
	for _, w := range [][]int64{{-1 << 63, -1 << 63}, {-1 << 63, 1<<63 - 1}} {
		if _, err := NewCombination(w, 1); !errors.Is(err, ErrCombinationTooLarge) {
			t.Fatalf("sum |w| >= 2^64-1 accepted: %v", err)
		}
	}
	l, _ := NewCombination([]int64{1, -1}, 2)
	a := [][]byte{make([]byte, Bytes), make([]byte, Bytes)}
	var e Elem
	for i := range a {
		Modulus().PutBytes(a[i])
		if l.Eval(&e, a) {
			t.Fatalf("Eval accepted a value equal to P as input %d", i)
		}
		clear(a[i])
	}
	if !l.Eval(&e, a) || l.Eval(&e, [][]byte{a[0], a[1][1:]}) || l.Eval(&e, a[:1]) {
		t.Fatal("Eval length checks wrong")
	}
}

// TestCombinationRandom checks Eval against math/big for random weights
// and denominators: every mix of signs, shifts and odd parts.
func TestCombinationRandom(t *testing.T) {
	vals := testValues(t, 6)
	rnd := func(n int64) int64 {
		v, _ := rand.Int(rand.Reader, big.NewInt(n))
		return v.Int64()
	}
	for trial := range 300 {
		k := 1 + int(rnd(6))
		w := make([]int64, k)
		for i := range w {
			w[i] = rnd(1<<21) - 1<<20
		}
		d := uint64(1 + rnd(1<<40))
		if trial%3 == 0 {
			d = 1 << uint(rnd(64)) // powers of two, up to 2^63
		}
		l, err := NewCombination(w, d)
		if err != nil {
			t.Fatal(err)
		}
		a := make([][]byte, k)
		sum := new(big.Int)
		for i := range a {
			v := &vals[int(rnd(int64(len(vals))))]
			a[i] = make([]byte, Bytes)
			v.PutBytes(a[i])
			sum.Add(sum, new(big.Int).Mul(big.NewInt(w[i]), v.Big()))
		}
		var e Elem
		if !l.Eval(&e, a) {
			t.Fatal("canonical input rejected")
		}
		got := new(big.Int).Mul(e.Big(), new(big.Int).SetUint64(d))
		if !e.IsCanonical() || mod(got).Cmp(mod(sum)) != 0 {
			t.Fatalf("w=%v d=%d: wrong result", w, d)
		}
	}
}

func TestDivWord(t *testing.T) {
	for _, a := range testValues(t, 4) {
		for _, d := range []uint64{1, 2, 3, 6, 7, 64, 1<<63 + 1, ^uint64(0)} {
			var e Elem
			e.DivWord(&a, d)
			back := new(big.Int).Mul(e.Big(), new(big.Int).SetUint64(d))
			if !e.IsCanonical() || mod(back).Cmp(a.Big()) != 0 {
				t.Fatalf("(a/%d)*%d != a", d, d)
			}
		}
	}
}

// TestEvaluator compares the multi-point evaluator (forward differences at
// 1..n, Horner elsewhere) with EvalSmall, on edge and random coefficients.
func TestEvaluator(t *testing.T) {
	vals := testValues(t, 4)
	pm1 := vals[3] // P-1: the largest coefficient
	for _, xs := range [][]uint64{
		{1}, {1, 2}, {2, 1, 3}, {1, 2, 3, 4, 5}, {5, 3, 1, 2, 4},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		{1, 3, 5}, {2, 3, 4}, {7, 1000, 65535},
	} {
		for k := 1; k <= 5; k++ {
			ev := NewEvaluator(k, xs)
			for trial := range 3 {
				coef := make([]Elem, k)
				for j := range coef {
					coef[j] = vals[(j*5+trial*3+k)%len(vals)]
					if trial == 0 {
						coef[j] = pm1
					}
				}
				dst := make([][]byte, len(xs))
				for i := range dst {
					dst[i] = make([]byte, Bytes)
				}
				ev.EvalBytes(dst, coef)
				for i, x := range xs {
					var want Elem
					want.EvalSmall(coef, x)
					wb := make([]byte, Bytes)
					want.PutBytes(wb)
					if !bytes.Equal(dst[i], wb) {
						t.Fatalf("k=%d xs=%v: value at %d differs", k, xs, x)
					}
				}
			}
		}
	}
}

func FuzzSetBytes(f *testing.F) {
	b := make([]byte, Bytes)
	f.Add(b)
	Modulus().PutBytes(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Elem
		err := e.SetBytes(b)
		if len(b) != Bytes {
			if err == nil {
				t.Fatal("accepted a wrong length")
			}
			return
		}
		canonical := new(big.Int).SetBytes(reversed(b)).Cmp(ModulusBig()) < 0
		if canonical != (err == nil) {
			t.Fatalf("SetBytes error %v for canonical=%v", err, canonical)
		}
		var raw Elem
		if raw.SetBytesRaw(b) != canonical || raw.Big().Cmp(new(big.Int).SetBytes(reversed(b))) != 0 {
			t.Fatal("SetBytesRaw disagrees")
		}
		if err == nil {
			out := make([]byte, Bytes)
			e.PutBytes(out)
			if !bytes.Equal(out, b) {
				t.Fatal("PutBytes(SetBytes(b)) != b")
			}
		}
	})
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}
