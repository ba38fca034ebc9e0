package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// qasmatBin is the binary under test: $QASMAT_BIN (what `make test` builds)
// or one built once for this test run.
var qasmatBin string

func TestMain(m *testing.M) {
	code, err := setupAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setupAndRun(m *testing.M) (int, error) {
	if bin := os.Getenv("QASMAT_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			qasmatBin = bin
			return m.Run(), nil
		}
	}
	dir, err := os.MkdirTemp("", "qasmat-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	qasmatBin = filepath.Join(dir, "qasmat")
	cmd := exec.Command("go", "build", "-o", qasmatBin, "../..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building qasmat: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// freePort asks the kernel for an unused loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is one real qasmat process with its log captured to a file.
type proc struct {
	t       testing.TB
	name    string
	args    []string
	env     []string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

func startProc(t testing.TB, name, logDir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, env: env, logPath: filepath.Join(logDir, name+".log")}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(qasmatBin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// restart starts the process again with the same arguments.
func (p *proc) restart() { p.t.Helper(); p.start() }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// kill is SIGKILL: no chance to clean up, like a power cut.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop is SIGTERM: a graceful shutdown.
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

// cluster is a proxy and its storage servers, each a separate process.
type cluster struct {
	t        testing.TB
	dir      string
	apiURL   string
	peerPort int
	proxy    *proc
	storages []*proc
	names    []string
	pskPath  string
}

type clusterOpts struct {
	storages       int
	origins        []string // nil = ["*"]
	trustedProxies []string
	private        bool // pre-shared key
	maxFileSize    int64
	// kms, when set, gives each node's encryption_and_kms value by SAE ID
	// ("proxy", "s1", ...); nil for a storage server leaves it out.
	kms func(sae string) any
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, peerPort: freePort(t)}
	webPort := freePort(t)
	c.apiURL = fmt.Sprintf("http://127.0.0.1:%d", webPort)
	netsec := any("Public")
	if o.private {
		c.pskPath = filepath.Join(dir, "psk.key")
		out, err := exec.Command(qasmatBin, "keygen", "-o", c.pskPath).CombinedOutput()
		if err != nil {
			t.Fatalf("keygen: %v %s", err, out)
		}
		netsec = map[string]any{"Private": map[string]any{"path_to_preshared_key": c.pskPath}}
	}
	origins := o.origins
	if origins == nil {
		origins = []string{"*"}
	}
	web := map[string]any{
		"bind_port":            map[string]any{"bind_port": map[string]any{"Fixed": webPort}},
		"bind_address":         "127.0.0.1",
		"allowed_cors_origins": origins,
	}
	if o.maxFileSize > 0 {
		web["max_file_size"] = o.maxFileSize
	}
	if o.trustedProxies != nil {
		web["trusted_proxies"] = o.trustedProxies
	}
	netCfg := func(sae string) map[string]any {
		n := map[string]any{"network_security": netsec}
		if o.kms != nil {
			if k := o.kms(sae); k != nil {
				n["encryption_and_kms"] = k
			}
		}
		return n
	}
	proxyCfg := map[string]any{
		"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_port": c.peerPort}},
		"network_security_configuration": netCfg("proxy"),
		"web_configuration":              web,
	}
	proxyCfgPath := writeJSON(t, filepath.Join(dir, "proxy.json"), proxyCfg)
	c.proxy = startProc(t, "proxy", dir, nil, "proxy", "-c", proxyCfgPath, "--data-dir", filepath.Join(dir, "proxy"))
	storageCfg := func(name string) map[string]any {
		return map[string]any{
			"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_address": "127.0.0.1", "proxy_port": c.peerPort}},
			"network_security_configuration": netCfg(name),
			"proxy_reconnection_interval":    2,
		}
	}
	storageCfgPath := writeJSON(t, filepath.Join(dir, "storage.json"), storageCfg(""))
	for i := 1; i <= o.storages; i++ {
		name := fmt.Sprintf("s%d", i)
		c.names = append(c.names, name)
		storageCfgPath := storageCfgPath
		if o.kms != nil {
			storageCfgPath = writeJSON(t, filepath.Join(dir, "storage-"+name+".json"), storageCfg(name))
		}
		c.storages = append(c.storages, startProc(t, name, dir, nil, "storage", "-c", storageCfgPath, "-n", name,
			"--data-dir", filepath.Join(dir, name)))
	}
	c.waitConnected(o.storages)
	return c
}

func writeJSON(t testing.TB, path string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitConnected waits until the API reports exactly n connected servers.
func (c *cluster) waitConnected(n int) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%d connected storage servers", n), 30*time.Second, func() bool {
		cfg, err := c.configuration(probeUser)
		return err == nil && cfg.Limit == n
	})
}

// user is who the requests claim to be (the headers an auth proxy sets).
type user struct{ name, email string }

var defaultUser = user{}

// probeUser is who the harness acts as when it only checks the cluster's
// state (private instances refuse requests without identity).
var probeUser = user{"probe", "probe@example.test"}

type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func (c *cluster) do(u user, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.apiURL+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if u.email != "" {
		req.Header.Set("X-Remote-User", u.name)
		req.Header.Set("X-Remote-Email", u.email)
	}
	return http.DefaultClient.Do(req)
}

// envelope is the spec's JSON response shape.
type envelope struct {
	Code    int             `json:"code"`
	Status  string          `json:"status"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

func (c *cluster) call(u user, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.do(u, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("HTTP %d: undecodable body: %v", resp.StatusCode, err)
	}
	if resp.StatusCode/100 != 2 {
		if env.Status != "error" || env.Message == "" || env.Code != resp.StatusCode {
			return fmt.Errorf("HTTP %d: error body not in the spec's shape: %+v", resp.StatusCode, env)
		}
		return &apiError{Status: resp.StatusCode, Message: env.Message}
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

type configuration struct {
	Version     string `json:"version"`
	Limit       int    `json:"limit"`
	MaxFileSize int64  `json:"max_file_size"`
}

func (c *cluster) configuration(u user) (configuration, error) {
	var cfg configuration
	err := c.call(u, "GET", "/api/configuration", "", nil, &cfg)
	return cfg, err
}

type fileInfo struct {
	Filename         string    `json:"filename"`
	Size             int64     `json:"size"`
	K                int       `json:"k"`
	N                int       `json:"n"`
	Expired          bool      `json:"expired"`
	Hash             []int     `json:"hash"`
	DateOfProtection time.Time `json:"date_of_protection"`
	LastRenewal      time.Time `json:"last_renewal"`
	StorageServers   []string  `json:"storage_servers"`
}

func (c *cluster) files(u user) ([]fileInfo, error) {
	var out struct {
		Files      []fileInfo `json:"files"`
		Percentage float64    `json:"percentage"`
	}
	err := c.call(u, "GET", "/api/file", "", nil, &out)
	return out.Files, err
}

// protect streams body as a multipart upload (threshold first, then file).
func (c *cluster) protect(u user, name string, k int, body io.Reader) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("threshold", strconv.Itoa(k))
		if err == nil {
			var fw io.Writer
			fw, err = mw.CreateFormFile("file", name)
			if err == nil {
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

func (c *cluster) protectBytes(u user, name string, k int, data []byte) error {
	return c.protect(u, name, k, bytes.NewReader(data))
}

// retrieve returns the file's bytes and whether X-File-Integrity was true.
func (c *cluster) retrieve(u user, name string) ([]byte, bool, error) {
	resp, err := c.do(u, "POST", "/api/file/retrieve", "application/x-www-form-urlencoded",
		strings.NewReader("name="+urlEscape(name)))
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env envelope
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return nil, false, &apiError{Status: resp.StatusCode, Message: env.Message}
	}
	data, err := io.ReadAll(resp.Body)
	return data, resp.Header.Get("X-File-Integrity") == "true", err
}

func (c *cluster) remove(u user, name string) error {
	return c.call(u, "POST", "/api/file/remove", "application/x-www-form-urlencoded",
		strings.NewReader("name="+urlEscape(name)), nil)
}

func urlEscape(s string) string { return url.QueryEscape(s) }

func multipartWriter(w io.Writer) *multipart.Writer { return multipart.NewWriter(w) }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
