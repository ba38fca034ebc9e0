package transport

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

func TestNewBufferCapacity(t *testing.T) {
	for _, n := range []int{0, 100, poolMinBuf - 1, poolMinBuf, 12 + 1<<20 + 8, poolBufCap, poolBufCap + 1, 3 << 20} {
		b := NewBuffer(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("NewBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		Release(b)
	}
}

// Replies given up to ServeOwned and replies released by the caller are
// recycled for later messages; every message must still arrive intact,
// with calls in flight at once.
func TestServeOwnedRepliesArriveIntact(t *testing.T) {
	storage, proxy := defaultPair(t)
	const n = 12 + 1<<20 + 5
	go storage.ServeOwned(ownedPattern)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				seed := byte(g*8 + i)
				reply, err := proxy.Call(ctx, []byte{seed})
				if err != nil {
					errs <- err.Error()
					return
				}
				if !bytes.Equal(reply, pattern(n, seed)) {
					errs <- "reply differs from what the handler encoded"
					return
				}
				// Scribble before handing back: a buffer still in use
				// elsewhere would show it.
				for j := range reply {
					reply[j] = 0xAA
				}
				Release(reply)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func ownedPattern(_ context.Context, req []byte) ([]byte, error) {
	const n = 12 + 1<<20 + 5
	b := NewBuffer(n)
	return append(b, pattern(n, req[0])...), nil
}
