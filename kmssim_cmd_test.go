package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestKMSSimPKICommand runs `kms-sim pki` through the command tree and checks
// that it wrote the files a two-command demo needs.
func TestKMSSimPKICommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	app := &cli.App{Name: "qasmat", Commands: []*cli.Command{kmsSimCommand()}, Writer: &out, ErrWriter: &out}
	if err := app.Run([]string{"qasmat", "kms-sim", "pki", "--out", dir, "--sae", "proxy", "--sae", "s1"}); err != nil {
		t.Fatalf("kms-sim pki: %v (%s)", err, out.String())
	}
	for _, f := range []string{"ca.pem", "kme.pem", "kme-key.pem", "sae-proxy.pem", "sae-proxy-key.pem", "sae-s1.pem", "sae-s1-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

// TestKMSSimInsecureHTTPRefusedOffLoopback: the demo mode must not be
// reachable from other machines.
func TestKMSSimInsecureHTTPRefusedOffLoopback(t *testing.T) {
	var out bytes.Buffer
	app := &cli.App{Name: "qasmat", Commands: []*cli.Command{kmsSimCommand()}, Writer: &out, ErrWriter: &out}
	err := app.Run([]string{"qasmat", "kms-sim", "--insecure-http", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir()})
	var he hintError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("kms-sim --insecure-http on 0.0.0.0: %v, want a hinted loopback error", err)
	}
}
