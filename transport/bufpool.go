package transport

import "sync"

// Messages of a share chunk (about 1 MiB) are assembled and encoded often:
// recycling their buffers spares the garbage collector most of the retrieve
// path's allocations. Only big buffers are pooled; a buffer that is never
// handed back is simply collected.
const (
	poolMinBuf = 256 << 10
	// poolBufCap fits a full share chunk message (12 + 1 MiB of shares plus
	// a few bytes of message header), so that pooled buffers fit each other.
	poolBufCap = 1<<20 + 4<<10
	poolMaxBuf = 2 * poolBufCap
)

var bigBufs sync.Pool // of *[]byte

// NewBuffer returns an empty buffer with capacity for at least n bytes,
// recycled from the pool when it is big enough to be pooled.
func NewBuffer(n int) []byte {
	if n < poolMinBuf || n > poolBufCap {
		return make([]byte, 0, n)
	}
	if p, ok := bigBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, poolBufCap)
}

// Release hands back a message buffer (a reply from Call, a request given
// to a Handler, a reply given to ServeOwned, or one from NewBuffer) once
// nothing refers to it any more. Releasing a buffer that is still in use
// corrupts whoever uses it; not releasing one is always safe.
func Release(b []byte) {
	if c := cap(b); c < poolBufCap || c > poolMaxBuf {
		return
	}
	b = b[:0]
	bigBufs.Put(&b)
}
