// Package dev runs a whole Qasmat cluster in one process: a proxy and several
// storage servers, each with its own pebble store and a real Noise
// connection over loopback, data kept under one folder.
package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/qasmat/qasmat/roles/proxy"
	"github.com/qasmat/qasmat/roles/storage"
)

// Options configure the local cluster.
type Options struct {
	DataDir  string // default ./qasmat-data
	Storages int    // default 3
	Port     int    // REST API port on 127.0.0.1 (0 picks a free one; default 3000 is set by the CLI)
	Version  string
	Logger   *slog.Logger
	Out      io.Writer // where the welcome text goes

	// KMS, "AES" or "OTP", runs a key manager simulator (ETSI GS QKD 014,
	// HTTPS with client certificates) with the cluster and seals every
	// share in transit with its keys; "" runs without. KMSRate is the
	// simulated QKD link's key rate in bits per second (default
	// DefaultKMSRate).
	KMS     string
	KMSRate float64

	// Proxy and Storage let callers adjust the options of the proxy and
	// of each storage server (tests, flags).
	Proxy   func(*proxy.Options)
	Storage func(*storage.Options)
}

// DefaultKMSRate is the key rate of `qasmat dev --kms`: a fast link (1
// Gbit/s) so that OTP mode protects files of a few MB at once; real QKD
// links are slower (see docs/design.md, "QKD transit").
const DefaultKMSRate = 1e9

// Run starts the cluster and serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.DataDir == "" {
		o.DataDir = "qasmat-data"
	}
	if o.Storages <= 0 {
		o.Storages = 3
	}
	if o.Storages < 2 {
		return errors.New("a cluster needs at least 2 storage servers (--storages)")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	names := make([]string, o.Storages)
	for i := range names {
		names[i] = fmt.Sprintf("storage-%d", i+1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, o.Storages+2)
	var q *qkd
	if o.KMS != "" {
		wg.Add(1)
		var err error
		if q, err = startQKD(ctx, o, names, errs, wg.Done); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	popts := proxy.Options{
		DataDir:    filepath.Join(o.DataDir, "proxy"),
		PeerListen: "127.0.0.1:0",
		WebListen:  net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)),
		Version:    o.Version,
		Logger:     o.Logger.With("role", "proxy"),
	}
	if q != nil {
		var err error
		if popts.Transit, err = q.links("proxy"); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	if o.Proxy != nil {
		o.Proxy(&popts)
	}
	p, err := proxy.New(popts)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.Run(ctx); err != nil {
			errs <- err
		}
		cancel()
	}()
	for _, name := range names {
		sopts := storage.Options{
			Name:              name,
			Location:          "local",
			DataDir:           filepath.Join(o.DataDir, name),
			ProxyAddr:         p.PeerAddr().String(),
			PSK:               popts.PSK,
			ReconnectInterval: 2 * time.Second,
			Version:           o.Version,
			Logger:            o.Logger.With("role", "storage"),
		}
		if q != nil {
			if sopts.Transit, err = q.links(name); err != nil {
				cancel()
				wg.Wait()
				return err
			}
		}
		if o.Storage != nil {
			o.Storage(&sopts)
		}
		s, err := storage.New(sopts)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			if err := s.Run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	if o.Out != nil {
		printWelcome(o.Out, p.WebAddr().String(), o.Storages, o.DataDir)
		if q != nil {
			fmt.Fprintf(o.Out, "Shares in transit are sealed with QKD keys (%s) from the key manager simulator at https://%s (PKI in %s).\n\n",
				q.mode, q.addr, q.pki)
		}
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

func printWelcome(w io.Writer, addr string, storages int, dir string) {
	url := "http://" + addr
	fmt.Fprintf(w, `
Qasmat dev cluster: a proxy and %d storage servers, data in %s

  Dashboard  %s/
  REST API   %s/api

Try it:
  curl -F threshold=2 -F file=@README.md %s/api/file/protect
  curl %s/api/file
  curl -d name=README.md %s/api/file/retrieve -o README.copy.md
  qasmat put README.md -k 2 --api %s

Press Ctrl-C to stop; files stay in %s for the next start.

`, storages, dir, url, url, url, url, url, url, dir)
}
