package cluster

import (
	"bytes"
	"encoding/json"
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
	bin, cleanup, err := testkit.Binary("../..")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	qasmatBin = bin
	return m.Run(), nil
}

// freePort, waitFor and writeJSON are the shared harness's (test/testkit).
var (
	freePort  = testkit.FreePort
	waitFor   = testkit.WaitFor
	writeJSON = testkit.WriteJSON
)

// proc is one real qasmat process with its log captured to a file.
type proc = testkit.Proc

func startProc(t testing.TB, name, logDir string, env []string, args ...string) *proc {
	t.Helper()
	return testkit.Start(t, name, logDir, env, qasmatBin, args...)
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
