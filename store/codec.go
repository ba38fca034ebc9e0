package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// encoder appends the fields of a record: unsigned varints for counts and
// small numbers, zig-zag varints for signed ones, length-prefixed strings and
// fixed-size byte arrays as they are.
type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) fixed(p []byte)   { e.b = append(e.b, p...) }
func (e *encoder) string(s string)  { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) { e.varint(t.Unix()); e.uvarint(uint64(t.Nanosecond())) }

// decoder reads what encoder wrote. The first error sticks: later reads
// return zero values, so a record decoder checks d.err once at the end. Every
// length is checked against the bytes left before anything is allocated, so a
// damaged value can never make it allocate much or panic.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: %s", d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.left() < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) fixed(dst []byte) {
	if d.err != nil {
		return
	}
	if d.left() < len(dst) {
		d.fail("truncated: need %d bytes, have %d", len(dst), d.left())
		return
	}
	copy(dst, d.b[d.off:])
	d.off += len(dst)
}

func (d *decoder) string(what string, max int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(d.left()) || n > uint64(max) {
		d.fail("%s length %d out of range", what, n)
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

// count reads an element count and checks that the bytes left can hold that
// many elements of at least minSize bytes each.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(d.left()/minSize) {
		d.fail("%s count %d does not fit in %d bytes", what, n, d.left())
		return 0
	}
	return int(n)
}

func (d *decoder) int(what string) int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return int(v)
}

func (d *decoder) uint32(what string) uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return uint32(v)
}

const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z, time.Time{}
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

func (d *decoder) time(what string) time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("%s nanoseconds %d out of range", what, nsec)
		return time.Time{}
	}
	// Years 1 to 9999: time.Time's own range is wider, but seconds near
	// the int64 limits wrap inside time.Unix.
	if sec < minUnix || sec > maxUnix {
		d.fail("%s seconds %d out of range", what, sec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// version reads the record's leading version byte.
func (d *decoder) version(want byte) {
	if v := d.byte(); d.err == nil && v != want {
		d.fail("unknown record version %d (this build reads %d)", v, want)
	}
}

// finish reports the sticky error, or an error if bytes are left over, as
// ErrCorrupt naming the record type.
func (d *decoder) finish(record string) error {
	if d.err == nil && d.left() != 0 {
		d.fail("%d trailing bytes", d.left())
	}
	if d.err != nil {
		return fmt.Errorf("%w %s record: %v", ErrCorrupt, record, d.err)
	}
	return nil
}
