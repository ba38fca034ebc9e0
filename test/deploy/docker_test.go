package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// dockerEngine is a dockerd started by hand for one test, with its own data
// and exec roots and socket, no bridge and no iptables rules.
type dockerEngine struct {
	t    *testing.T
	cli  string
	host string
	dir  string
	cmd  *exec.Cmd
	log  string
}

// startDocker starts dockerd or skips the test with the reason.
func startDocker(t *testing.T) *dockerEngine {
	t.Helper()
	const howto = "; CI installs docker.io (apt-get install -y docker.io) and runs this as root: go test ./test/deploy/ -run Container"
	if os.Geteuid() != 0 {
		t.Skip("the container test starts its own dockerd and needs root" + howto)
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd is not installed" + howto)
	}
	// The CLI that came with this dockerd speaks its API version.
	cli := "/usr/bin/docker"
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath("docker"); err != nil {
			t.Skip("the docker CLI is not installed" + howto)
		}
	}
	dir, err := os.MkdirTemp("", "qasmat-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	e := &dockerEngine{t: t, cli: cli, dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock"), log: filepath.Join(dir, "dockerd.log")}
	logf, err := os.Create(e.log)
	if err != nil {
		t.Fatal(err)
	}
	e.cmd = exec.Command(dockerd,
		"--host", e.host,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=false")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// containerd's shims daemonize; where PID 1 does not reap orphans they
	// would stay zombies: adopt them and reap them at the end.
	setSubreaper(true)
	if err := e.cmd.Start(); err != nil {
		setSubreaper(false)
		logf.Close()
		os.RemoveAll(dir)
		t.Skipf("dockerd did not start: %v%s", err, howto)
	}
	done := make(chan struct{})
	go func() { e.cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		// Always stop the engine: SIGTERM (it stops its containers and its
		// containerd), then SIGKILL to the whole group after 30 s.
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		reapOrphans()
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec.CommandContext(ctx, cli, "-H", e.host, "info").Run()
		cancel()
		if err == nil {
			return e
		}
		select {
		case <-done:
			b, _ := os.ReadFile(e.log)
			t.Skipf("dockerd exited at start (no container engine can run here):\n%s%s", tail(string(b), 15), howto)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(e.log)
			t.Skipf("dockerd did not answer within 45 s:\n%s%s", tail(string(b), 15), howto)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// docker runs the CLI against the engine, bounded in time.
func (e *dockerEngine) docker(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cli, append([]string{"-H", e.host}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *dockerEngine) mustDocker(args ...string) string {
	e.t.Helper()
	out, err := e.docker(60*time.Second, args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// TestContainerImage builds the FROM scratch image with the script `make
// image` runs (deploy/docker/build-image.sh) under a dockerd started by hand
// (TOOLCHAIN.md), then runs a proxy and two storage servers from it (host
// networking, read-only root, no capabilities, data in bind-mounted volumes)
// and checks /readyz, that two storage servers connect, and a round trip. Skips with the reason where no engine
// can start.
func TestContainerImage(t *testing.T) {
	e := startDocker(t)
	const tag = "qasmat-ci:test"
	build := exec.Command("bash", filepath.Join(repoRoot, "deploy/docker/build-image.sh"), qasmatBin, tag)
	build.Env = append(os.Environ(), "DOCKER_HOST="+e.host, "PATH="+filepath.Dir(e.cli)+":"+os.Getenv("PATH"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, out)
	}
	if user := e.mustDocker("image", "inspect", "-f", "{{.Config.User}}", tag); user != "65532:65532" {
		t.Fatalf("image user = %q, want the non-root 65532:65532", user)
	}
	if vols := e.mustDocker("image", "inspect", "-f", "{{json .Config.Volumes}}", tag); !strings.Contains(vols, `"/data"`) {
		t.Fatalf("image volumes = %s, want /data", vols)
	}
	if layers := e.mustDocker("image", "inspect", "-f", "{{len .RootFS.Layers}}", tag); layers != "2" {
		t.Fatalf("image has %s layers, want 2 (binary, data folder): FROM scratch", layers)
	}

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(dir, "etc")
	for _, d := range []string{cfgDir, filepath.Join(dir, "proxy"), filepath.Join(dir, "s1"), filepath.Join(dir, "s2")} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65532, 65532); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(qasmatBin, "keygen", "-o", filepath.Join(cfgDir, "psk.key")).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	webPort, peerPort := testkit.FreePort(t), testkit.FreePort(t)
	netsec := map[string]any{"Private": map[string]any{"path_to_preshared_key": "/etc/qasmat/psk.key"}}
	testkit.WriteJSON(t, filepath.Join(cfgDir, "proxy.json"), map[string]any{
		"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_port": peerPort}},
		"network_security_configuration": map[string]any{"network_security": netsec},
		"web_configuration": map[string]any{
			"bind_port": map[string]any{"Fixed": webPort}, "bind_address": "127.0.0.1",
			"allowed_cors_origins": []string{"*"},
		},
	})
	testkit.WriteJSON(t, filepath.Join(cfgDir, "storage.json"), map[string]any{
		"discovery_mode":                 map[string]any{"Remote": map[string]any{"proxy_address": "127.0.0.1", "proxy_port": peerPort}},
		"network_security_configuration": map[string]any{"network_security": netsec},
		"proxy_reconnection_interval":    1,
	})
	files, _ := filepath.Glob(filepath.Join(cfgDir, "*"))
	for _, f := range files {
		if err := os.Chown(f, 65532, 65532); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"run", "-d", "--network", "host", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges:true", "-v", cfgDir + ":/etc/qasmat:ro"}
	run := func(name string, args ...string) {
		t.Helper()
		a := append(append([]string{}, common...), "--name", name)
		a = append(a, args...)
		e.mustDocker(a...)
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := e.docker(10*time.Second, "logs", name)
				t.Logf("container %s log:\n%s", name, tail(out, 30))
			}
		})
	}
	run("qasmat-proxy", "-v", filepath.Join(dir, "proxy")+":/data", tag,
		"proxy", "-c", "/etc/qasmat/proxy.json", "--data-dir", "/data")
	for _, s := range []string{"s1", "s2"} {
		run("qasmat-"+s, "-v", filepath.Join(dir, s)+":/data", tag,
			"storage", "-c", "/etc/qasmat/storage.json", "-n", s, "--data-dir", "/data")
	}

	base := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	testkit.WaitFor(t, "the proxy container's /readyz", 60*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	waitConnected(t, base, 2)
	api := &client{base: base, http: httpClient()}
	mustRoundTrip(t, api, user{}, "container.bin", randomBytes(500_000, 5))
	for _, d := range []string{"proxy", "s1", "s2"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, d)); len(entries) == 0 {
			t.Fatalf("the %s container wrote nothing to its /data volume", d)
		}
	}
	// The processes run as the image's non-root user.
	for _, name := range []string{"qasmat-proxy", "qasmat-s1"} {
		pid := e.mustDocker("inspect", "-f", "{{.State.Pid}}", name)
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(status), "\nUid:\t65532\t65532\t65532\t65532\n") {
			t.Fatalf("%s does not run as uid 65532:\n%s", name, status)
		}
	}
	// Graceful stop: docker stop sends SIGTERM; exit code 0.
	e.mustDocker("stop", "-t", "30", "qasmat-proxy")
	if code := e.mustDocker("inspect", "-f", "{{.State.ExitCode}}", "qasmat-proxy"); code != "0" {
		t.Fatalf("the proxy container exited with %s after docker stop, want 0", code)
	}
}

// setSubreaper makes this process adopt its orphaned descendants
// (PR_SET_CHILD_SUBREAPER).
func setSubreaper(on bool) {
	v := uintptr(0)
	if on {
		v = 1
	}
	const prSetChildSubreaper = 36
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, v, 0)
}

// reapOrphans waits (up to 10 s) for the adopted containerd shims to exit,
// then stops adopting. Only the container test has children at this point.
func reapOrphans() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.ECHILD {
			break
		}
		if pid <= 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	setSubreaper(false)
}

// unmountUnder detaches every mount below dir (dockerd's netns files, overlays).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// TestUserDockerfile builds deploy/docker/Dockerfile from source (node and
// Go base images, then FROM scratch) and runs the image. It needs a Docker
// engine that can pull the base images, which this project's CI machines
// cannot reach; it skips with the reason and the command elsewhere.
func TestUserDockerfile(t *testing.T) {
	const how = "; where base images can be pulled run: QASMAT_DOCKER_FROM_SOURCE=1 go test ./test/deploy -run UserDockerfile -v"
	if os.Getenv("QASMAT_DOCKER_FROM_SOURCE") != "1" {
		t.Skip("building from source pulls node and golang base images, which this machine cannot reach" + how)
	}
	docker := needTool(t, "docker", "docker.io")
	tag := fmt.Sprintf("qasmat-src-test:%d", os.Getpid())
	build := exec.Command(docker, "build", "-f", "deploy/docker/Dockerfile", "-t", tag, ".")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, tail(string(out), 40))
	}
	defer exec.Command(docker, "rmi", "-f", tag).Run()
	out, err := exec.Command(docker, "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "qasmat ") {
		t.Fatalf("the image does not run qasmat: %v %s", err, out)
	}
	user, err := exec.Command(docker, "image", "inspect", "--format", "{{.Config.User}}", tag).Output()
	if err != nil || strings.TrimSpace(string(user)) == "" || strings.TrimSpace(string(user)) == "0" {
		t.Fatalf("the image runs as %q (%v), want a non-root user", user, err)
	}
}
