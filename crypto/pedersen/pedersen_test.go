package pedersen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"filippo.io/nistec"
)

// wantH is H pinned by hand: changing the label or the derivation would
// silently invalidate every commitment in every catalog.
const (
	wantHHex     = "02c7490083ce7792e633aab6bdce3d143b50e091bd059410d121bd9eccd38212d8"
	wantHCounter = 1
)

var bigN, _ = new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

func scalarFromBig(t testing.TB, v *big.Int) Scalar {
	t.Helper()
	var s Scalar
	new(big.Int).Mod(v, bigN).FillBytes(s[:])
	return s
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestDeriveHReproduces(t *testing.T) {
	p, i, err := deriveH()
	if err != nil {
		t.Fatal(err)
	}
	if i != wantHCounter {
		t.Errorf("counter = %d, want %d", i, wantHCounter)
	}
	if got := hex.EncodeToString(p.BytesCompressed()); got != wantHHex {
		t.Errorf("H = %s, want %s", got, wantHHex)
	}
	// Counter 0 must be the one that failed, otherwise the documented
	// counter is wrong.
	x0 := sha256.Sum256([]byte(HLabel + "\x00\x00\x00\x00"))
	if _, err := nistec.NewP256Point().SetBytes(append([]byte{2}, x0[:]...)); err == nil {
		t.Error("counter 0 decodes as a point; H should have been found there")
	}
	h := H()
	if hex.EncodeToString(h[:]) != wantHHex {
		t.Errorf("H() = %x, want %s", h, wantHHex)
	}
}

func TestHIsNotG(t *testing.T) {
	g := nistec.NewP256Point().SetGenerator()
	if hPoint().Equal(g) == 1 {
		t.Fatal("H == G")
	}
	if hPoint().Equal(nistec.NewP256Point().Negate(g)) == 1 {
		t.Fatal("H == -G")
	}
	if hPoint().IsInfinity() == 1 {
		t.Fatal("H is the identity")
	}
}

func TestMulHMatchesScalarMult(t *testing.T) {
	cases := []Scalar{{}, {31: 1}, {31: 0x0f}, {31: 0xf0}}
	var nMinus1, all1 Scalar
	new(big.Int).Sub(bigN, big.NewInt(1)).FillBytes(nMinus1[:])
	for i := range all1 {
		all1[i] = 0xff
	}
	cases = append(cases, nMinus1, all1)
	for range 50 {
		r, err := RandomScalar(nil)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, r)
	}
	for _, r := range cases {
		got := mulH(nistec.NewP256Point(), &r)
		want, err := nistec.NewP256Point().ScalarMult(hPoint(), r[:])
		if err != nil {
			t.Fatal(err)
		}
		if got.Equal(want) != 1 {
			t.Fatalf("mulH(%x) != ScalarMult", r)
		}
	}
}

func TestHomomorphism(t *testing.T) {
	for range 10 {
		r1, _ := RandomScalar(nil)
		r2, _ := RandomScalar(nil)
		m1 := messageScalar([]byte("first message"))
		m2 := messageScalar([]byte("second, different message"))
		c1 := Commit([]byte("first message"), r1)
		c2 := Commit([]byte("second, different message"), r2)

		p1, err := nistec.NewP256Point().SetBytes(c1[:])
		if err != nil {
			t.Fatal(err)
		}
		p2, err := nistec.NewP256Point().SetBytes(c2[:])
		if err != nil {
			t.Fatal(err)
		}
		sum := nistec.NewP256Point().Add(p1, p2)

		add := func(a, b Scalar) Scalar {
			return scalarFromBig(t, new(big.Int).Add(new(big.Int).SetBytes(a[:]), new(big.Int).SetBytes(b[:])))
		}
		m, r := add(m1, m2), add(r1, r2)
		mG, _ := nistec.NewP256Point().ScalarBaseMult(m[:])
		rH, _ := nistec.NewP256Point().ScalarMult(hPoint(), r[:])
		want := nistec.NewP256Point().Add(mG, rH)
		if sum.Equal(want) != 1 {
			t.Fatalf("C(m1,r1)+C(m2,r2) != (m1+m2)G+(r1+r2)H")
		}
	}
}

func TestVerify(t *testing.T) {
	msg := []byte("qasmat chunk payload")
	r, err := RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := Commit(msg, r)
	if !Verify(c, msg, r) {
		t.Fatal("Verify rejects a correct opening")
	}
	if !VerifyDigest(c, sha256.Sum256(msg), r) {
		t.Fatal("VerifyDigest rejects a correct opening")
	}
	if Verify(c, []byte("qasmat chunk payloaD"), r) {
		t.Error("Verify accepts a wrong message")
	}
	if Verify(c, nil, r) {
		t.Error("Verify accepts an empty message")
	}
	r2 := r
	r2[31] ^= 1
	if Verify(c, msg, r2) {
		t.Error("Verify accepts a wrong r")
	}
	other, _ := RandomScalar(nil)
	if Verify(Commit(msg, other), msg, r) {
		t.Error("Verify accepts a different commitment")
	}
	c2 := c
	c2[0] ^= 1 // the negated point
	if Verify(c2, msg, r) {
		t.Error("Verify accepts the negated commitment")
	}
	if Verify(Commitment{}, msg, r) {
		t.Error("Verify accepts the zero commitment")
	}
}

func TestCommitIsHidingAcrossBlindings(t *testing.T) {
	// Same message, fresh r: the commitments must differ, otherwise a
	// catalog would reveal equal chunks.
	msg := []byte("same")
	r1, _ := RandomScalar(nil)
	r2, _ := RandomScalar(nil)
	if Commit(msg, r1) == Commit(msg, r2) {
		t.Fatal("two blindings give the same commitment")
	}
}

func TestMessageScalarReduces(t *testing.T) {
	for _, tc := range []struct{ in, want *big.Int }{
		{new(big.Int).Sub(bigN, big.NewInt(1)), new(big.Int).Sub(bigN, big.NewInt(1))},
		{bigN, big.NewInt(0)},
		{new(big.Int).Add(bigN, big.NewInt(5)), big.NewInt(5)},
		{new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), new(big.Int).Sub(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), bigN)},
		{big.NewInt(12345), big.NewInt(12345)},
	} {
		var d [32]byte
		tc.in.FillBytes(d[:])
		got := digestScalar(d)
		if new(big.Int).SetBytes(got[:]).Cmp(tc.want) != 0 {
			t.Errorf("digestScalar(%x) = %x, want %x", d, got, tc.want)
		}
	}
}

type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// seqReader yields the given 32-byte blocks in turn.
type seqReader struct{ blocks [][]byte }

func (s *seqReader) Read(p []byte) (int, error) {
	n := copy(p, s.blocks[0])
	s.blocks = s.blocks[1:]
	return n, nil
}

func TestRandomScalarRange(t *testing.T) {
	for range 1000 {
		r, err := RandomScalar(nil)
		if err != nil {
			t.Fatal(err)
		}
		v := new(big.Int).SetBytes(r[:])
		if v.Sign() == 0 || v.Cmp(bigN) >= 0 || !r.Valid() {
			t.Fatalf("RandomScalar = %x, out of [1, n)", r)
		}
	}
	// Rejection sampling: zero, n and 2^256-1 are skipped, 5 is taken.
	var zero, n, five [32]byte
	bigN.FillBytes(n[:])
	five[31] = 5
	src := &seqReader{[][]byte{zero[:], n[:], bytes.Repeat([]byte{0xff}, 32), five[:]}}
	r, err := RandomScalar(src)
	if err != nil {
		t.Fatal(err)
	}
	if r != Scalar(five) {
		t.Fatalf("RandomScalar = %x, want 5 after rejecting 0, n, 2^256-1", r)
	}
	if _, err := RandomScalar(constReader(0xff)); err == nil {
		t.Error("RandomScalar accepts a source that never yields a value below n")
	}
	if _, err := RandomScalar(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("RandomScalar accepts a short source")
	}
}

func TestScalarValid(t *testing.T) {
	var n, nMinus1 Scalar
	bigN.FillBytes(n[:])
	new(big.Int).Sub(bigN, big.NewInt(1)).FillBytes(nMinus1[:])
	for _, tc := range []struct {
		s    Scalar
		want bool
	}{{Scalar{}, false}, {Scalar{31: 1}, true}, {nMinus1, true}, {n, false}, {Scalar(bytes.Repeat([]byte{0xff}, 32)), false}} {
		if tc.s.Valid() != tc.want {
			t.Errorf("Valid(%x) = %v, want %v", tc.s, !tc.want, tc.want)
		}
	}
}

func TestParseCommitmentRejects(t *testing.T) {
	r, _ := RandomScalar(nil)
	good := Commit([]byte("m"), r)
	if c, err := ParseCommitment(good[:]); err != nil || c != good {
		t.Fatalf("ParseCommitment(good) = %x, %v", c, err)
	}

	var p [32]byte // the field prime: x = p is not canonical
	copy(p[:], mustHex(t, "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"))
	offCurve := append([]byte{2}, mustHex(t, "0000000000000000000000000000000000000000000000000000000000000001")...)
	uncompressed := nistec.NewP256Point().SetGenerator().Bytes()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"identity 0x00":  {0},
		"zero 33 bytes":  make([]byte, 33),
		"short":          good[:32],
		"long":           append(good[:], 0),
		"uncompressed":   uncompressed,
		"prefix 0x04":    append([]byte{4}, good[1:]...),
		"prefix 0x01":    append([]byte{1}, good[1:]...),
		"x = p":          append([]byte{2}, p[:]...),
		"x = 2^256-1":    append([]byte{3}, bytes.Repeat([]byte{0xff}, 32)...),
		"off curve x=1":  offCurve,
		"counter 0 of H": append([]byte{2}, func() []byte { x := sha256.Sum256([]byte(HLabel + "\x00\x00\x00\x00")); return x[:] }()...),
	} {
		if _, err := ParseCommitment(b); !errors.Is(err, ErrInvalidCommitment) {
			t.Errorf("%s: ParseCommitment(%x) err = %v, want ErrInvalidCommitment", name, b, err)
		}
	}
}

// vectors reads testdata/vectors.txt, written by testdata/reference.py.
func TestReferenceVectors(t *testing.T) {
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var n int
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "label":
			if string(mustHex(t, fields[1])) != HLabel {
				t.Errorf("line %d: label %x, want %q", line, fields[1], HLabel)
			}
		case "counter":
			if c, _ := strconv.Atoi(fields[1]); c != wantHCounter {
				t.Errorf("line %d: counter %d, want %d", line, c, wantHCounter)
			}
		case "H":
			if h := H(); !bytes.Equal(mustHex(t, fields[1]), h[:]) {
				t.Errorf("line %d: H = %s, Go derives %x", line, fields[1], h)
			}
		case "vector", "digest":
			kv := map[string][]byte{}
			for _, f := range fields[1:] {
				k, v, _ := strings.Cut(f, "=")
				kv[k] = mustHex(t, v)
			}
			r := Scalar(kv["r"])
			want, err := ParseCommitment(kv["c"])
			if err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
			var got Commitment
			if fields[0] == "vector" {
				got = Commit(kv["msg"], r)
				if !Verify(want, kv["msg"], r) {
					t.Errorf("line %d: Verify rejects the reference commitment", line)
				}
			} else {
				got = CommitDigest([32]byte(kv["d"]), r)
			}
			if got != want {
				t.Errorf("line %d: commitment %x, reference %x", line, got, want)
			}
			n++
		default:
			t.Fatalf("line %d: unknown record %q", line, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d vectors checked", n)
	}
}

func FuzzParseCommitment(f *testing.F) {
	r := Scalar{31: 9}
	c := Commit([]byte("seed"), r)
	h := H()
	f.Add(c[:])
	f.Add(h[:])
	f.Add([]byte{0})
	f.Add(make([]byte, 33))
	f.Add(nistec.NewP256Point().SetGenerator().Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommitment(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("round trip %x -> %x", b, c.Bytes())
		}
		p, err := nistec.NewP256Point().SetBytes(c[:])
		if err != nil || p.IsInfinity() == 1 {
			t.Fatalf("accepted %x that is not a finite point", b)
		}
		if !bytes.Equal(p.BytesCompressed(), b) {
			t.Fatalf("accepted non-canonical %x", b)
		}
	})
}

func BenchmarkCommit(b *testing.B) {
	r, err := RandomScalar(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("digest", func(b *testing.B) {
		b.ReportAllocs()
		d := sha256.Sum256([]byte("x"))
		for b.Loop() {
			CommitDigest(d, r)
		}
	})
	// One full chunk: the hash dominates, the curve part is the difference
	// from sha256-1MiB below.
	msg := make([]byte, 1023*1023+19)
	b.Run("chunk", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			Commit(msg, r)
		}
	})
	b.Run("sha256-chunk", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			sha256.Sum256(msg)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	r, _ := RandomScalar(nil)
	msg := []byte("x")
	c := Commit(msg, r)
	b.ReportAllocs()
	for b.Loop() {
		Verify(c, msg, r)
	}
}
