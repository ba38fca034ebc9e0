package shamir

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qasmat/qasmat/crypto/field"
)

func addAll(t *testing.T, shares, delta [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(shares))
	for i := range shares {
		out[i] = bytes.Clone(shares[i])
		if err := AddShares(out[i], delta[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestRefreshKeepsSecret: shares plus renewal values still combine to the
// data from any k of them, the renewal values alone combine to zero, and
// old and new shares do not mix.
func TestRefreshKeepsSecret(t *testing.T) {
	const k, n, parts = 3, 5, 32
	xs := xsRange(n)
	plain := randomParts(parts)
	old := splitAll(t, k, xs, plain)
	delta := newShareBufs(n, parts)
	if err := RefreshParts(k, xs, parts, nil, delta); err != nil {
		t.Fatal(err)
	}
	renewed := addAll(t, old, delta)
	subsets(n, k, func(idx []int) {
		sx := []int{xs[idx[0]], xs[idx[1]], xs[idx[2]]}
		got, err := combineAll(t, sx, [][]byte{renewed[idx[0]], renewed[idx[1]], renewed[idx[2]]})
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("renewed shares %v do not rebuild the data: %v", sx, err)
		}
		zero, err := combineAll(t, sx, [][]byte{delta[idx[0]], delta[idx[1]], delta[idx[2]]})
		if err != nil || !bytes.Equal(zero, make([]byte, len(zero))) {
			t.Fatalf("renewal values %v do not combine to zero: %v", sx, err)
		}
	})
	for i := range old {
		if bytes.Equal(old[i], renewed[i]) {
			t.Fatalf("share %d unchanged by renewal", i)
		}
	}
	// Two old shares and one new one belong to different polynomials.
	if _, err := combineAll(t, xs[:3], [][]byte{old[0], old[1], renewed[2]}); !errors.Is(err, ErrBadShare) {
		t.Fatalf("old and renewed shares combined: %v", err)
	}
}

func TestRefreshRejectsBadArguments(t *testing.T) {
	if err := RefreshParts(2, []int{1, 1}, 1, nil, newShareBufs(2, 1)); !errors.Is(err, ErrDuplicateX) {
		t.Errorf("duplicate x: %v", err)
	}
	if err := RefreshParts(2, []int{1, 2}, -1, nil, newShareBufs(2, 0)); err == nil {
		t.Error("negative part count accepted")
	}
	if err := RefreshParts(2, []int{1, 2}, 2, nil, newShareBufs(2, 1)); err == nil {
		t.Error("short output accepted")
	}
}

func TestAddSharesRejects(t *testing.T) {
	a := make([]byte, 2*ShareSize)
	a[5] = 7
	before := bytes.Clone(a)
	bad := make([]byte, 2*ShareSize)
	field.Modulus().PutBytes(bad[ShareSize:])
	if err := AddShares(a, bad); !errors.Is(err, ErrBadShare) {
		t.Errorf("delta equal to P: %v", err)
	}
	if err := AddShares(bad, a); !errors.Is(err, ErrBadShare) {
		t.Errorf("share equal to P: %v", err)
	}
	if err := AddShares(a, a[:ShareSize]); !errors.Is(err, ErrBadShare) {
		t.Errorf("lengths differ: %v", err)
	}
	if err := AddShares(a[1:], a[1:]); !errors.Is(err, ErrBadShare) {
		t.Errorf("not whole shares: %v", err)
	}
	if !bytes.Equal(a, before) {
		t.Fatal("a rejected addition changed the share")
	}
}
