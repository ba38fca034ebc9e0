// Package kmssim runs the kms-sim role: an ETSI GS QKD 014 key manager
// simulator served over HTTPS with client certificates.
package kmssim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/qasmat/qasmat/kms"
)

// ErrNotLoopback: plain HTTP was asked for on an address other machines reach.
var ErrNotLoopback = errors.New("plain HTTP is only allowed on a loopback address")

// Options configures Run.
type Options struct {
	Listen string // host:port (default 127.0.0.1:8443)
	// PKIDir holds ca.pem, kme.pem and kme-key.pem (see kms.WritePKI).
	PKIDir string
	// InsecureHTTP serves plain HTTP, SAE ID from kms.SAEIDHeader; refused
	// unless Listen is a loopback address.
	InsecureHTTP bool
	Sim          kms.SimOptions // DataDir required
	Logger       *slog.Logger
	Out          io.Writer           // where the ready line goes (nil: none)
	Ready        func(addr net.Addr) // called once listening (tests use port 0)
}

// Run serves until ctx ends, then stops gracefully.
func Run(ctx context.Context, o Options) error {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8443"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.InsecureHTTP {
		if err := checkLoopback(o.Listen); err != nil {
			return err
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	if !o.InsecureHTTP {
		if o.PKIDir == "" {
			return errors.New("kms-sim: HTTPS needs the PKI folder (--pki DIR, written by `qasmat kms-sim pki`), or --insecure-http on loopback")
		}
		tc, err := kms.ServerTLSConfig(filepath.Join(o.PKIDir, kms.CAFile), filepath.Join(o.PKIDir, kms.KMECertFile), filepath.Join(o.PKIDir, kms.KMEKeyFile))
		if err != nil {
			return err
		}
		srv.TLSConfig = tc
	}
	o.Sim.InsecureHTTP = o.InsecureHTTP
	sim, err := kms.OpenSimulator(o.Sim)
	if err != nil {
		return err
	}
	defer sim.Close()
	srv.Handler = sim.Handler()

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("kms-sim: %w", err)
	}
	scheme := "https"
	if o.InsecureHTTP {
		scheme = "http"
	}
	o.Logger.Info("kms-sim listening", "address", ln.Addr().String(), "scheme", scheme, "rate_bps", o.Sim.Rate, "pool_bits", o.Sim.PoolBits)
	if o.Out != nil {
		fmt.Fprintf(o.Out, "ETSI GS QKD 014 key manager simulator at %s://%s/api/v1/keys/\n", scheme, ln.Addr())
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if o.InsecureHTTP {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("kms-sim: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("kms-sim: shutdown: %w", err)
	}
	return nil
}

// checkLoopback refuses any host that is not a loopback IP or "localhost":
// an empty host listens on every interface.
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("kms-sim: --listen %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("kms-sim: --listen %q: %w", listen, ErrNotLoopback)
}
