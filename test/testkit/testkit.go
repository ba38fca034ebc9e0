// Package testkit starts real qasmat processes for the integration tests
// under test/: it finds or builds the binary, runs processes with their
// output in a log file, and waits for conditions.
package testkit

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Binary returns the qasmat binary under test: $QASMAT_BIN (what `make
// test` builds), or one built now from the repository at root into a
// world-readable temporary folder (some tests run it as another user);
// cleanup removes what was built.
func Binary(root string) (path string, cleanup func(), err error) {
	if bin := os.Getenv("QASMAT_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			abs, err := filepath.Abs(bin)
			return abs, func() {}, err
		}
	}
	dir, err := os.MkdirTemp("", "qasmat-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	path = filepath.Join(dir, "qasmat")
	cmd := exec.Command("go", "build", "-trimpath", "-o", path, root)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building qasmat: %v\n%s", err, out)
	}
	return path, cleanup, nil
}

// FreePort asks the kernel for an unused loopback port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is one real process with its output appended to a log file. It is
// killed when the test ends; if the test failed, the end of its log is
// printed.
type Proc struct {
	t       testing.TB
	name    string
	bin     string
	args    []string
	logPath string
	// Env is added to the environment at the next (re)start.
	Env []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
}

// Start runs bin with args, its output going to logDir/name.log.
func Start(t testing.TB, name, logDir string, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, bin: bin, args: args, Env: env, logPath: filepath.Join(logDir, name+".log")}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			log := p.Log()
			if len(log) > 4000 {
				log = "...\n" + log[len(log)-4000:]
			}
			t.Logf("--- end of the log of %s:\n%s", name, log)
		}
	})
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.Env...)
	// The process dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// Restart starts the process again with the same arguments (and Env).
func (p *Proc) Restart() { p.t.Helper(); p.start() }

// Signal sends sig and waits up to 40 s for the process to end (then kills
// it); it returns how long the process took to end.
func (p *Proc) Signal(sig syscall.Signal) time.Duration {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	select {
	case <-done:
		return 0
	default:
	}
	start := time.Now()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return time.Since(start)
}

// Kill is SIGKILL: no chance to clean up, like a power cut.
func (p *Proc) Kill() { p.Signal(syscall.SIGKILL) }

// Stop is SIGTERM: a graceful shutdown.
func (p *Proc) Stop() { p.Signal(syscall.SIGTERM) }

// Done is closed when the current run of the process ends.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Exited is the exit error of the last run (nil: status 0).
func (p *Proc) Exited() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Pid is the process ID of the current run.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Log is everything the process wrote so far, over all its runs.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// LogContains reports whether the log holds s.
func (p *Proc) LogContains(s string) bool { return strings.Contains(p.Log(), s) }

// WaitFor polls cond until it is true or timeout passes (then the test
// fails, naming what); it returns how long it waited.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return 0
}

// WriteJSON writes v as indented JSON to path (mode 0600) and returns path.
func WriteJSON(t testing.TB, path string, v any) string {
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

// Concurrently runs fn(1) .. fn(n) on the given number of workers and
// returns the errors; a worker stops at its first error.
func Concurrently(workers, n int, fn func(i int) error) []error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}
