package field

import (
	"fmt"
	"testing"
)

// The split and combine throughput benchmarks are in crypto/shamir; these
// time the building blocks one element at a time.

func BenchmarkEvalSmall(b *testing.B) {
	vals := testValues(b, 4)
	for _, k := range []int{2, 3, 5} {
		b.Run(fmt.Sprintf("k=%d,x=5", k), func(b *testing.B) {
			var e Elem
			b.ReportAllocs()
			for b.Loop() {
				e.EvalSmall(vals[:k], 5)
			}
		})
	}
}

func BenchmarkReduce(b *testing.B) {
	vals := testValues(b, 4)
	var e Elem
	b.ReportAllocs()
	for b.Loop() {
		reduce(&e, &vals[10], 31)
	}
}

func BenchmarkAdd(b *testing.B) {
	vals := testValues(b, 4)
	var e Elem
	b.ReportAllocs()
	for b.Loop() {
		e.Add(&vals[10], &vals[11])
	}
}

func BenchmarkSetBytes(b *testing.B) {
	vals := testValues(b, 1)
	buf := make([]byte, Bytes)
	vals[9].PutBytes(buf)
	var e Elem
	b.ReportAllocs()
	for b.Loop() {
		_ = e.SetBytes(buf)
	}
}

func BenchmarkCombination(b *testing.B) {
	vals := testValues(b, 4)
	for _, tc := range []struct {
		name string
		w    []int64
		d    uint64
	}{
		{"x=1,3,5", []int64{15, -10, 3}, 8}, // a shift
		{"x=1,2,5", []int64{15, -10, 1}, 6}, // a remainder, a shift and a Hensel division
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := NewCombination(tc.w, tc.d)
			if err != nil {
				b.Fatal(err)
			}
			in := make([][]byte, 3)
			for i := range in {
				in[i] = make([]byte, Bytes)
				vals[9+i].PutBytes(in[i])
			}
			var e Elem
			b.ReportAllocs()
			for b.Loop() {
				l.Eval(&e, in)
			}
		})
	}
}

var sinkWord uint64

// BenchmarkCalibrate runs 1024 dependent 64-bit multiplications (3 cycles
// each on AMD Zen and recent Intel cores): ns/op divided by 3072 is the
// time one cycle took during the run. On a machine shared with other work
// it tells whether the other figures of the same run were taken at speed.
func BenchmarkCalibrate(b *testing.B) {
	x := uint64(1)
	for b.Loop() {
		x = mulChain(x, 0x9E3779B97F4A7C15)
	}
	sinkWord = x
}

//go:noinline
func mulChain(x, k uint64) uint64 {
	for range 1024 {
		x *= k
	}
	return x
}
