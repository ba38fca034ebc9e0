package kms

import "testing"

// BenchmarkTransit seals and opens 1 MiB share chunks through a real
// simulator over HTTPS (key fetches included): the cost of each mode.
func BenchmarkTransit(b *testing.B) {
	for _, mode := range []Mode{ModeAES, ModeOTP} {
		b.Run(mode.String(), func(b *testing.B) {
			k := newTestKME(b, SimOptions{PoolBits: 1 << 30, Rate: 1 << 30})
			s, _ := NewSealer(mode, ETSILink{Client: k.client("proxy"), PeerSAE: "s1"}, TransitOptions{})
			o := NewOpener(ETSILink{Client: k.client("s1"), PeerSAE: "proxy"}, TransitOptions{})
			payload := make([]byte, 12+1024*1024)
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				sealed, err := s.Seal(ctx, payload, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := o.Open(ctx, sealed, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
