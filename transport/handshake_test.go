package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHandshakeBothSidesSeeStaticKeys(t *testing.T) {
	for _, withPSK := range []bool{false, true} {
		name := map[bool]string{false: "XX", true: "XXpsk3"}[withPSK]
		t.Run(name, func(t *testing.T) {
			proxyKey, storageKey := newKey(t), newKey(t)
			proxyCfg, storageCfg := Config{Static: proxyKey}, Config{Static: storageKey}
			if withPSK {
				psk := newPSK(t)
				proxyCfg.PSK, storageCfg.PSK = psk, append([]byte(nil), psk...)
			}
			storage, proxy := pair(t, proxyCfg, storageCfg)
			if !bytes.Equal(storage.RemoteStatic(), proxyKey.Public) {
				t.Error("storage side sees a wrong proxy key")
			}
			if !bytes.Equal(proxy.RemoteStatic(), storageKey.Public) {
				t.Error("proxy side sees a wrong storage key")
			}
			if !bytes.Equal(storage.LocalStatic(), storageKey.Public) || !bytes.Equal(proxy.LocalStatic(), proxyKey.Public) {
				t.Error("LocalStatic is not the configured key")
			}
			if storage.RemoteAddr().String() != proxy.LocalAddr().String() {
				t.Errorf("addresses do not match: %v vs %v", storage.RemoteAddr(), proxy.LocalAddr())
			}
			serve(proxy, echo)
			reply, err := storage.Call(testContext(t), []byte("hello"))
			if err != nil || string(reply) != "hello" {
				t.Fatalf("Call after handshake: %q, %v", reply, err)
			}
		})
	}
}

// handshakeBoth dials and accepts once and returns both sides' errors.
func handshakeBoth(t *testing.T, serverCfg, clientCfg Config) (dialErr, acceptErr error) {
	t.Helper()
	l := listen(t, serverCfg)
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		accepted <- err
	}()
	c, dialErr := Dial(testContext(t), l.Addr().String(), clientCfg)
	if c != nil {
		c.Close()
	}
	return dialErr, recvErr(t, accepted, "Accept")
}

func TestPreSharedKeyMismatchRefusedOnBothSides(t *testing.T) {
	pskA, pskB := newPSK(t), newPSK(t)
	cases := []struct {
		name                   string
		serverPSK, clientPSK   []byte
		serverWant, clientWant string
	}{
		{"different keys", pskA, pskB, "pre-shared key differs", "pre-shared keys differ"},
		{"storage server has none", pskA, nil, "uses no pre-shared key", "same pre-shared key"},
		{"proxy has none", nil, pskB, "has none configured", "same pre-shared key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dialErr, acceptErr := handshakeBoth(t,
				Config{Static: newKey(t), PSK: c.serverPSK},
				Config{Static: newKey(t), PSK: c.clientPSK})
			if !errors.Is(dialErr, ErrHandshake) || !strings.Contains(dialErr.Error(), c.clientWant) {
				t.Errorf("dialing side: %v; want ErrHandshake mentioning %q", dialErr, c.clientWant)
			}
			if !errors.Is(acceptErr, ErrHandshake) || !strings.Contains(acceptErr.Error(), c.serverWant) {
				t.Errorf("listening side: %v; want ErrHandshake mentioning %q", acceptErr, c.serverWant)
			}
		})
	}
}

func TestGarbageClientDoesNotBlockListener(t *testing.T) {
	l := listen(t, Config{Static: newKey(t)})
	addr := l.Addr().String()

	// A client that connects and says nothing holds one handshake slot
	// until the timeout; it must not hold up the others.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	// A client that speaks another protocol is refused at once.
	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	if _, err := garbage.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	// A client that sends a well-sized first message of random bytes gets
	// a reply, then fails at message 3.
	junk, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	if _, err := junk.Write(append([]byte{0, 32}, bytes.Repeat([]byte{0x5A}, 32)...)); err != nil {
		t.Fatal(err)
	}

	type res struct {
		c   *Conn
		err error
	}
	results := make(chan res, 8)
	go func() {
		for {
			c, err := l.Accept()
			results <- res{c, err}
			if errors.Is(err, ErrClosed) {
				return
			}
		}
	}()
	good, err := Dial(testContext(t), addr, Config{Static: newKey(t)})
	if err != nil {
		t.Fatalf("a genuine peer could not connect while others misbehave: %v", err)
	}
	defer good.Close()

	var gotConn, gotGarbageErr bool
	for !gotConn || !gotGarbageErr {
		select {
		case r := <-results:
			switch {
			case r.err == nil:
				gotConn = true
				r.c.Close()
			case errors.Is(r.err, ErrHandshake) && strings.Contains(r.err.Error(), "not a qasmat node"):
				gotGarbageErr = true
			default:
				t.Fatalf("unexpected Accept result: %v", r.err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("Accept results: connection %v, garbage refused %v", gotConn, gotGarbageErr)
		}
	}
	// The HTTP client was disconnected by the listener.
	garbage.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := garbage.Read(make([]byte, 1)); err == nil {
		t.Fatalf("garbage client read %d bytes, want the connection closed", n)
	}
}

func TestHandshakeTimesOut(t *testing.T) {
	// A peer that accepts TCP but never speaks: both directions.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = Dial(testContext(t), ln.Addr().String(), Config{Static: newKey(t), HandshakeTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Dial to a silent peer: %v; want a handshake timeout", err)
	}

	l := listen(t, Config{Static: newKey(t), HandshakeTimeout: 100 * time.Millisecond})
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_, err = l.Accept()
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Accept of a silent client: %v; want a handshake timeout", err)
	}
}

func TestDialContextCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1)) // hold the connection open
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, ln.Addr().String(), Config{Static: newKey(t)})
		errc <- err
	}()
	cancel()
	if err := recvErr(t, errc, "Dial"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context: %v; want context.Canceled", err)
	}
}

func TestConfigRejected(t *testing.T) {
	key := newKey(t)
	bad := []Config{
		{},
		{Static: key, PSK: make([]byte, 16)},
		{Static: key, MaxInflight: -1},
		{Static: key, MaxInflight: 70000},
		{Static: key, MaxMessageSize: 1000},
		{Static: key, HandshakeTimeout: -time.Second},
	}
	for _, cfg := range bad {
		if _, err := Listen("127.0.0.1:0", cfg); err == nil {
			t.Errorf("Listen accepted %+v", cfg)
		}
		if _, err := Dial(context.Background(), "127.0.0.1:1", cfg); err == nil || errors.Is(err, ErrHandshake) {
			t.Errorf("Dial with %+v: %v, want a config error", cfg, err)
		}
	}
}

func TestListenerCloseUnblocksAccept(t *testing.T) {
	l, err := Listen("127.0.0.1:0", Config{Static: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	l.Close()
	if err := recvErr(t, errc, "Accept"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v; want ErrClosed", err)
	}
}
