package dev

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/roles/kmssim"
)

// qkd is the key manager simulator a `qasmat dev --kms MODE` cluster runs
// beside it, over HTTPS with client certificates like a real deployment.
type qkd struct {
	mode kms.Mode
	addr string
	pki  string
}

// startQKD writes a fresh PKI for the proxy and the storage servers under
// dir/kms-pki (certificates are cheap; the key manager's state under
// dir/kms is kept) and starts the simulator on a free loopback port.
func startQKD(ctx context.Context, o Options, names []string, errs chan<- error, done func()) (*qkd, error) {
	mode, err := kms.ParseMode(o.KMS)
	if err != nil {
		return nil, fmt.Errorf("--kms: %w", err)
	}
	pki := filepath.Join(o.DataDir, "kms-pki")
	if err := os.RemoveAll(pki); err != nil {
		return nil, err
	}
	if err := kms.WritePKI(pki, append([]string{"proxy"}, names...), nil); err != nil {
		return nil, err
	}
	rate := o.KMSRate
	if rate <= 0 {
		rate = DefaultKMSRate
	}
	ready := make(chan net.Addr, 1)
	go func() {
		defer done()
		err := kmssim.Run(ctx, kmssim.Options{
			Listen: "127.0.0.1:0", PKIDir: pki,
			Sim: kms.SimOptions{DataDir: filepath.Join(o.DataDir, "kms"), Rate: rate,
				// The pool holds ten seconds of production, at least 1 Mbit.
				PoolBits: int(max(min(rate*10, 1<<31-1), 1<<20))},
			Logger: o.Logger.With("role", "kms-sim"),
			Ready:  func(a net.Addr) { ready <- a },
		})
		if err != nil {
			errs <- err
		}
	}()
	select {
	case a := <-ready:
		return &qkd{mode: mode, addr: a.String(), pki: pki}, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the key manager simulator did not start")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// links connects one SAE (the proxy or a storage server) to the simulator.
func (q *qkd) links(sae string) (*kms.Links, error) {
	return kms.NewLinks(kms.LinksConfig{
		Mode: q.mode, Address: q.addr, SAEID: sae,
		CACertificate:     filepath.Join(q.pki, kms.CAFile),
		ClientCertificate: filepath.Join(q.pki, kms.SAECertFile(sae)),
		ClientKey:         filepath.Join(q.pki, kms.SAEKeyFile(sae)),
	})
}
