package shamir

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The vector files under testdata/ come from testdata/reference.py, an
// independent implementation with Python's integers (see its header).

type vector struct {
	name   string
	fields map[string][]string // key -> values, in file order
}

func (v *vector) one(t *testing.T, key string) string {
	t.Helper()
	if len(v.fields[key]) != 1 {
		t.Fatalf("vector %s: want exactly one %q line", v.name, key)
	}
	return v.fields[key][0]
}

func (v *vector) int(t *testing.T, key string) int {
	t.Helper()
	n, err := strconv.Atoi(v.one(t, key))
	if err != nil {
		t.Fatalf("vector %s: %s: %v", v.name, key, err)
	}
	return n
}

func (v *vector) ints(t *testing.T, key string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(v.one(t, key)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("vector %s: %s: %v", v.name, key, err)
		}
		out = append(out, n)
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shares parses "share: X HEX" lines into x coordinates and share bytes.
func (v *vector) shares(t *testing.T) ([]int, [][]byte) {
	t.Helper()
	var xs []int
	var out [][]byte
	for _, line := range v.fields["share"] {
		xStr, h, ok := strings.Cut(line, " ")
		x, err := strconv.Atoi(xStr)
		if !ok || err != nil {
			t.Fatalf("vector %s: bad share line", v.name)
		}
		xs = append(xs, x)
		out = append(out, unhex(t, h))
	}
	return xs, out
}

func readVectors(t *testing.T, path string) []*vector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: bad line %.40q", path, line)
		}
		if key == "vector" {
			out = append(out, &vector{name: value, fields: map[string][]string{}})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s: %q before the first vector", path, key)
		}
		v := out[len(out)-1]
		v.fields[key] = append(v.fields[key], value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", path)
	}
	return out
}

func TestSplitVectors(t *testing.T) {
	for _, v := range readVectors(t, "testdata/split_vectors.txt") {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			k, xs, parts := v.int(t, "k"), v.ints(t, "xs"), v.int(t, "parts")
			var draws []byte
			for _, d := range v.fields["draw"] {
				draws = append(draws, unhex(t, d)...)
			}
			wantXs, want := v.shares(t)
			if !slices.Equal(wantXs, xs) {
				t.Fatalf("share lines for %v, xs %v", wantXs, xs)
			}
			rd := bytes.NewReader(draws)
			got := make([][]byte, len(xs))
			for i := range got {
				got[i] = make([]byte, parts*ShareSize)
			}
			var plain []byte
			switch kind := v.one(t, "kind"); kind {
			case "split":
				for _, p := range v.fields["part"] {
					plain = append(plain, unhex(t, p)...)
				}
				s, err := NewSplitter(k, xs, rd)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SplitParts(plain, got); err != nil {
					t.Fatal(err)
				}
			case "refresh":
				plain = make([]byte, parts*PartSize)
				if err := RefreshParts(k, xs, parts, rd, got); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("unknown kind %q", kind)
			}
			if rd.Len() != 0 {
				t.Fatalf("%d bytes of draws left unread", rd.Len())
			}
			for i := range xs {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("share for x=%d differs from the reference", xs[i])
				}
			}
			// Back again, from the first k and from the last k shares.
			for _, off := range []int{0, len(xs) - k} {
				c, err := NewCombiner(xs[off : off+k])
				if err != nil {
					t.Fatal(err)
				}
				out := make([]byte, parts*PartSize)
				if err := c.CombineParts(want[off:off+k], out); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, plain) {
					t.Fatalf("shares %v do not combine to the parts", xs[off:off+k])
				}
			}
		})
	}
}

func TestCombineVectors(t *testing.T) {
	for _, v := range readVectors(t, "testdata/combine_vectors.txt") {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			xs, shares := v.shares(t)
			expect := v.one(t, "expect")
			c, err := NewCombiner(xs)
			sentinels := map[string]error{
				"bad-x": ErrBadX, "duplicate-x": ErrDuplicateX, "too-few": ErrTooFewShares,
			}
			if want, ok := sentinels[expect]; ok {
				if !errors.Is(err, want) {
					t.Fatalf("NewCombiner(%v) = %v, want %v", xs, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, PartSize)
			err = c.CombineParts(shares, out)
			if expect == "bad-share" {
				if !errors.Is(err, ErrBadShare) {
					t.Fatalf("CombineParts = %v, want ErrBadShare", err)
				}
				if !bytes.Equal(out, make([]byte, PartSize)) {
					t.Fatal("output not cleared after an error")
				}
				return
			}
			part, ok := strings.CutPrefix(expect, "part ")
			if !ok {
				t.Fatalf("unknown expectation %.20q", expect)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, unhex(t, part)) {
				t.Fatal("rebuilt part differs from the reference")
			}
		})
	}
}

func TestAddVectors(t *testing.T) {
	for _, v := range readVectors(t, "testdata/add_vectors.txt") {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dst := unhex(t, v.one(t, "dst"))
			if err := AddShares(dst, unhex(t, v.one(t, "delta"))); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst, unhex(t, v.one(t, "expect"))) {
				t.Fatal("sum differs from the reference")
			}
		})
	}
}
