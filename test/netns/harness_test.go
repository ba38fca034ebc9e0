// Package netns runs real qasmat processes on separate hosts made of network
// namespaces (netns.sh): Local discovery by mDNS, cut links, partitions, lost
// hosts and rogue storage servers. It needs root; elsewhere every test skips
// with the reason.
package netns

import (
	"bytes"
	"context"
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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
	"golang.org/x/sys/unix"
)

var (
	qasmatBin  string
	prefix     string // namespace names are prefix-a .. prefix-e
	skipReason string // non-empty: every test skips with it
	script     string
)

// hosts and their addresses, as netns.sh makes them.
var hostIP = map[string]string{"a": "10.99.0.1", "b": "10.99.0.2", "c": "10.99.0.3", "d": "10.99.0.4", "e": "10.99.0.5"}

func TestMain(m *testing.M) {
	os.Exit(setupAndRun(m))
}

func setupAndRun(m *testing.M) int {
	wd, _ := os.Getwd()
	script = filepath.Join(wd, "netns.sh")
	if os.Geteuid() != 0 {
		skipReason = "network namespace tests need root (run test/netns/netns.sh run as root)"
		return m.Run()
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		skipReason = "`ip netns` does not work here: " + err.Error()
		return m.Run()
	}
	if prefix = os.Getenv("QASMAT_NETNS_PREFIX"); prefix == "" {
		// Run without the script: make the hosts ourselves, named after our
		// pid so that netns.sh's gc removes them if we are killed.
		prefix = fmt.Sprintf("qn%d", os.Getpid())
		out, err := exec.Command(script, "up", prefix).CombinedOutput()
		if s := strings.TrimSpace(string(out)); strings.HasPrefix(s, "SKIP:") {
			skipReason = strings.TrimSpace(strings.TrimPrefix(s, "SKIP:"))
			return m.Run()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "netns tests: creating the hosts: %v\n%s", err, out)
			return 1
		}
		defer exec.Command(script, "down", prefix).Run()
	}
	bin, cleanup, err := testkit.Binary("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "netns tests:", err)
		return 1
	}
	defer cleanup()
	qasmatBin = bin
	return m.Run()
}

func requireNetns(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("SKIP: " + skipReason)
	}
}

func ns(host string) string { return prefix + "-" + host }

// ipIn runs `ip -n HOST args...`.
func ipIn(t *testing.T, host string, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns(host)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v %s", ns(host), strings.Join(args, " "), err, out)
	}
}

func linkDown(t *testing.T, host string) { t.Helper(); ipIn(t, host, "link", "set", "eth0", "down") }

// linkUp brings the link back with its multicast route (the kernel drops the
// route on down).
func linkUp(t *testing.T, host string) {
	t.Helper()
	if out, err := exec.Command(script, "linkup", prefix, host).CombinedOutput(); err != nil {
		t.Fatalf("linkup %s: %v %s", host, err, out)
	}
}

// proc is one qasmat process inside a host's namespace.
type proc = testkit.Proc

func startIn(t *testing.T, host, name, dir string, args ...string) *proc {
	t.Helper()
	// ip netns exec execs qasmat in place: the pid is qasmat's.
	return testkit.Start(t, name, dir, nil, "ip", append([]string{"netns", "exec", ns(host), qasmatBin}, args...)...)
}

// nsDialer opens TCP connections from inside a host's namespace: the socket
// is created on a thread switched into it, and stays there.
func nsDialer(host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + ns(host))
		if err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// The thread is in the wrong namespace: never unlock it, so it
			// dies with this goroutine instead of serving others.
			if c != nil {
				c.Close()
			}
			return nil, fmt.Errorf("returning to the test's namespace: %w", rerr)
		}
		runtime.UnlockOSThread()
		return c, err
	}
}

// cluster is a proxy on host a and storage servers on other hosts.
type cluster struct {
	t        *testing.T
	dir      string
	api      string
	http     *http.Client
	proxy    *proc
	storages map[string]*proc // by host
	netsec   any
	psk      string
}

type clusterOpts struct {
	storageHosts []string // hosts running a storage server named after the host
	private      bool
}

func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	requireNetns(t)
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, api: "http://10.99.0.1:3000", storages: map[string]*proc{}, netsec: "Public"}
	c.useAPIOn("a")
	if o.private {
		c.psk = c.keygen("psk.key")
		c.netsec = map[string]any{"Private": map[string]any{"path_to_preshared_key": c.psk}}
	}
	c.proxy = c.startProxy("a", "proxy")
	for _, h := range o.storageHosts {
		c.storages[h] = c.startStorage(h, h, c.netsec)
	}
	c.waitConnected(o.storageHosts...)
	return c
}

// useAPIOn points the test's HTTP client at the proxy on host.
func (c *cluster) useAPIOn(host string) {
	c.api = "http://" + hostIP[host] + ":3000"
	c.http = &http.Client{Transport: &http.Transport{DialContext: nsDialer(host), DisableKeepAlives: true}}
}

// startProxy runs a proxy in Local mode on host with its data in dataDir
// (under the test's folder).
func (c *cluster) startProxy(host, dataDir string) *proc {
	t := c.t
	dir := c.dir
	proxyCfg := testkit.WriteJSON(t, filepath.Join(dir, "proxy.json"), map[string]any{
		"discovery_mode":                 "Local",
		"network_security_configuration": map[string]any{"network_security": c.netsec},
		"web_configuration": map[string]any{
			"bind_port":            map[string]any{"bind_port": map[string]any{"Fixed": 3000}},
			"bind_address":         "0.0.0.0",
			"allowed_cors_origins": []string{"*"},
		},
	})
	return startIn(t, host, "proxy-"+host+"-"+dataDir, dir, "proxy", "-c", proxyCfg, "--data-dir", filepath.Join(dir, dataDir))
}

func (c *cluster) keygen(name string) string {
	path := filepath.Join(c.dir, name)
	if out, err := exec.Command(qasmatBin, "keygen", "-o", path).CombinedOutput(); err != nil {
		c.t.Fatalf("keygen: %v %s", err, out)
	}
	return path
}

// startStorage runs a storage server in Local mode (no proxy address) on
// host as name.
func (c *cluster) startStorage(host, name string, netsec any) *proc {
	cfg := testkit.WriteJSON(c.t, filepath.Join(c.dir, "storage-"+host+"-"+name+".json"), map[string]any{
		"discovery_mode":                 "Local",
		"network_security_configuration": map[string]any{"network_security": netsec},
		"proxy_reconnection_interval":    2,
	})
	return startIn(c.t, host, "storage-"+host+"-"+name, c.dir, "storage", "-c", cfg, "-n", name,
		"--data-dir", filepath.Join(c.dir, "data-"+host+"-"+name), "--log-level", "debug")
}

// storageState is GET /api/storage.
type storageState struct {
	Servers   []string  `json:"servers"`
	Hosts     []string  `json:"hosts"`
	Pings     []float64 `json:"pings"`
	Connected []bool    `json:"connected"`
}

func (s storageState) connected(name string) bool {
	for i, n := range s.Servers {
		if n == name {
			return s.Connected[i]
		}
	}
	return false
}

func (s storageState) host(name string) string {
	for i, n := range s.Servers {
		if n == name {
			return s.Hosts[i]
		}
	}
	return ""
}

func (c *cluster) do(method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.api+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Remote-User", "tester")
	req.Header.Set("X-Remote-Email", "tester@example.test")
	return c.http.Do(req)
}

type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.message) }

func (c *cluster) call(method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.do(method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("HTTP %d: undecodable body: %v", resp.StatusCode, err)
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{resp.StatusCode, env.Message}
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func (c *cluster) storage() (storageState, error) {
	var s storageState
	err := c.call("GET", "/api/storage", "", nil, &s)
	return s, err
}

// waitConnected waits until every named server is connected.
func (c *cluster) waitConnected(names ...string) {
	c.t.Helper()
	c.waitConnectedWithin(30*time.Second, names...)
}

// waitConnectedWithin is waitConnected with a given bound.
func (c *cluster) waitConnectedWithin(timeout time.Duration, names ...string) {
	c.t.Helper()
	testkit.WaitFor(c.t, fmt.Sprintf("storage servers %v connected", names), timeout, func() bool {
		s, err := c.storage()
		if err != nil {
			return false
		}
		for _, n := range names {
			if !s.connected(n) {
				return false
			}
		}
		return true
	})
}

type fileInfo struct {
	Filename       string   `json:"filename"`
	Size           int64    `json:"size"`
	K              int      `json:"k"`
	N              int      `json:"n"`
	StorageServers []string `json:"storage_servers"`
}

func (c *cluster) files() ([]fileInfo, error) {
	var out struct {
		Files []fileInfo `json:"files"`
	}
	err := c.call("GET", "/api/file", "", nil, &out)
	return out.Files, err
}

// protect streams body as a multipart upload.
func (c *cluster) protect(name string, k int, body io.Reader) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("threshold", strconv.Itoa(k))
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("file", name); err == nil {
				if _, err = io.Copy(fw, body); err == nil {
					err = mw.Close()
				}
			}
		}
		pw.CloseWithError(err)
	}()
	return c.call("POST", "/api/file/protect", mw.FormDataContentType(), pr, nil)
}

// retrieve returns the file and whether X-File-Integrity was true.
func (c *cluster) retrieve(name string) ([]byte, bool, error) {
	resp, err := c.do("POST", "/api/file/retrieve", "application/x-www-form-urlencoded",
		strings.NewReader("name="+url.QueryEscape(name)))
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return nil, false, &apiError{resp.StatusCode, env.Message}
	}
	data, err := io.ReadAll(resp.Body)
	return data, resp.Header.Get("X-File-Integrity") == "true", err
}

// mustRetrieve checks that name comes back exactly as want, verified.
func (c *cluster) mustRetrieve(name string, want []byte) {
	c.t.Helper()
	got, verified, err := c.retrieve(name)
	if err != nil {
		c.t.Fatalf("retrieving %s: %v", name, err)
	}
	if !bytes.Equal(got, want) || !verified {
		c.t.Fatalf("retrieving %s: %d bytes (want %d), equal %v, X-File-Integrity %v",
			name, len(got), len(want), bytes.Equal(got, want), verified)
	}
}

// content is deterministic test data of n bytes.
func content(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// gate is a reader that pauses after `after` bytes until released.
type gate struct {
	r       io.Reader
	n       int
	after   int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Read(p []byte) (int, error) {
	if g.n >= g.after {
		g.once.Do(func() { close(g.reached) })
		<-g.release
	} else if len(p) > g.after-g.n {
		p = p[:g.after-g.n]
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}
