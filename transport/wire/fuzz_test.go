package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzUnmarshal checks that the decoder never panics, and that whatever it
// accepts has exactly one encoding: marshal(unmarshal(b)) == b.
// Seeds: testdata/fuzz/FuzzUnmarshal plus one encoding of every sample.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range samples() {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Unmarshal(in)
		if err != nil {
			if m != nil {
				t.Fatalf("Unmarshal returned %#v with error %v", m, err)
			}
			return
		}
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of an accepted %s: %v", m.Type(), err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", in, out)
		}
		again, err := Unmarshal(out)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("second decode: %#v, %v; want %#v", again, err, m)
		}
	})
}
