// Package deploy tests the deployment files in ansible/ and deploy/ by
// running them: the Ansible playbook against this machine, the systemd
// units' command lines, a FROM scratch image under a hand-started Docker
// engine, Caddy with forward_auth in front of a real cluster, and the
// graceful stop and catalog backup that docs/deploy.md describes.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// qasmatBin is the static binary under test: $QASMAT_BIN (what `make test`
// builds) or one built once for this run.
var qasmatBin string

// repoRoot is the repository's top folder (the deployment files' base).
var repoRoot string

func TestMain(m *testing.M) {
	code, err := setupAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setupAndRun(m *testing.M) (int, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	repoRoot = root
	bin, cleanup, err := testkit.Binary(repoRoot)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	qasmatBin = bin
	return m.Run(), nil
}

// needTool skips the test when a program is missing, naming the Debian
// package that provides it (.ci/run installs them, so CI runs the test).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y %s); .ci/run installs it", name, pkg)
	}
	return p
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (creates a system user, starts services as it); run as root like CI: sudo -E go test ./test/deploy/")
	}
}

// proc is one real process with its output in a log file.
type proc = testkit.Proc

func startProc(t testing.TB, name, logDir, bin string, args ...string) *proc {
	t.Helper()
	return testkit.Start(t, name, logDir, nil, bin, args...)
}

// cluster is a proxy and storage servers, each a separate qasmat process.
type cluster struct {
	t            testing.TB
	dir          string
	api          *client
	webPort      int
	peerPort     int
	proxy        *proc
	proxyDataDir string
	storages     []*proc
}

type clusterOpts struct {
	storages       int
	origins        []string // nil: ["*"]
	trustedProxies []string
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, webPort: testkit.FreePort(t), peerPort: testkit.FreePort(t)}
	c.api = &client{base: fmt.Sprintf("http://127.0.0.1:%d", c.webPort), http: &http.Client{Timeout: 60 * time.Second}}
	psk := filepath.Join(dir, "psk.key")
	if out, err := exec.Command(qasmatBin, "keygen", "-o", psk).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	netsec := map[string]any{"Private": map[string]any{"path_to_preshared_key": psk}}
	origins := o.origins
	if origins == nil {
		origins = []string{"*"}
	}
	web := map[string]any{
		"bind_port":            map[string]any{"Fixed": c.webPort},
		"bind_address":         "127.0.0.1",
		"allowed_cors_origins": origins,
	}
	if o.trustedProxies != nil {
		web["trusted_proxies"] = o.trustedProxies
	}
	proxyCfg := testkit.WriteJSON(t, filepath.Join(dir, "proxy.json"), map[string]any{
		"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_port": c.peerPort}},
		"network_security_configuration": map[string]any{"network_security": netsec},
		"web_configuration":              web,
	})
	c.proxyDataDir = filepath.Join(dir, "proxy")
	c.proxy = startProc(t, "proxy", dir, qasmatBin, "proxy", "-c", proxyCfg, "--data-dir", c.proxyDataDir)
	storageCfg := testkit.WriteJSON(t, filepath.Join(dir, "storage.json"), map[string]any{
		"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_address": "127.0.0.1", "proxy_port": c.peerPort}},
		"network_security_configuration": map[string]any{"network_security": netsec},
		"proxy_reconnection_interval":    1,
	})
	for i := 1; i <= o.storages; i++ {
		name := fmt.Sprintf("s%d", i)
		c.storages = append(c.storages, startProc(t, name, dir, qasmatBin, "storage", "-c", storageCfg, "-n", name,
			"--data-dir", filepath.Join(dir, name)))
	}
	c.waitConnected(o.storages)
	return c
}

// waitConnected waits until the proxy's metrics show n connected storage servers.
func (c *cluster) waitConnected(n int) {
	c.t.Helper()
	waitConnected(c.t, c.api.base, n)
}

func waitConnected(t testing.TB, base string, n int) {
	t.Helper()
	want := fmt.Sprintf("\nqasmat_storage_servers_connected %d\n", n)
	testkit.WaitFor(t, fmt.Sprintf("%d connected storage servers at %s", n, base), 60*time.Second, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains("\n"+string(b), want)
	})
}

// user is who a request claims to be (the headers an auth proxy sets).
type user struct{ name, email string }

// client calls the REST API.
type client struct {
	base string
	http *http.Client
	// basic is HTTP basic auth for the auth proxy ("" = none).
	basicUser, basicPass string
}

type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func (c *client) do(u user, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if u.email != "" {
		req.Header.Set("Remote-User", u.name)
		req.Header.Set("Remote-Email", u.email)
	}
	if c.basicUser != "" {
		req.SetBasicAuth(c.basicUser, c.basicPass)
	}
	return c.http.Do(req)
}

func decodeError(resp *http.Response) error {
	var env struct {
		Message string `json:"message"`
	}
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &env) != nil || env.Message == "" {
		env.Message = strings.TrimSpace(string(b))
	}
	return &apiError{Status: resp.StatusCode, Message: env.Message}
}

func (c *client) call(u user, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.do(u, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("HTTP %d: undecodable body: %v", resp.StatusCode, err)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

// protect uploads body as multipart (threshold first, then the file).
func (c *client) protect(u user, name string, k int, body io.Reader) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("threshold", strconv.Itoa(k))
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("file", name); err == nil {
				_, err = io.Copy(fw, body)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return c.call(u, "POST", "/api/file/protect", mw.FormDataContentType(), pr, nil)
}

func (c *client) retrieve(u user, name string) ([]byte, error) {
	resp, err := c.do(u, "POST", "/api/file/retrieve", "application/x-www-form-urlencoded",
		strings.NewReader("name="+url.QueryEscape(name)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, decodeError(resp)
	}
	if resp.Header.Get("X-File-Integrity") != "true" {
		return nil, errors.New("retrieve: X-File-Integrity is not true")
	}
	return io.ReadAll(resp.Body)
}

// files lists the user's file names.
func (c *client) files(u user) ([]string, error) {
	var out struct {
		Files []struct {
			Filename string `json:"filename"`
		} `json:"files"`
	}
	if err := c.call(u, "GET", "/api/file", "", nil, &out); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out.Files))
	for _, f := range out.Files {
		names = append(names, f.Filename)
	}
	return names, nil
}

// mustRoundTrip protects data and checks it comes back identical.
func mustRoundTrip(t testing.TB, c *client, u user, name string, data []byte) {
	t.Helper()
	if err := c.protect(u, name, 2, bytes.NewReader(data)); err != nil {
		t.Fatalf("protect %s as %s: %v", name, u.email, err)
	}
	got, err := c.retrieve(u, name)
	if err != nil {
		t.Fatalf("retrieve %s as %s: %v", name, u.email, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("retrieve %s: got %d bytes, want the %d bytes protected", name, len(got), len(data))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// randomBytes is deterministic test data.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func httpClient() *http.Client { return &http.Client{Timeout: 60 * time.Second} }
