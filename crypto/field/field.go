// Package field implements arithmetic modulo the 8192-bit prime of RFC 3526, section 7.
package field

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
)

const (
	// Words is the number of 64-bit limbs of an element.
	Words = 128
	// Bytes is the size of an encoded element (little-endian).
	Bytes = Words * 8
)

// ErrNotCanonical is returned when a value is not below the modulus.
var ErrNotCanonical = errors.New("field: value not below the modulus")

// Elem is an integer in little-endian 64-bit limbs. Values produced by this
// package are canonical (below P) unless a method says otherwise.
type Elem [Words]uint64

// p is the modulus and c = 2^8192 - p; both are built from the RFC's
// formula at start-up (see prime.go) and never change afterwards.
var (
	p    Elem
	c    Elem
	pBig *big.Int
)

func init() {
	pBig = rfc3526Prime()
	setBig(&p, pBig)
	// c = 2^8192 - p is the two's complement of p in 8192 bits.
	var borrow uint64
	for i := range c {
		c[i], borrow = bits.Sub64(0, p[i], borrow)
	}
	if c[Words-1] != 0 || c[Words-2]>>62 != 0 || c[0] != 1 {
		// The folding bounds in reduce rely on c < 2^8126.
		panic("field: modulus does not have the RFC 3526 shape")
	}
}

// Modulus returns a copy of the prime P.
func Modulus() *Elem {
	m := p
	return &m
}

// ModulusBig returns a copy of P as a big.Int.
func ModulusBig() *big.Int {
	return new(big.Int).Set(pBig)
}

// SetBytes sets e to the little-endian value in b, which must be Bytes long
// and encode a value below P.
func (e *Elem) SetBytes(b []byte) error {
	if len(b) != Bytes {
		return errors.New("field: encoding must be 1024 bytes")
	}
	in := (*[Bytes]byte)(b)
	// Check first, then decode: e stays unchanged on error without a
	// temporary copy.
	var borrow uint64 // of value - P: 1 at the end iff value < P
	for i := 0; i < Words; i += 4 {
		q := (*[32]byte)(in[8*i:])
		pp := (*[4]uint64)(p[i:])
		w0 := binary.LittleEndian.Uint64(q[0:])
		w1 := binary.LittleEndian.Uint64(q[8:])
		w2 := binary.LittleEndian.Uint64(q[16:])
		w3 := binary.LittleEndian.Uint64(q[24:])
		_, borrow = bits.Sub64(w0, pp[0], borrow)
		_, borrow = bits.Sub64(w1, pp[1], borrow)
		_, borrow = bits.Sub64(w2, pp[2], borrow)
		_, borrow = bits.Sub64(w3, pp[3], borrow)
	}
	if borrow == 0 {
		return ErrNotCanonical
	}
	for i := range e {
		e[i] = binary.LittleEndian.Uint64(in[8*i:])
	}
	return nil
}

// SetBytesRaw sets e to the little-endian value in b (exactly Bytes long),
// canonical or not, and reports whether it is below P. It is SetBytes in
// one pass, for rejection sampling, which discards a value >= P anyway.
func (e *Elem) SetBytesRaw(b []byte) bool {
	in := (*[Bytes]byte)(b)
	var borrow uint64
	for i := 0; i < Words; i += 4 {
		q := (*[32]byte)(in[8*i:])
		w0 := binary.LittleEndian.Uint64(q[0:])
		w1 := binary.LittleEndian.Uint64(q[8:])
		w2 := binary.LittleEndian.Uint64(q[16:])
		w3 := binary.LittleEndian.Uint64(q[24:])
		ee := (*[4]uint64)(e[i:])
		ee[0], ee[1], ee[2], ee[3] = w0, w1, w2, w3
		pp := (*[4]uint64)(p[i:])
		_, borrow = bits.Sub64(w0, pp[0], borrow)
		_, borrow = bits.Sub64(w1, pp[1], borrow)
		_, borrow = bits.Sub64(w2, pp[2], borrow)
		_, borrow = bits.Sub64(w3, pp[3], borrow)
	}
	return borrow == 1
}

// PutBytes writes e into dst (at least Bytes long) as little-endian bytes.
func (e *Elem) PutBytes(dst []byte) {
	_ = dst[Bytes-1]
	for i, w := range e {
		binary.LittleEndian.PutUint64(dst[8*i:], w)
	}
}

// SetUint64 sets e to v.
func (e *Elem) SetUint64(v uint64) *Elem {
	*e = Elem{}
	e[0] = v
	return e
}

// Equal reports whether e and a hold the same limbs, in constant time.
func (e *Elem) Equal(a *Elem) bool {
	var d uint64
	for i := range e {
		d |= e[i] ^ a[i]
	}
	return d == 0
}

// IsZero reports whether e is zero, in constant time.
func (e *Elem) IsZero() bool {
	var d uint64
	for _, w := range e {
		d |= w
	}
	return d == 0
}

// Big returns e as a new big.Int.
func (e *Elem) Big() *big.Int {
	var b [Bytes]byte
	for i, w := range e {
		binary.BigEndian.PutUint64(b[Bytes-8-8*i:], w)
	}
	return new(big.Int).SetBytes(b[:])
}

// SetBig sets e to v mod P.
func (e *Elem) SetBig(v *big.Int) *Elem {
	setBig(e, new(big.Int).Mod(v, pBig))
	return e
}

// setBig stores 0 <= v < 2^8192 into e.
func setBig(e *Elem, v *big.Int) {
	var b [Bytes]byte
	v.FillBytes(b[:])
	for i := range e {
		e[i] = binary.BigEndian.Uint64(b[Bytes-8-8*i:])
	}
}
