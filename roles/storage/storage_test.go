package storage

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/wire"
)

// A proxy that accepts the storage server and then goes silent (no ping,
// as behind a dead link) is dropped after ProxySilence, and the server
// dials again by itself.
func TestSilentProxyIsRedialed(t *testing.T) {
	key, err := transport.LoadOrCreateStaticKey(filepath.Join(t.TempDir(), "proxy.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := transport.Listen("127.0.0.1:0", transport.Config{Static: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *transport.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Accept Hello, then never send anything.
			go c.Serve(func(_ context.Context, req []byte) ([]byte, error) {
				return wire.Marshal(&wire.HelloReply{Accepted: true})
			})
			accepted <- c
		}
	}()
	s, err := New(Options{Name: "s1", DataDir: t.TempDir(), ProxyAddr: l.Addr().String(),
		ReconnectInterval: time.Second, ProxySilence: 700 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	first := <-accepted
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the storage server kept a connection to a silent proxy")
	}
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the storage server did not redial after dropping the silent proxy")
	}
}
