package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// link returns the two ends of the link proxy→s1 over a real simulator.
func link(k *testKME) (send, recv KeySource) {
	return ETSILink{Client: k.client("proxy"), PeerSAE: "s1"}, ETSILink{Client: k.client("s1"), PeerSAE: "proxy"}
}

func TestTransitRoundTrip(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 64 << 20})
	send, recv := link(k)
	for _, mode := range []Mode{ModeAES, ModeOTP} {
		s, err := NewSealer(mode, send, TransitOptions{Link: "proxy→s1"})
		if err != nil {
			t.Fatal(err)
		}
		o := NewOpener(recv, TransitOptions{Link: "proxy→s1"})
		for _, n := range []int{0, 1, 31, 33, 8192, 12 + 1024*1024} {
			payload := make([]byte, n)
			_, _ = rand.Read(payload)
			aad := []byte("put-chunk 7")
			sealed, err := s.Seal(ctx, payload, aad)
			if err != nil {
				t.Fatalf("%v %d: %v", mode, n, err)
			}
			if n > 64 && bytes.Contains(sealed, payload[:64]) {
				t.Fatalf("%v %d: payload visible in the sealed message", mode, n)
			}
			if m, err := SealedMode(sealed); err != nil || m != mode {
				t.Fatalf("SealedMode = %v, %v; want %v", m, err, mode)
			}
			got, err := o.Open(ctx, sealed, aad)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("%v %d: open: %v", mode, n, err)
			}
		}
	}
}

func TestTransitTamperRejected(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 4 << 20})
	send, recv := link(k)
	for _, mode := range []Mode{ModeAES, ModeOTP} {
		s, _ := NewSealer(mode, send, TransitOptions{})
		o := NewOpener(recv, TransitOptions{})
		payload := bytes.Repeat([]byte("share bytes "), 100)
		mutations := map[string]func(b []byte) ([]byte, []byte){
			"ciphertext bit": func(b []byte) ([]byte, []byte) { b[len(b)-100] ^= 1; return b, []byte("aad") },
			"tag bit":        func(b []byte) ([]byte, []byte) { b[len(b)-1] ^= 0x80; return b, []byte("aad") },
			"truncated":      func(b []byte) ([]byte, []byte) { return b[:len(b)-1], []byte("aad") },
			"other aad":      func(b []byte) ([]byte, []byte) { return b, []byte("aae") },
			"version":        func(b []byte) ([]byte, []byte) { b[0] = 9; return b, []byte("aad") },
		}
		for name, mutate := range mutations {
			sealed, err := s.Seal(ctx, payload, []byte("aad"))
			if err != nil {
				t.Fatal(err)
			}
			bad, aad := mutate(append([]byte(nil), sealed...))
			if _, err := o.Open(ctx, bad, aad); !errors.Is(err, ErrSealed) {
				t.Errorf("%v, %s: %v, want ErrSealed", mode, name, err)
			}
		}
	}
}

func keyIDs(t *testing.T, sealed []byte) []string {
	t.Helper()
	_, ids, _, err := parseHeader(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestTransitKeyNeverReused(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 8 << 20})
	send, recv := link(k)

	t.Run("OTP", func(t *testing.T) {
		s, _ := NewSealer(ModeOTP, send, TransitOptions{OTPKeyBits: 4096})
		seen := map[string]bool{}
		var first []byte
		for i := range 20 {
			sealed, err := s.Seal(ctx, make([]byte, 1500), nil)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = sealed
			}
			for _, id := range keyIDs(t, sealed) {
				if seen[id] {
					t.Fatalf("key %s used twice", id)
				}
				seen[id] = true
			}
		}
		o := NewOpener(recv, TransitOptions{})
		if _, err := o.Open(ctx, first, nil); err != nil {
			t.Fatal(err)
		}
		// The pad was fetched once and is gone: a replay cannot be opened.
		if _, err := o.Open(ctx, first, nil); !errors.Is(err, ErrSealed) {
			t.Fatalf("replayed OTP message: %v, want ErrSealed", err)
		}
	})

	t.Run("AES rotates by bytes", func(t *testing.T) {
		s, _ := NewSealer(ModeAES, send, TransitOptions{RotateBytes: 1000})
		o := NewOpener(recv, TransitOptions{})
		seen := map[string]bool{}
		for range 5 {
			sealed, err := s.Seal(ctx, make([]byte, 600), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := keyIDs(t, sealed)[0]
			if seen[id] {
				t.Fatalf("AES key %s not rotated after 1000 bytes", id)
			}
			seen[id] = true
			if _, err := o.Open(ctx, sealed, nil); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("AES rotates by age, nonces unique", func(t *testing.T) {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		s, _ := NewSealer(ModeAES, send, TransitOptions{RotateAge: time.Minute, Now: clk.Now})
		o := NewOpener(recv, TransitOptions{})
		nonces := map[string]bool{}
		ids := map[string]bool{}
		for i := range 6 {
			if i == 3 {
				clk.Add(time.Minute)
			}
			sealed, err := s.Seal(ctx, []byte("x"), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, kid, hl, _ := parseHeader(sealed)
			n := kid[0] + string(sealed[hl:hl+12])
			if nonces[n] {
				t.Fatal("a (key, nonce) pair was used twice")
			}
			nonces[n], ids[kid[0]] = true, true
			if _, err := o.Open(ctx, sealed, nil); err != nil {
				t.Fatal(err)
			}
		}
		if len(ids) != 2 {
			t.Fatalf("%d AES keys over two minutes, want 2", len(ids))
		}
	})
}

func TestTransitExhaustionIsClearAfterBoundedWait(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 1024, Rate: 0})
	send, _ := link(k)
	s, _ := NewSealer(ModeOTP, send, TransitOptions{Link: "proxy→s1", Wait: 200 * time.Millisecond})
	start := time.Now()
	_, err := s.Seal(ctx, make([]byte, 4096), nil)
	d := time.Since(start)
	if !errors.Is(err, ErrKeyExhausted) || !strings.Contains(err.Error(), "QKD key exhausted on link proxy→s1") {
		t.Fatalf("error %v, want the clear exhaustion error", err)
	}
	if d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("gave up after %v, want about 200 ms", d)
	}
}

func TestTransitKeyManagerDownIsClear(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	k := newTestKME(t, SimOptions{})
	s, _ := NewSealer(ModeAES, ETSILink{Client: NewClient(addr, k.tlsFor("proxy")), PeerSAE: "s1"}, TransitOptions{Link: "proxy→s1"})
	start := time.Now()
	_, err = s.Seal(ctx, []byte("x"), nil)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrKeyExhausted) || !strings.Contains(err.Error(), "QKD key manager at "+addr) {
		t.Fatalf("error %v, want the key manager unavailable error", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("a down key manager was waited for")
	}
}
