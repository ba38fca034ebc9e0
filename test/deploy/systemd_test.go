package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirectives reads a unit file's Key=Value lines (later ones append).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", path, line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

// TestSystemdUnitsHardened checks deploy/systemd's units for what docs/deploy.md
// promises: restart on failure, the dedicated user, SIGTERM as the stop
// signal, the hardening directives, and write access to the service's own
// data folder (the one its ExecStart names) and nothing else.
func TestSystemdUnitsHardened(t *testing.T) {
	units := map[string]string{
		"qasmat-proxy.service":    "proxy",
		"qasmat-storage@.service": "storage",
		"qasmat-kms-sim.service":  "kms-sim",
	}
	for unit, role := range units {
		d := unitDirectives(t, filepath.Join(repoRoot, "deploy/systemd", unit))
		want := map[string]string{
			"User": "qasmat", "Group": "qasmat", "Restart": "on-failure", "KillSignal": "SIGTERM",
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
			"PrivateDevices": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
			"RestrictSUIDSGID": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
			"MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "UMask": "0077",
			"SystemCallErrorNumber": "EPERM", "SystemCallArchitectures": "native",
		}
		for k, v := range want {
			if got := d[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s=%q, want exactly %s=%s", unit, k, got, k, v)
			}
		}
		execStart := d["ExecStart"]
		if len(execStart) != 1 || !strings.HasPrefix(execStart[0], "/usr/local/bin/qasmat "+role+" ") {
			t.Fatalf("%s: ExecStart=%q, want /usr/local/bin/qasmat %s ...", unit, execStart, role)
		}
		args := strings.Fields(execStart[0])
		dataDir := ""
		for i, a := range args {
			if a == "--data-dir" && i+1 < len(args) {
				dataDir = args[i+1]
			}
		}
		if rw := d["ReadWritePaths"]; dataDir == "" || len(rw) != 1 || rw[0] != dataDir {
			t.Errorf("%s: ReadWritePaths=%q, want exactly the --data-dir %q", unit, rw, dataDir)
		}
		if len(d["WantedBy"]) != 1 {
			t.Errorf("%s: no [Install] WantedBy", unit)
		}
	}
}

// TestSystemdUnitsVerify runs systemd-analyze verify on deploy/systemd's
// units (the storage template as an instance), with the binary path and
// user pointed at ones that exist here. An unknown directive or a bad value
// is a failure, not just a warning.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	fix := strings.NewReplacer("/usr/local/bin/qasmat", qasmatBin, "User=qasmat\n", "User=root\n", "Group=qasmat\n", "Group=root\n")
	for _, unit := range []string{"qasmat-proxy.service", "qasmat-storage@.service", "qasmat-kms-sim.service"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(fix.Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "qasmat-proxy.service", "qasmat-storage@s1.service", "qasmat-kms-sim.service")
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":", "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "qasmat") {
			t.Fatalf("systemd-analyze verify warns about a unit: %s\n(all output:\n%s)", line, out)
		}
	}
}
