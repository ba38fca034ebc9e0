// Package shamir splits data into Shamir shares over the RFC 3526 8192-bit prime field and rebuilds it.
package shamir

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/qasmat/qasmat/crypto/field"
)

const (
	// PartSize is the number of plaintext bytes in one part: a little-endian
	// integer below 2^8184, hence below P.
	PartSize = field.Bytes - 1
	// ShareSize is the size of one share of one part: a little-endian field
	// element below P.
	ShareSize = field.Bytes
	// MaxX is the largest x coordinate (share chunks carry x as a uint16).
	MaxX = 65535
)

var (
	// ErrTooFewShares means fewer shares than the threshold were given.
	ErrTooFewShares = errors.New("shamir: too few shares")
	// ErrDuplicateX means two shares claim the same x coordinate.
	ErrDuplicateX = errors.New("shamir: duplicate x coordinate")
	// ErrBadX means an x coordinate is outside 1..MaxX.
	ErrBadX = errors.New("shamir: x coordinate out of range")
	// ErrBadShare means a share is malformed, not below P, or does not
	// belong with the others (the rebuilt part does not fit in PartSize bytes).
	ErrBadShare = errors.New("shamir: bad share")
)

// checkXs validates a list of x coordinates: in 1..MaxX and distinct.
func checkXs(xs []int) error {
	seen := make(map[int]bool, len(xs))
	for _, x := range xs {
		if x < 1 || x > MaxX {
			return fmt.Errorf("%w: %d", ErrBadX, x)
		}
		if seen[x] {
			return fmt.Errorf("%w: %d", ErrDuplicateX, x)
		}
		seen[x] = true
	}
	return nil
}

// loadPart reads a PartSize-byte plaintext part into e (the top byte is zero).
func loadPart(e *field.Elem, b []byte) {
	_ = b[PartSize-1]
	for i := 0; i < field.Words-1; i++ {
		e[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	var last [8]byte
	copy(last[:], b[8*(field.Words-1):PartSize])
	e[field.Words-1] = binary.LittleEndian.Uint64(last[:])
}

// storePart writes e, which must be below 2^8184, as a PartSize-byte part.
func storePart(b []byte, e *field.Elem) {
	_ = b[PartSize-1]
	for i := 0; i < field.Words-1; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], e[i])
	}
	var last [8]byte
	binary.LittleEndian.PutUint64(last[:], e[field.Words-1])
	copy(b[8*(field.Words-1):PartSize], last[:7])
}
