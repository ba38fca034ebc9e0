package kms

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func (k *testKME) links(t *testing.T, mode Mode, sae string) *Links {
	t.Helper()
	l, err := NewLinks(LinksConfig{Mode: mode, Address: k.addr, SAEID: sae,
		CACertificate:     filepath.Join(k.pki, CAFile),
		ClientCertificate: filepath.Join(k.pki, SAECertFile(sae)),
		ClientKey:         filepath.Join(k.pki, SAEKeyFile(sae))})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLinksRoundTripBothDirections(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 16 << 20})
	for _, mode := range []Mode{ModeAES, ModeOTP} {
		proxy, s1 := k.links(t, mode, "proxy"), k.links(t, mode, "s1")
		id := [16]byte{1, 2, 3}
		payload := bytes.Repeat([]byte{0xA5, 0x5A, 7}, 5000)
		sealed, err := proxy.Seal(ctx, "s1", payload, TransitAAD(AADPut, id, 0, 3))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s1.Open(ctx, "proxy", sealed, TransitAAD(AADPut, id, 0, 3))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%v proxy→s1: %v", mode, err)
		}
		back, err := s1.Seal(ctx, "proxy", payload, TransitAAD(AADGet, id, 0, 3))
		if err != nil {
			t.Fatal(err)
		}
		// The same bytes under another message kind, chunk or epoch are refused.
		for _, aad := range [][]byte{TransitAAD(AADPut, id, 0, 3), TransitAAD(AADGet, id, 0, 4), TransitAAD(AADGet, id, 1, 3)} {
			if mode == ModeOTP {
				break // an OTP message's keys are gone after one try; the next loop checks it
			}
			if _, err := proxy.Open(ctx, "s1", back, aad); !errors.Is(err, ErrSealed) {
				t.Fatalf("%v: a payload opened under the wrong associated data: %v", mode, err)
			}
		}
		if mode == ModeOTP {
			if _, err := proxy.Open(ctx, "s1", back, TransitAAD(AADGet, id, 0, 4)); !errors.Is(err, ErrSealed) {
				t.Fatalf("OTP: a payload opened under the wrong chunk index: %v", err)
			}
			continue
		}
		if got, err := proxy.Open(ctx, "s1", back, TransitAAD(AADGet, id, 0, 3)); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%v s1→proxy: %v", mode, err)
		}
		if h, ok := proxy.Health("s1"); !ok || !h.OK || h.Sealed != 1 {
			t.Fatalf("health after a seal: %+v %v", h, ok)
		}
	}
}

// A peer cannot downgrade a link: a payload sealed in the other mode is
// refused, and so is an unsealed one.
func TestLinksRefuseOtherModeAndPlain(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 16 << 20})
	aesProxy, otpS1 := k.links(t, ModeAES, "proxy"), k.links(t, ModeOTP, "s1")
	sealed, err := aesProxy.Seal(ctx, "s1", []byte("share"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otpS1.Open(ctx, "proxy", sealed, nil); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "sealed with AES") {
		t.Fatalf("an AES payload on an OTP link: %v", err)
	}
	if _, err := otpS1.Open(ctx, "proxy", bytes.Repeat([]byte{1}, 2000), nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("an unsealed payload: %v", err)
	}
	if h, _ := otpS1.Health("proxy"); h.OK || h.Failures != 2 || h.Err == "" {
		t.Fatalf("health after two refusals: %+v", h)
	}
}

func TestNewLinksRefusesUnsafeSetups(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    LinksConfig
		want string
	}{
		{"plain HTTP off loopback", LinksConfig{Mode: ModeAES, Address: "192.0.2.1:8443", SAEID: "proxy"}, "not on loopback"},
		{"half a certificate set", LinksConfig{Mode: ModeAES, Address: "127.0.0.1:8443", SAEID: "proxy", CACertificate: "ca.pem"}, "go together"},
		{"no SAE", LinksConfig{Mode: ModeOTP, Address: "127.0.0.1:8443"}, "SAE ID is empty"},
		{"unknown mode", LinksConfig{Mode: 9, Address: "127.0.0.1:8443", SAEID: "proxy"}, "unknown transit mode"},
		{"bad address", LinksConfig{Mode: ModeAES, Address: "nowhere", SAEID: "proxy"}, "address"},
	} {
		if _, err := NewLinks(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	if l, err := NewLinks(LinksConfig{Mode: ModeAES, Address: "localhost:8443", SAEID: "proxy"}); err != nil || l.Mode() != ModeAES {
		t.Fatalf("plain HTTP on loopback (demo mode): %v", err)
	}
}

func TestParseMode(t *testing.T) {
	if m, err := ParseMode("OTP"); err != nil || m != ModeOTP {
		t.Fatal(m, err)
	}
	if _, err := ParseMode("aes"); err == nil {
		t.Fatal("lower-case mode accepted")
	}
}
