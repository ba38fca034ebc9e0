package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/qasmat/qasmat/crypto/field"
)

// subsets calls f with every k-element subset of 0..n-1, in lexicographic order.
func subsets(n, k int, f func(idx []int)) {
	idx := make([]int, k)
	var rec func(pos, start int)
	rec = func(pos, start int) {
		if pos == k {
			f(idx)
			return
		}
		for i := start; i <= n-(k-pos); i++ {
			idx[pos] = i
			rec(pos+1, i+1)
		}
	}
	rec(0, 0)
}

func newShareBufs(n, parts int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, parts*ShareSize)
	}
	return out
}

func splitAll(t testing.TB, k int, xs []int, plain []byte) [][]byte {
	t.Helper()
	s, err := NewSplitter(k, xs, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := newShareBufs(len(xs), len(plain)/PartSize)
	if err := s.SplitParts(plain, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func combineAll(t testing.TB, xs []int, shares [][]byte) ([]byte, error) {
	t.Helper()
	c, err := NewCombiner(xs)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(shares[0])/ShareSize*PartSize)
	return out, c.CombineParts(shares, out)
}

func xsRange(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i + 1
	}
	return xs
}

func randomParts(parts int) []byte {
	b := make([]byte, parts*PartSize)
	rand.Read(b)
	return b
}

func TestRoundTripEverySubset(t *testing.T) {
	for _, kn := range [][2]int{{2, 2}, {2, 3}, {3, 5}, {5, 8}, {10, 16}} {
		k, n := kn[0], kn[1]
		t.Run(fmt.Sprintf("k=%d,n=%d", k, n), func(t *testing.T) {
			plain := randomParts(2)
			// The largest value a part can hold must survive too.
			for i := range PartSize {
				plain[PartSize+i] = 0xff
			}
			xs := xsRange(n)
			shares := splitAll(t, k, xs, plain)
			got := make([]byte, len(plain))
			sx := make([]int, k)
			sh := make([][]byte, k)
			count := 0
			subsets(n, k, func(idx []int) {
				// Shares may come in any order.
				for i, j := range idx {
					sx[(i+count)%k], sh[(i+count)%k] = xs[j], shares[j]
				}
				c, err := NewCombiner(sx)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.CombineParts(sh, got); err != nil {
					t.Fatalf("xs %v: %v", sx, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("xs %v: rebuilt parts differ", sx)
				}
				count++
			})
			if count == 0 {
				t.Fatal("no subsets tried")
			}
		})
	}
}

// TestRoundTripFarX uses x coordinates whose Lagrange weights do not fit in
// words and whose powers overflow the one-pass Horner bound: the slow paths.
func TestRoundTripFarX(t *testing.T) {
	xs := []int{65535, 65000, 1, 40000, 300, 20000}
	plain := randomParts(2)
	shares := splitAll(t, 6, xs, plain)
	got, err := combineAll(t, xs, shares)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("far x round trip failed: %v", err)
	}
	if c, _ := NewCombiner(xs); c.comb != nil {
		t.Fatal("expected the general (full multiplication) path for these x")
	}
	if c, _ := NewCombiner([]int{1, 3, 5}); c.comb == nil {
		t.Fatal("expected the small-weight path for x = 1, 3, 5")
	}
}

func TestPartCounts(t *testing.T) {
	xs := xsRange(3)
	for _, parts := range []int{0, 1, 2, 17} {
		plain := randomParts(parts)
		shares := splitAll(t, 2, xs, plain)
		for i := range shares {
			if len(shares[i]) != parts*ShareSize {
				t.Fatalf("%d parts: share length %d", parts, len(shares[i]))
			}
		}
		got, err := combineAll(t, xs[1:], shares[1:])
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d parts: round trip failed: %v", parts, err)
		}
	}
}

func TestSplitRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		k    int
		xs   []int
		want error
	}{
		{2, []int{1, 1}, ErrDuplicateX},
		{2, []int{0, 1}, ErrBadX},
		{2, []int{1, 65536}, ErrBadX},
		{2, []int{-3, 1}, ErrBadX},
		{1, []int{1, 2}, nil},
		{3, []int{1, 2}, nil},
	} {
		_, err := NewSplitter(tc.k, tc.xs, nil)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("NewSplitter(%d, %v) = %v, want %v", tc.k, tc.xs, err, tc.want)
		}
	}
	s, err := NewSplitter(2, []int{1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.K() != 2 || len(s.Xs()) != 2 || s.Xs()[1] != 2 {
		t.Fatal("K or Xs wrong")
	}
	if err := s.SplitParts(make([]byte, PartSize+1), newShareBufs(2, 1)); err == nil {
		t.Error("accepted a plaintext that is not whole parts")
	}
	if err := s.SplitParts(make([]byte, PartSize), newShareBufs(1, 1)); err == nil {
		t.Error("accepted too few output buffers")
	}
	if err := s.SplitParts(make([]byte, PartSize), newShareBufs(2, 2)); err == nil {
		t.Error("accepted output buffers of the wrong size")
	}
}

func TestCombineRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		xs   []int
		want error
	}{
		{[]int{1}, ErrTooFewShares},
		{nil, ErrTooFewShares},
		{[]int{2, 2}, ErrDuplicateX},
		{[]int{0, 2}, ErrBadX},
		{[]int{1, 70000}, ErrBadX},
	} {
		if _, err := NewCombiner(tc.xs); !errors.Is(err, tc.want) {
			t.Errorf("NewCombiner(%v) = %v, want %v", tc.xs, err, tc.want)
		}
	}
	plain := randomParts(2)
	shares := splitAll(t, 3, xsRange(3), plain)
	c, err := NewCombiner(xsRange(3))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(plain))
	if err := c.CombineParts(shares[:2], out); !errors.Is(err, ErrTooFewShares) {
		t.Errorf("two shares for three: %v", err)
	}
	if err := c.CombineParts([][]byte{shares[0], shares[1], shares[2][ShareSize:]}, out); !errors.Is(err, ErrBadShare) {
		t.Errorf("shares of different lengths: %v", err)
	}
	if err := c.CombineParts([][]byte{shares[0][1:], shares[1][1:], shares[2][1:]}, out[1:]); !errors.Is(err, ErrBadShare) {
		t.Errorf("shares not whole: %v", err)
	}
	if err := c.CombineParts(shares, out[1:]); err == nil {
		t.Error("accepted an output of the wrong size")
	}
}

// TestFewerSharesNeverGarbage: k-1 shares of a k-threshold split, combined
// as if the threshold were k-1, must fail rather than return data. Each
// part then rebuilds to a uniform value mod P, which fits in 1023 bytes
// with probability 2^-8; 32 parts make a silent miss a 2^-256 event.
func TestFewerSharesNeverGarbage(t *testing.T) {
	plain := randomParts(32)
	shares := splitAll(t, 3, xsRange(5), plain)
	out, err := combineAll(t, []int{2, 4}, [][]byte{shares[1], shares[3]})
	if !errors.Is(err, ErrBadShare) {
		t.Fatalf("two shares of a 3-of-5 split: got %v, want ErrBadShare", err)
	}
	if !bytes.Equal(out, make([]byte, len(out))) {
		t.Fatal("output not cleared after an error")
	}
}

// TestForeignShares: a share under the wrong x, or from another split, is
// detected in the same way.
func TestForeignShares(t *testing.T) {
	plain := randomParts(32)
	shares := splitAll(t, 2, xsRange(3), plain)
	other := splitAll(t, 2, xsRange(3), plain)
	if _, err := combineAll(t, []int{1, 3}, [][]byte{shares[0], shares[1]}); !errors.Is(err, ErrBadShare) {
		t.Errorf("share of x=2 presented as x=3: %v", err)
	}
	if _, err := combineAll(t, []int{1, 2}, [][]byte{shares[0], other[1]}); !errors.Is(err, ErrBadShare) {
		t.Errorf("share from another split: %v", err)
	}
}

func TestShareNotBelowModulus(t *testing.T) {
	plain := randomParts(3)
	for _, xs := range [][]int{{1, 2}, {1, 3}, {2, 3}} {
		shares := splitAll(t, 2, xs, plain)
		field.Modulus().PutBytes(shares[1][ShareSize:])
		if _, err := combineAll(t, xs, shares); !errors.Is(err, ErrBadShare) {
			t.Errorf("xs %v: share equal to P: %v", xs, err)
		}
	}
}

// TestThresholdSecrecy checks that k-1 shares leave every secret possible:
// for each candidate secret there is exactly one k-th share, built here
// with field operations from the unique polynomial through (0, secret) and
// the k-1 fixed shares, and combining with it yields that candidate.
func TestThresholdSecrecy(t *testing.T) {
	const k = 3
	xs := []int{2, 5, 4} // the first k-1 shares are fixed; x=4 is built
	plain := randomParts(1)
	shares := splitAll(t, k, xs, plain)
	var fixed [k - 1]field.Elem
	for i := range fixed {
		if err := fixed[i].SetBytes(shares[i]); err != nil {
			t.Fatal(err)
		}
	}
	candidates := [][]byte{make([]byte, PartSize), bytes.Repeat([]byte{0xff}, PartSize), randomParts(1), plain}
	built := make(map[string]bool)
	for _, secret := range candidates {
		var s field.Elem
		buf := make([]byte, field.Bytes)
		copy(buf, secret)
		if err := s.SetBytes(buf); err != nil {
			t.Fatal(err)
		}
		nodes := []int{0, xs[0], xs[1]}
		values := []*field.Elem{&s, &fixed[0], &fixed[1]}
		y := evalThrough(nodes, values, xs[2])
		last := make([]byte, ShareSize)
		y.PutBytes(last)
		got, err := combineAll(t, xs, [][]byte{shares[0], shares[1], last})
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("the completed shares do not rebuild the candidate: %v", err)
		}
		built[string(last)] = true
		// Unique: any other k-th share rebuilds something else.
		y.Add(y, new(field.Elem).SetUint64(1))
		y.PutBytes(last)
		got, err = combineAll(t, xs, [][]byte{shares[0], shares[1], last})
		if err == nil && bytes.Equal(got, secret) {
			t.Fatal("two different k-th shares rebuild the same candidate")
		}
	}
	if len(built) != len(candidates) {
		t.Fatal("different candidates needed the same k-th share")
	}
}

// evalThrough returns the value at x of the polynomial of degree
// len(nodes)-1 through (nodes[i], values[i]), by Lagrange's formula.
func evalThrough(nodes []int, values []*field.Elem, x int) *field.Elem {
	var sum field.Elem
	for i, xi := range nodes {
		num, den := new(field.Elem).SetUint64(1), new(field.Elem).SetUint64(1)
		for j, xj := range nodes {
			if j == i {
				continue
			}
			num.Mul(num, felem(x-xj))
			den.Mul(den, felem(xi-xj))
		}
		num.Mul(num, den.Inverse(den))
		sum.Add(&sum, num.Mul(num, values[i]))
	}
	return &sum
}

// felem returns v mod P for a small signed v.
func felem(v int) *field.Elem {
	e := new(field.Elem).SetUint64(uint64(max(v, -v)))
	if v < 0 {
		e.Neg(e)
	}
	return e
}

// TestDefaultRandomness: two splits of the same data with the default
// generator share nothing (a fixed or reused keystream would show here).
func TestDefaultRandomness(t *testing.T) {
	plain := randomParts(2)
	a := splitAll(t, 2, xsRange(2), plain)
	b := splitAll(t, 2, xsRange(2), plain)
	if bytes.Equal(a[0][:ShareSize], b[0][:ShareSize]) || bytes.Equal(a[0][:ShareSize], a[0][ShareSize:]) {
		t.Fatal("shares repeat across splits or parts")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestRandomnessFailure(t *testing.T) {
	s, err := NewSplitter(2, xsRange(2), failingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SplitParts(randomParts(1), newShareBufs(2, 1)); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("reader error not returned: %v", err)
	}
	short := bytes.NewReader(make([]byte, field.Bytes-1))
	if err := RefreshParts(2, xsRange(2), 1, short, newShareBufs(2, 1)); err == nil {
		t.Fatal("a short read was accepted")
	}
}

func FuzzCombineParts(f *testing.F) {
	f.Add([]byte{1, 2}, make([]byte, 2*ShareSize))
	f.Add([]byte{1, 3, 5}, bytes.Repeat([]byte{0xff}, 3*ShareSize))
	f.Fuzz(func(t *testing.T, xb []byte, data []byte) {
		if len(xb) == 0 || len(xb) > 8 {
			return
		}
		xs := make([]int, len(xb))
		for i, b := range xb {
			xs[i] = int(b)
		}
		c, err := NewCombiner(xs)
		if err != nil {
			return
		}
		size := len(data) / len(xs)
		shares := make([][]byte, len(xs))
		for i := range shares {
			shares[i] = data[i*size : (i+1)*size]
		}
		out := make([]byte, size/ShareSize*PartSize)
		err = c.CombineParts(shares, out)
		if err != nil && !bytes.Equal(out, make([]byte, len(out))) {
			t.Fatal("output not cleared after an error")
		}
		if err == nil && size%ShareSize != 0 {
			t.Fatal("accepted shares that are not whole")
		}
	})
}
