package transport

import (
	"context"
	"testing"

	"github.com/flynn/noise"
)

// BenchmarkCallThroughput sends 1 MiB requests over loopback TCP and Noise
// (AES-GCM) to a handler that answers with a few bytes, as PutChunk does.
// serial: one call at a time; inflight8: 8 concurrent callers.
func BenchmarkCallThroughput(b *testing.B) {
	for _, bc := range []struct {
		name    string
		callers int
	}{{"serial", 1}, {"inflight8", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			storage, proxy := defaultPair(b)
			go storage.Serve(func(context.Context, []byte) ([]byte, error) { return []byte{1, 17}, nil })
			msg := pattern(1<<20, 1)
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			work := make(chan struct{})
			errs := make(chan error, bc.callers)
			for range bc.callers {
				go func() {
					var err error
					for range work {
						if err == nil {
							_, err = proxy.Call(context.Background(), msg)
						}
					}
					errs <- err
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			for range bc.callers {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFrameCipher compares the two Noise ciphers on full frames; it is
// the measurement behind the choice of AES-GCM (docs/protocol.md).
func BenchmarkFrameCipher(b *testing.B) {
	for _, c := range []noise.CipherFunc{noise.CipherAESGCM, noise.CipherChaChaPoly} {
		b.Run(c.CipherName(), func(b *testing.B) {
			var key [32]byte
			ciph := c.Cipher(key)
			frame := pattern(maxFramePlaintext, 3)
			out := make([]byte, 0, noise.MaxMsgLen)
			b.SetBytes(int64(len(frame)))
			for i := range b.N {
				out = ciph.Encrypt(out[:0], uint64(i), nil, frame)
			}
		})
	}
}
