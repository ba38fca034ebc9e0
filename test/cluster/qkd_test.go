package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kmsSim is a real `qasmat kms-sim` process over HTTPS with client
// certificates, with a PKI for the proxy and storage servers s1..sN.
type kmsSim struct {
	proc *proc
	port int
	pki  string
}

func startKMSSim(t *testing.T, storages int, extra ...string) *kmsSim {
	t.Helper()
	dir := t.TempDir()
	k := &kmsSim{port: freePort(t), pki: filepath.Join(dir, "pki")}
	args := []string{"kms-sim", "pki", "--out", k.pki, "--sae", "proxy"}
	for i := 1; i <= storages; i++ {
		args = append(args, "--sae", fmt.Sprintf("s%d", i))
	}
	if out, err := exec.Command(qasmatBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("kms-sim pki: %v %s", err, out)
	}
	k.proc = startProc(t, "kms-sim", dir, nil, append([]string{"kms-sim", "--pki", k.pki,
		"--data-dir", filepath.Join(dir, "data"), "--listen", fmt.Sprintf("127.0.0.1:%d", k.port)}, extra...)...)
	waitFor(t, "kms-sim to listen", 20*time.Second, func() bool {
		return strings.Contains(k.proc.Log(), "listening")
	})
	return k
}

// config is the encryption_and_kms value of one SAE, in the spec's list
// form with the certificate paths a real deployment needs.
func (k *kmsSim) config(mode string) func(sae string) any {
	return func(sae string) any {
		if sae == "" {
			return nil
		}
		return []any{mode, map[string]any{
			"address": "127.0.0.1", "port": k.port,
			"ca_certificate":     filepath.Join(k.pki, "ca.pem"),
			"client_certificate": filepath.Join(k.pki, "sae-"+sae+".pem"),
			"client_key":         filepath.Join(k.pki, "sae-"+sae+"-key.pem"),
		}}
	}
}

type storageTransit struct {
	Servers []string `json:"servers"`
	Transit []string `json:"transit"`
}

// Protect and retrieve through a cluster whose shares travel sealed with
// QKD keys, in both modes; the mode shows in the API; a share that arrives
// without the QKD layer is refused.
func TestQKDTransitRoundTrip(t *testing.T) {
	for _, mode := range []string{"AES", "OTP"} {
		t.Run(mode, func(t *testing.T) {
			k := startKMSSim(t, 3, "--rate", "100000000", "--pool-bits", "400000000")
			c := newCluster(t, clusterOpts{storages: 3, kms: k.config(mode)})
			var cfg struct {
				Transit string `json:"transit"`
			}
			if err := c.call(defaultUser, "GET", "/api/configuration", "", nil, &cfg); err != nil || cfg.Transit != mode {
				t.Fatalf("/api/configuration transit = %q (%v), want %s", cfg.Transit, err, mode)
			}
			for _, size := range []int{0, 1, 3_000_000} {
				data := make([]byte, size)
				rand.Read(data)
				name := fmt.Sprintf("q%d.bin", size)
				if err := c.protectBytes(defaultUser, name, 2, data); err != nil {
					t.Fatalf("protect %d bytes: %v", size, err)
				}
				c.mustRetrieve(t, name, data)
			}
			var st storageTransit
			if err := c.call(defaultUser, "GET", "/api/storage", "", nil, &st); err != nil {
				t.Fatal(err)
			}
			if len(st.Transit) != 3 {
				t.Fatalf("/api/storage transit %v, want one state per server", st.Transit)
			}
			for i, s := range st.Transit {
				if s != "ok" {
					t.Fatalf("link to %s: %q, want ok", st.Servers[i], s)
				}
			}
			// A storage server that restarts has lost the keys it fetched:
			// the proxy seals for it with a fresh key from then on (a key
			// manager hands a key to its slave only once).
			c.storages[0].Stop()
			c.storages[0].Restart()
			c.waitConnected(3)
			after := make([]byte, 700_000)
			rand.Read(after)
			if err := c.protectBytes(defaultUser, "after-restart.bin", 3, after); err != nil {
				t.Fatalf("protect after a storage server restarted: %v", err)
			}
			c.mustRetrieve(t, "after-restart.bin", after)
			// Renewal deltas travel sealed too.
			data := make([]byte, 1_200_000)
			rand.Read(data)
			if err := c.protectBytes(defaultUser, "r.bin", 2, data); err != nil {
				t.Fatal(err)
			}
			if err := c.renew(defaultUser, "r.bin"); err != nil {
				t.Fatalf("renewal over QKD transit: %v", err)
			}
			c.mustRetrieve(t, "r.bin", data)
		})
	}
}

// A storage server without the QKD layer is refused by a proxy that has it
// (never a silently weaker link), and the proxy says why.
func TestQKDTransitModeMismatchRefused(t *testing.T) {
	k := startKMSSim(t, 2)
	c := newCluster(t, clusterOpts{storages: 2, kms: k.config("AES")})
	plain := startProc(t, "plain", c.dir, nil, "storage", "-c", filepath.Join(c.dir, "storage.json"), "-n", "plain",
		"--data-dir", filepath.Join(c.dir, "plain"))
	waitFor(t, "the proxy to refuse the plain storage server", 20*time.Second, func() bool {
		return strings.Contains(c.proxy.Log(), "transit mode mismatch")
	})
	if !strings.Contains(plain.Log(), "transit mode mismatch") {
		t.Error("the refused storage server's log does not say why")
	}
	if cfg, err := c.configuration(probeUser); err != nil || cfg.Limit != 2 {
		t.Fatalf("connected servers after the refusal: %+v %v, want 2", cfg, err)
	}
}

// When the key manager runs out of keys, a protect waits a bounded time and
// then fails with an error that names the QKD link; nothing is stored.
// When the key manager is down, the error names it and GET /api/storage
// shows it per server.
func TestQKDKeysExhaustedAndKeyManagerDown(t *testing.T) {
	// OTP needs n × the file size of key material, asked for in requests
	// of up to 128 keys of 64 kbit: a 1 MiB share chunk needs 8.4 Mbit in
	// one request, which a pool of 1 Mbit never holds. Small files fit.
	k := startKMSSim(t, 3, "--rate", "200000", "--pool-bits", "1000000")
	c := newCluster(t, clusterOpts{storages: 3, kms: k.config("OTP")})
	kept := []byte("protected before the keys ran out")
	if err := c.protectBytes(defaultUser, "kept.txt", 2, kept); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2_000_000)
	rand.Read(data)
	start := time.Now()
	err := c.protectBytes(defaultUser, "big.bin", 2, data)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(ae.Message, "QKD key exhausted on link proxy→s") {
		t.Fatalf("protect with exhausted QKD keys: %v, want 503 naming the exhausted link", err)
	}
	if waited := time.Since(start); waited < 9*time.Second {
		t.Fatalf("gave up after %v: transfers wait a bounded time (10 s) for keys first", waited)
	}
	if files, err := c.files(defaultUser); err != nil || len(files) != 1 || files[0].Filename != "kept.txt" {
		t.Fatalf("files after a failed protect: %v %v, want kept.txt alone", files, err)
	}
	if !strings.Contains(c.metrics(t), `qasmat_qkd_transit_errors_total{step="seal"`) {
		t.Error("metrics do not count the QKD failure")
	}

	k.proc.Kill()
	small := []byte("small enough for the pool")
	err = c.protectBytes(defaultUser, "s.bin", 2, small)
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(ae.Message, "QKD key manager at 127.0.0.1:") {
		t.Fatalf("protect with the key manager down: %v, want 503 naming the key manager", err)
	}
	var st storageTransit
	if err := c.call(defaultUser, "GET", "/api/storage", "", nil, &st); err != nil {
		t.Fatal(err)
	}
	down := 0
	for _, s := range st.Transit {
		if strings.Contains(s, "QKD key manager at") {
			down++
		}
	}
	if down == 0 {
		t.Fatalf("/api/storage transit %v: the key manager failure is not shown", st.Transit)
	}
	if bytes.Contains([]byte(c.proxy.Log()), small) {
		t.Fatal("file content in the proxy log")
	}
	// Nothing was lost: with the key manager back, the earlier file
	// retrieves exactly.
	k.proc.Restart()
	waitFor(t, "kms-sim to listen again", 20*time.Second, func() bool {
		return strings.Count(k.proc.Log(), "listening") >= 2
	})
	c.mustRetrieve(t, "kept.txt", kept)
}
