package kubernetes

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeService is the subset of a Compose service the checks read.
type composeService map[string]any

// TestComposeSafeDefaults checks ../docker-compose.yml (it is YAML, and this
// module has the YAML parser): every image pinned to a version, only Caddy
// publishes ports (80 and 443; no admin port such as Caddy's 2019), no
// password or secret value written in the file, Qasmat's containers
// read-only, without capabilities, as the non-root user, with the key as a
// Compose secret, and the backend network internal.
func TestComposeSafeDefaults(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `json:"services"`
		Networks map[string]map[string]any `json:"networks"`
		Secrets  map[string]map[string]any `json:"secrets"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^[a-z0-9./_-]+:[0-9]+\.[0-9]+\.[0-9]+$`)
	secretish := regexp.MustCompile(`(?i)(password|passwd|secret|token|_key)$`)
	wantQasmat := []string{"qasmat-proxy", "storage-1", "storage-2", "storage-3", "kms-sim"}
	for _, name := range append(wantQasmat, "caddy", "authelia") {
		if doc.Services[name] == nil {
			t.Fatalf("service %s is missing", name)
		}
	}
	for name, s := range doc.Services {
		img, _ := s["image"].(string)
		if strings.HasPrefix(img, "${QASMAT_IMAGE:-") {
			img = strings.TrimSuffix(strings.TrimPrefix(img, "${QASMAT_IMAGE:-"), "}")
		}
		if !pinned.MatchString(img) {
			t.Errorf("%s: image %q is not pinned to a version tag", name, img)
		}
		if ports, ok := s["ports"].([]any); ok {
			if name != "caddy" {
				t.Errorf("%s publishes ports %v; only the authenticating reverse proxy may", name, ports)
			}
			for _, p := range ports {
				if ps, _ := p.(string); ps != "80:80" && ps != "443:443" {
					t.Errorf("%s publishes %v; only 80 and 443", name, p)
				}
			}
		}
		if env, ok := s["environment"].(map[string]any); ok {
			for k, v := range env {
				if secretish.MatchString(k) {
					t.Errorf("%s: %s=%v is a secret in the compose file; use a *_FILE variable or a secret", name, k, v)
				}
			}
		}
		if s["read_only"] != true {
			t.Errorf("%s: read_only must be true", name)
		}
		if drop, _ := s["cap_drop"].([]any); len(drop) != 1 || drop[0] != "ALL" {
			t.Errorf("%s: cap_drop must be [ALL]", name)
		}
	}
	for _, name := range wantQasmat {
		s := doc.Services[name]
		if s["user"] != "65532:65532" {
			t.Errorf("%s: user %v, want 65532:65532", name, s["user"])
		}
	}
	if doc.Networks["backend"]["internal"] != true {
		t.Error("the backend network must be internal")
	}
	if f, _ := doc.Secrets["qasmat_psk"]["file"].(string); f == "" {
		t.Error("the pre-shared key must be a Compose secret from a file")
	}
}
