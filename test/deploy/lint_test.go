package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAnsibleLint: ansible-lint (production profile) and yamllint pass on
// ansible/, and yamllint passes on the Compose file and the Kubernetes
// manifests.
func TestAnsibleLint(t *testing.T) {
	lint := needTool(t, "ansible-lint", "ansible-lint")
	yamllint := needTool(t, "yamllint", "yamllint")
	dir := filepath.Join(repoRoot, "ansible")
	cmd := exec.Command(lint, "--profile", "production", "--nocolor")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "NO_COLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-lint: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, ".yamllint")
	k8s, _ := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	args := append([]string{"-c", cfg, "-s", dir, filepath.Join(repoRoot, "deploy/docker-compose.yml")}, k8s...)
	if out, err := exec.Command(yamllint, args...).CombinedOutput(); err != nil {
		t.Fatalf("yamllint: %v\n%s", err, out)
	}
}

// TestCaddyfileValid: Caddy adapts and validates deploy/caddy/Caddyfile with
// its defaults, and the file is in caddy fmt's layout.
func TestCaddyfileValid(t *testing.T) {
	caddy := needTool(t, "caddy", "caddy")
	file := filepath.Join(repoRoot, "deploy/caddy/Caddyfile")
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
	cmd := exec.Command(caddy, "adapt", "--config", file, "--adapter", "caddyfile", "--validate")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy adapt --validate: %v\n%s", err, out)
	}
	cmd = exec.Command(caddy, "fmt", file)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy fmt: %v", err)
	}
	want, _ := os.ReadFile(file)
	if string(out) != string(want) {
		t.Fatalf("deploy/caddy/Caddyfile is not formatted as caddy fmt would:\n%s", out)
	}
}
