package field

import "math/big"

// rfc3526Prime builds the 8192-bit MODP prime of RFC 3526 section 7 from its
// defining formula, p = 2^8192 - 2^8128 - 1 + 2^64 * (floor(2^8062 * pi) + 4743158),
// rather than from a transcribed constant: a typo in 2048 hex digits would
// be silent, the formula is not (the tests compare it with the RFC's digits
// and check primality).
func rfc3526Prime() *big.Int {
	t := piFloor(8062, piGuardBits)
	t.Add(t, big.NewInt(4743158))
	t.Lsh(t, 64)
	one := big.NewInt(1)
	v := new(big.Int).Lsh(one, 8192)
	v.Sub(v, new(big.Int).Lsh(one, 8128))
	v.Sub(v, one)
	return v.Add(v, t)
}

// piGuardBits is how far below the last wanted bit the series is computed.
// The few thousand truncated divisions err by less than 2^16 units in all,
// so 64 guard bits leave the floor exact unless pi's binary expansion held
// about 48 equal bits in a row right there (the tests rule it out by
// comparing with 128 guard bits and with the RFC's digits).
const piGuardBits = 64

// piFloor returns floor(2^n * pi), from Machin's formula
// pi = 16*arctan(1/5) - 4*arctan(1/239) in fixed point with guard bits.
func piFloor(n, guard uint) *big.Int {
	scale := n + guard
	a := arctanInv(5, scale)
	a.Lsh(a, 4)
	b := arctanInv(239, scale)
	b.Lsh(b, 2)
	a.Sub(a, b)
	return a.Rsh(a, guard)
}

// arctanInv returns about 2^scale * arctan(1/x) by its Taylor series,
// each term truncated toward zero.
func arctanInv(x int64, scale uint) *big.Int {
	sum := new(big.Int)
	power := new(big.Int).Lsh(big.NewInt(1), scale) // 2^scale / x^(2k+1)
	xb := big.NewInt(x)
	power.Quo(power, xb)
	x2 := big.NewInt(x * x)
	term := new(big.Int)
	for k := int64(0); power.Sign() != 0; k++ {
		term.Quo(power, big.NewInt(2*k+1))
		if k%2 == 0 {
			sum.Add(sum, term)
		} else {
			sum.Sub(sum, term)
		}
		power.Quo(power, x2)
	}
	return sum
}
