package shamir

import (
	"fmt"
	"io"

	"github.com/qasmat/qasmat/crypto/field"
)

// RefreshParts writes into out[i] the values at xs[i] of parts fresh random
// polynomials of degree k-1 with constant term 0 (coefficients drawn from
// rand as in NewSplitter; nil means the package's CSPRNG). Adding them to
// the shares (AddShares) re-randomises the sharing without changing the
// secret, so shares taken before and after a renewal do not combine.
func RefreshParts(k int, xs []int, parts int, rand io.Reader, out [][]byte) error {
	if parts < 0 {
		return fmt.Errorf("shamir: negative part count %d", parts)
	}
	s, err := NewSplitter(k, xs, rand)
	if err != nil {
		return err
	}
	return s.split(nil, parts, out)
}

// AddShares sets dst = dst + delta (mod P) part by part. Both hold the same
// number of shares; a value not below P in either is ErrBadShare (and dst
// is left unchanged).
func AddShares(dst, delta []byte) error {
	if len(dst) != len(delta) || len(dst)%ShareSize != 0 {
		return fmt.Errorf("%w: lengths %d and %d", ErrBadShare, len(dst), len(delta))
	}
	var a, b field.Elem
	for j := 0; j < len(dst); j += ShareSize {
		if a.SetBytes(dst[j:j+ShareSize]) != nil || b.SetBytes(delta[j:j+ShareSize]) != nil {
			return fmt.Errorf("%w: part %d not below the modulus", ErrBadShare, j/ShareSize)
		}
	}
	for j := 0; j < len(dst); j += ShareSize {
		_ = a.SetBytes(dst[j : j+ShareSize])
		_ = b.SetBytes(delta[j : j+ShareSize])
		a.Add(&a, &b)
		a.PutBytes(dst[j : j+ShareSize])
	}
	return nil
}
