package kmssim

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/qasmat/qasmat/kms"
)

// run starts Run in the background and returns its address and a stop
// function that returns Run's error.
func run(t *testing.T, o Options) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	o.Ready = func(a net.Addr) { ready <- a }
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o) }()
	select {
	case a := <-ready:
		return a.String(), func() error { cancel(); return <-errc }
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start")
	}
	return "", nil
}

func TestRunHTTPSWithPKI(t *testing.T) {
	pki := t.TempDir()
	if err := kms.WritePKI(pki, []string{"proxy", "s1"}, []string{"kms.example.com"}); err != nil {
		t.Fatal(err)
	}
	addr, stop := run(t, Options{Listen: "127.0.0.1:0", PKIDir: pki, Sim: kms.SimOptions{DataDir: t.TempDir()}})
	tc := func(sae string) *kms.Client {
		c, err := kms.ClientTLSConfig(filepath.Join(pki, kms.CAFile), filepath.Join(pki, kms.SAECertFile(sae)), filepath.Join(pki, kms.SAEKeyFile(sae)))
		if err != nil {
			t.Fatal(err)
		}
		return kms.NewClient(addr, c)
	}
	ctx := context.Background()
	enc, err := tc("proxy").GetEncKeys(ctx, "s1", 1, 256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func TestRunInsecureHTTPLoopbackOnly(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8443", "[::]:0"} {
		err := Run(context.Background(), Options{Listen: listen, InsecureHTTP: true, Sim: kms.SimOptions{DataDir: t.TempDir()}})
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("--insecure-http on %s: %v, want ErrNotLoopback", listen, err)
		}
	}
	addr, stop := run(t, Options{Listen: "127.0.0.1:0", InsecureHTTP: true, Sim: kms.SimOptions{DataDir: t.TempDir()}})
	defer stop()
	ctx := context.Background()
	enc, err := kms.NewInsecureClient(addr, "proxy").GetEncKeys(ctx, "s1", 2, 256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kms.NewInsecureClient(addr, "s2").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); !errors.Is(err, kms.ErrBadRequest) {
		t.Fatalf("another SAE in plain HTTP: %v", err)
	}
	if _, err := kms.NewInsecureClient(addr, "s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); err != nil {
		t.Fatal(err)
	}
	if _, err := kms.NewInsecureClient(addr, "").Status(ctx, "s1"); !errors.Is(err, kms.ErrUnauthorized) {
		t.Fatalf("no %s header: %v, want 401", kms.SAEIDHeader, err)
	}
}

func TestRunHTTPSNeedsPKI(t *testing.T) {
	if err := Run(context.Background(), Options{Listen: "127.0.0.1:0", Sim: kms.SimOptions{DataDir: t.TempDir()}}); err == nil {
		t.Fatal("HTTPS without a PKI folder started")
	}
}
