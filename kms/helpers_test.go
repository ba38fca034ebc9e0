package kms

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// testKME is a simulator served over real HTTPS on 127.0.0.1, with a PKI
// written by WritePKI for the SAEs proxy, s1 and s2.
type testKME struct {
	t    testing.TB
	pki  string
	data string
	opts SimOptions
	sim  *Simulator
	srv  *http.Server
	addr string
	done chan struct{}
}

func newTestKME(t testing.TB, opts SimOptions) *testKME {
	t.Helper()
	k := &testKME{t: t, pki: t.TempDir(), data: t.TempDir(), opts: opts}
	if err := WritePKI(k.pki, []string{"proxy", "s1", "s2"}, nil); err != nil {
		t.Fatal(err)
	}
	k.start()
	t.Cleanup(k.stop)
	return k
}

func (k *testKME) start() {
	k.t.Helper()
	o := k.opts
	o.DataDir = k.data
	sim, err := OpenSimulator(o)
	if err != nil {
		k.t.Fatal(err)
	}
	tc, err := ServerTLSConfig(filepath.Join(k.pki, CAFile), filepath.Join(k.pki, KMECertFile), filepath.Join(k.pki, KMEKeyFile))
	if err != nil {
		k.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		k.t.Fatal(err)
	}
	k.sim, k.addr, k.done = sim, ln.Addr().String(), make(chan struct{})
	k.srv = &http.Server{Handler: sim.Handler(), TLSConfig: tc, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(k.done)
		_ = k.srv.ServeTLS(ln, "", "")
	}()
}

func (k *testKME) stop() {
	if k.srv == nil {
		return
	}
	// Close, not Shutdown: every request is answered already, and HTTP/2's
	// graceful shutdown waits a second per test.
	_ = k.srv.Close()
	<-k.done
	if err := k.sim.Close(); err != nil {
		k.t.Error(err)
	}
	k.srv = nil
}

// restart stops the server and opens the same state again on a new port.
func (k *testKME) restart() {
	k.stop()
	k.start()
}

// tlsFor is the TLS of an SAE (sae "" = no client certificate).
func (k *testKME) tlsFor(sae string) *tls.Config {
	k.t.Helper()
	cert, key := "", ""
	if sae != "" {
		cert, key = filepath.Join(k.pki, SAECertFile(sae)), filepath.Join(k.pki, SAEKeyFile(sae))
	}
	tc, err := ClientTLSConfig(filepath.Join(k.pki, CAFile), cert, key)
	if err != nil {
		k.t.Fatal(err)
	}
	return tc
}

func (k *testKME) client(sae string) *Client { return NewClient(k.addr, k.tlsFor(sae)) }

func wantCode(t testing.TB, err error, code int) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("error = %v, want an APIError with status %d", err, code)
	}
	return ae
}
