package shamir

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/qasmat/qasmat/crypto/field"
)

// ctrReader is the default coefficient source: the AES-256-CTR keystream
// under a fresh key from crypto/rand. Drawing 2 KiB per part straight from
// the kernel would cost more than the arithmetic; AES-CTR with hardware AES
// runs at several GB/s and is indistinguishable from random to anyone
// without the key, which lives only in this process's memory.
type ctrReader struct {
	stream cipher.Stream
	zero   [4096]byte // XORing the keystream into zeros is cheaper than clearing first
}

func newCTRReader() (*ctrReader, error) {
	var key [32]byte
	if _, err := io.ReadFull(rand.Reader, key[:]); err != nil {
		return nil, fmt.Errorf("shamir: seeding the coefficient generator: %w", err)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	// A zero IV is safe because the key is fresh and used for this stream only.
	var iv [aes.BlockSize]byte
	return &ctrReader{stream: cipher.NewCTR(block, iv[:])}, nil
}

// Read fills b with keystream bytes.
func (r *ctrReader) Read(b []byte) (int, error) {
	for i := 0; i < len(b); i += len(r.zero) {
		n := min(len(b)-i, len(r.zero))
		r.stream.XORKeyStream(b[i:i+n], r.zero[:n])
	}
	return len(b), nil
}

// readAheadBytes is how much keystream the default generator produces per
// call: fewer, longer calls amortise the per-call cost of the CTR code.
const readAheadBytes = 16 << 10

// coefficientSource draws uniform field elements from a byte stream: each
// draw is Bytes little-endian bytes, rejected and redrawn if not below P.
// Rejection (probability about 2^-66 per draw) keeps the distribution
// exactly uniform on [0, P); reducing mod P instead would bias it.
//
// From the package's own generator it reads ahead. From a caller's reader
// it reads exactly the draws it uses, one part's worth at a time, so a test
// knows which bytes became which coefficient and that none were skipped.
type coefficientSource struct {
	r         io.Reader
	readAhead bool
	buf       []byte
	pos, end  int // buf[pos:end] holds draws not used yet
}

func newCoefficientSource(r io.Reader, n int) (*coefficientSource, error) {
	s := &coefficientSource{r: r}
	if r == nil {
		cr, err := newCTRReader()
		if err != nil {
			return nil, err
		}
		s.r, s.readAhead = cr, true
		n = max(n, readAheadBytes/field.Bytes)
	}
	s.buf = make([]byte, n*field.Bytes)
	return s, nil
}

// draw fills dst with the next len(dst) accepted draws, in stream order.
func (s *coefficientSource) draw(dst []field.Elem) error {
	for i := range dst {
		for {
			if s.pos == s.end {
				n := len(s.buf)
				if !s.readAhead {
					n = (len(dst) - i) * field.Bytes
				}
				if _, err := io.ReadFull(s.r, s.buf[:n]); err != nil {
					return fmt.Errorf("shamir: drawing coefficients: %w", err)
				}
				s.pos, s.end = 0, n
			}
			b := s.buf[s.pos : s.pos+field.Bytes]
			s.pos += field.Bytes
			if dst[i].SetBytesRaw(b) {
				break
			}
		}
	}
	return nil
}

// wipe clears the buffered draws; unused ones are dropped.
func (s *coefficientSource) wipe() {
	clear(s.buf)
	s.pos, s.end = 0, 0
}
