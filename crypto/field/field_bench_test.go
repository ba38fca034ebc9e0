package field

import "testing"

func BenchmarkEvalSmall(b *testing.B) {
	vals := testValues(b, 4)
	for _, k := range []int{2, 3, 5} {
		b.Run(string(rune('0'+k)), func(b *testing.B) {
			var e Elem
			for b.Loop() {
				e.EvalSmall(vals[:k], 5)
			}
		})
	}
}

func BenchmarkReduce(b *testing.B) {
	vals := testValues(b, 4)
	var e Elem
	for b.Loop() {
		reduce(&e, &vals[10], 31)
	}
}

func BenchmarkAdd(b *testing.B) {
	vals := testValues(b, 4)
	var e Elem
	for b.Loop() {
		e.Add(&vals[10], &vals[11])
	}
}

func BenchmarkCombination(b *testing.B) {
	vals := testValues(b, 4)
	for _, tc := range []struct {
		name string
		w    []int64
		d    uint64
	}{{"135", []int64{15, -10, 3}, 8}, {"125", []int64{15, -10, 1}, 6}} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := NewCombination(tc.w, tc.d)
			in := make([][]byte, 3)
			for i := range in {
				in[i] = make([]byte, Bytes)
				vals[9+i].PutBytes(in[i])
			}
			var e Elem
			for b.Loop() {
				l.Eval(&e, in)
			}
		})
	}
}

func BenchmarkPutBytes(b *testing.B) {
	vals := testValues(b, 1)
	buf := make([]byte, Bytes)
	for b.Loop() {
		vals[9].PutBytes(buf)
	}
}

func BenchmarkSetBytes(b *testing.B) {
	vals := testValues(b, 1)
	buf := make([]byte, Bytes)
	vals[9].PutBytes(buf)
	var e Elem
	for b.Loop() {
		_ = e.SetBytes(buf)
	}
}

func BenchmarkFold(b *testing.B) {
	vals := testValues(b, 1)
	var e Elem
	for b.Loop() {
		fold(&e, &vals[9], 31)
	}
}

func BenchmarkSubC(b *testing.B) {
	vals := testValues(b, 1)
	var e Elem
	for b.Loop() {
		subC(&e, &vals[9], 0)
	}
}

var sinkWord uint64

// BenchmarkCalibrate runs 1024 dependent 64-bit multiplications (3 cycles
// each on AMD Zen and recent Intel cores): ns/op divided by 3072 is the
// time one cycle took during the run, on a machine shared with others.
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

func BenchmarkHorner2(b *testing.B) {
	vals := testValues(b, 4)
	var lo Elem
	for b.Loop() {
		sinkWord += horner2(&lo, &vals[9], &vals[10], &vals[11], 5)
	}
}

func BenchmarkSubCBytes(b *testing.B) {
	vals := testValues(b, 1)
	buf := make([]byte, Bytes)
	for b.Loop() {
		subCBytes(buf, &vals[9], 0)
	}
}
