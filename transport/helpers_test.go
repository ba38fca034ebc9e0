package transport

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/flynn/noise"
)

// testTimeout only bounds how long a broken test hangs; passing tests
// never get near it.
const testTimeout = 20 * time.Second

func newKey(t testing.TB) noise.DHKey {
	t.Helper()
	k, err := noise.DH25519.GenerateKeypair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPSK(t testing.TB) []byte {
	t.Helper()
	psk := make([]byte, PSKSize)
	if _, err := rand.Read(psk); err != nil {
		t.Fatal(err)
	}
	return psk
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// listen starts a listener on a random loopback port, closed at cleanup.
func listen(t testing.TB, cfg Config) *Listener {
	t.Helper()
	l, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pair connects a dialing client (storage side) to a listening server
// (proxy side) over real TCP and Noise; both are closed at cleanup.
func pair(t testing.TB, serverCfg, clientCfg Config) (client, server *Conn) {
	t.Helper()
	l := listen(t, serverCfg)
	type res struct {
		c   *Conn
		err error
	}
	accepted := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		accepted <- res{c, err}
	}()
	client, err := Dial(testContext(t), l.Addr().String(), clientCfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	r := await(t, accepted, "Accept")
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return client, r.c
}

func defaultPair(t testing.TB) (client, server *Conn) {
	return pair(t, Config{Static: newKey(t)}, Config{Static: newKey(t)})
}

// serve runs h on c in the background.
func serve(c *Conn, h Handler) {
	go c.Serve(h)
}

func echo(_ context.Context, req []byte) ([]byte, error) { return req, nil }

// waitDone waits for a connection to close, failing the test if it doesn't.
func waitDone(t *testing.T, c *Conn, what string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatalf("%s: connection still open", what)
	}
}

// await receives one value from ch, failing the test after testTimeout.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// recvErr waits for one error from ch.
func recvErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	return await(t, ch, what)
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
