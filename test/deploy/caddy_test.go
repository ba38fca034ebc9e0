package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// authProvider is a tiny forward-auth server standing in for Authelia: HTTP
// basic credentials in, Remote-User / Remote-Email out (200), else 401.
func authProvider(t *testing.T, users map[string]user, passwords map[string]string) (addr string, calls *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		name, pass, ok := r.BasicAuth()
		if !ok || passwords[name] == "" || passwords[name] != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="qasmat"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		u := users[name]
		w.Header().Set("Remote-User", u.name)
		w.Header().Set("Remote-Email", u.email)
		w.WriteHeader(http.StatusOK)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &n
}

// TestCaddyForwardAuth runs the shipped deploy/caddy/Caddyfile in a real
// Caddy (Debian's caddy) in front of a real private cluster, with a basic-auth
// provider behind forward_auth. Through Caddy each user sees only their own
// files and cannot pick another identity with headers; sent straight to
// Qasmat from an address outside trusted_proxies, forged identity headers
// get 403.
//
// On loopback Caddy connects from 127.0.0.1, so trusted_proxies is
// 127.0.0.1/32 and the "attacker" connects from 127.0.0.2.
func TestCaddyForwardAuth(t *testing.T) {
	caddy := needTool(t, "caddy", "caddy")
	alice := user{"Alice", "alice@example.test"}
	bob := user{"Bob", "bob@example.test"}
	authAddr, authCalls := authProvider(t,
		map[string]user{"alice": alice, "bob": bob},
		map[string]string{"alice": "alice-pw", "bob": "bob-pw"})

	caddyPort := testkit.FreePort(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", caddyPort)
	c := newCluster(t, clusterOpts{storages: 3, origins: []string{site}, trustedProxies: []string{"127.0.0.1/32"}})

	dir := t.TempDir()
	cmd := exec.Command(caddy, "run", "--config", filepath.Join(repoRoot, "deploy/caddy/Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"QASMAT_SITE="+site,
		"QASMAT_UPSTREAM="+fmt.Sprintf("127.0.0.1:%d", c.webPort),
		"AUTH_UPSTREAM="+authAddr,
		"AUTH_URI=/api/authz/forward-auth",
		"AUTH_SITE="+fmt.Sprintf("http://127.0.0.1:%d", testkit.FreePort(t)),
	)
	var caddyLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &caddyLog, &caddyLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the log is read after Caddy is gone.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy log:\n%s", caddyLog.String())
		}
	})
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testkit.WaitFor(t, "caddy to serve /healthz", 20*time.Second, func() bool {
		resp, err := http.Get(site + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	httpc := &http.Client{Timeout: 60 * time.Second}
	viaCaddy := func(login, pass string) *client {
		return &client{base: site, http: httpc, basicUser: login, basicPass: pass}
	}
	asAlice, asBob := viaCaddy("alice", "alice-pw"), viaCaddy("bob", "bob-pw")
	none := user{}

	// Without a login the provider refuses, and Qasmat is not reached.
	for _, cl := range []*client{viaCaddy("", ""), viaCaddy("alice", "wrong")} {
		_, err := cl.files(none)
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("through Caddy without a valid login: %v, want 401", err)
		}
	}
	if authCalls.Load() == 0 {
		t.Fatal("the authentication provider was never asked")
	}

	// Two users through Caddy, isolated from each other.
	aliceData, bobData := []byte("alice's notes"), randomBytes(200_000, 4)
	mustRoundTrip(t, asAlice, none, "notes.txt", aliceData)
	mustRoundTrip(t, asBob, none, "bob.bin", bobData)
	if names, err := asAlice.files(none); err != nil || len(names) != 1 || names[0] != "notes.txt" {
		t.Fatalf("alice's files through Caddy = %v, %v; want [notes.txt]", names, err)
	}
	if names, err := asBob.files(none); err != nil || len(names) != 1 || names[0] != "bob.bin" {
		t.Fatalf("bob's files through Caddy = %v, %v; want [bob.bin]", names, err)
	}
	if _, err := asBob.retrieve(none, "notes.txt"); err == nil {
		t.Fatal("bob retrieved alice's file through Caddy")
	}
	// The dashboard is served behind the login too.
	if resp, err := asAlice.do(none, "GET", "/", "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("dashboard through Caddy: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Bob logged in, claiming to be Alice with headers of either spelling:
	// Caddy drops them and the provider's answer wins.
	for _, h := range []string{"Remote-Email", "X-Remote-Email"} {
		req, _ := http.NewRequest("POST", site+"/api/file/retrieve", bytes.NewReader([]byte("name=notes.txt")))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bob", "bob-pw")
		req.Header.Set(h, alice.email)
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || bytes.Contains(body, aliceData) {
			t.Fatalf("bob with a forged %s header got alice's file through Caddy (HTTP %d)", h, resp.StatusCode)
		}
	}

	// Straight to Qasmat, bypassing Caddy, from a peer outside trusted_proxies.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	direct := &client{base: c.api.base, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}}
	_, err := direct.retrieve(alice, "notes.txt")
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("direct request with forged headers from 127.0.0.2: %v, want 403", err)
	}
	if _, err := direct.files(alice); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("direct listing with forged headers from 127.0.0.2: %v, want 403", err)
	}
	// Without headers a private instance wants authentication.
	if _, err := direct.files(none); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("direct request without headers: %v, want 401", err)
	}
	// Control: the same forged request from 127.0.0.1, Caddy's address, is
	// believed. This is why trusted_proxies must name the auth proxy alone
	// and the API port must be reachable only from it.
	if got, err := c.api.retrieve(alice, "notes.txt"); err != nil || !bytes.Equal(got, aliceData) {
		t.Fatalf("request with identity headers from the trusted address: %v", err)
	}
}
