// Package kubernetes holds Qasmat's Kubernetes manifests (applied with
// kubectl apply -k) and the test that checks them offline: every manifest
// strict-decodes into the Kubernetes API types, and the deployment's
// security and probe promises hold. It is its own Go module so that the
// Kubernetes API modules stay out of Qasmat's.
package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty typed object for an apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion %q kind %q", apiVersion, kind)
}

// strictJSON decodes YAML into v: duplicate keys, unknown fields and wrong
// types are errors.
func strictJSON(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decodeFile strict-decodes every YAML document of a manifest file.
func decodeFile(path string) ([]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []any
	for i, doc := range docSep.Split(string(b), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		if err := strictJSON([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s document %d (%s): %w", path, i, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no object", path)
	}
	return objs, nil
}

func stripComments(doc string) string {
	var sb strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			sb.WriteString(l + "\n")
		}
	}
	return sb.String()
}

// kustomization is the subset of kustomize's Kustomization this folder uses;
// decoded strictly too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	ConfigMapGenerator []generator `json:"configMapGenerator"`
	SecretGenerator    []generator `json:"secretGenerator"`
	Images             []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

type generator struct {
	Name  string   `json:"name"`
	Files []string `json:"files"`
}

// loadAll decodes kustomization.yaml and every resource it lists, and checks
// that every YAML manifest in the folder is listed.
func loadAll(t *testing.T) (kustomization, []any) {
	t.Helper()
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := strictJSON(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: apiVersion/kind = %s/%s", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob("*.yaml")
	var listed []string
	var objs []any
	for _, r := range k.Resources {
		o, err := decodeFile(r)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
		listed = append(listed, r)
	}
	listed = append(listed, "kustomization.yaml")
	sort.Strings(listed)
	sort.Strings(files)
	if strings.Join(listed, " ") != strings.Join(files, " ") {
		t.Fatalf("manifests in the folder %v, listed in kustomization.yaml (+ itself) %v", files, listed)
	}
	return k, objs
}

// TestManifestsStrictDecode: every manifest decodes into the Kubernetes API
// types with unknown fields and wrong types refused.
func TestManifestsStrictDecode(t *testing.T) {
	_, objs := loadAll(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[fmt.Sprintf("%T", o)]++
	}
	want := map[string]int{"*v1.Namespace": 1, "*v1.Service": 3, "*v1.StatefulSet": 2, "*v1.NetworkPolicy": 3}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d objects of %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
}

// TestBrokenManifestsRejected: the strict decoding catches a misspelt field,
// a wrong type, a duplicate key and an unknown kind (testdata/).
func TestBrokenManifestsRejected(t *testing.T) {
	cases := map[string]string{
		"testdata/broken-unknown-field.yaml": `unknown field "replica"`,
		"testdata/broken-wrong-type.yaml":    "cannot unmarshal string",
		"testdata/broken-duplicate-key.yaml": "already set in map",
		"testdata/broken-unknown-kind.yaml":  "unknown apiVersion",
	}
	for file, msg := range cases {
		_, err := decodeFile(file)
		if err == nil {
			t.Errorf("%s decoded without error", file)
			continue
		}
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %q does not mention %q", file, err, msg)
		}
	}
}

func statefulSets(objs []any) map[string]*appsv1.StatefulSet {
	m := map[string]*appsv1.StatefulSet{}
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok {
			m[s.Name] = s
		}
	}
	return m
}

// TestStatefulSetsSafe: one proxy with a volume for its catalog, storage
// servers with a volume each, non-root, read-only root filesystem, no
// privilege escalation or capabilities, resource requests, pinned images,
// probes on /healthz and /readyz for the proxy, and the PSK from the
// generated Secret.
func TestStatefulSetsSafe(t *testing.T) {
	k, objs := loadAll(t)
	sets := statefulSets(objs)
	proxy, storage := sets["qasmat-proxy"], sets["qasmat-storage"]
	if proxy == nil || storage == nil {
		t.Fatalf("StatefulSets %v, want qasmat-proxy and qasmat-storage", sets)
	}
	if proxy.Spec.Replicas == nil || *proxy.Spec.Replicas != 1 {
		t.Fatal("the proxy StatefulSet must have exactly 1 replica")
	}
	if storage.Spec.Replicas == nil || *storage.Spec.Replicas < 2 {
		t.Fatal("the storage StatefulSet needs at least 2 replicas")
	}
	for name, s := range sets {
		if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "data" {
			t.Errorf("%s: want one volumeClaimTemplate named data", name)
		}
		if s.Spec.ServiceName == "" {
			t.Errorf("%s: no serviceName (stable names)", name)
		}
		pod := s.Spec.Template.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
			pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s: pod must run as a non-root user", name)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: the service account token must not be mounted", name)
		}
		hasPSK := false
		for _, v := range pod.Volumes {
			if v.Secret != nil && v.Secret.SecretName == k.SecretGenerator[0].Name {
				hasPSK = true
			}
		}
		if !hasPSK {
			t.Errorf("%s: the pre-shared key Secret %s is not mounted", name, k.SecretGenerator[0].Name)
		}
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: readOnlyRootFilesystem must be true", name, c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s/%s: allowPrivilegeEscalation must be false", name, c.Name)
			}
			if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
				t.Errorf("%s/%s: capabilities must drop ALL and add none", name, c.Name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: cpu and memory requests and a memory limit are required", name, c.Name)
			}
			if c.Image != "qasmat" {
				t.Errorf("%s/%s: image %q; use the name qasmat, pinned by kustomization.yaml's images", name, c.Name, c.Image)
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				if m.Name == "data" && m.MountPath == "/data" {
					mounted = true
				}
				if m.Name != "data" && !m.ReadOnly {
					t.Errorf("%s/%s: %s must be mounted read-only", name, c.Name, m.Name)
				}
			}
			if !mounted || !strings.Contains(strings.Join(c.Args, " "), "--data-dir /data") {
				t.Errorf("%s/%s: the data volume must be /data and the --data-dir", name, c.Name)
			}
		}
	}
	for _, img := range k.Images {
		if img.NewTag == "" || img.NewTag == "latest" {
			t.Errorf("image %s: tag %q; pin a version", img.Name, img.NewTag)
		}
	}
	c := proxy.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the proxy needs a liveness probe on /healthz")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("the proxy needs a readiness probe on /readyz")
	}
	if g := proxy.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 35 {
		t.Error("the proxy's terminationGracePeriodSeconds must cover its 30 s upload grace")
	}
	sc := storage.Spec.Template.Spec.Containers[0]
	if !strings.Contains(strings.Join(sc.Args, " "), "-n $(POD_NAME)") || len(sc.Env) != 1 || sc.Env[0].ValueFrom == nil ||
		sc.Env[0].ValueFrom.FieldRef == nil || sc.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Error("storage servers must be named after their stable pod names (-n $(POD_NAME) from metadata.name)")
	}
}

// TestNoSecretCommitted: the key comes from a file the operator creates
// (secretGenerator), not from a manifest, and that file is ignored by git.
func TestNoSecretCommitted(t *testing.T) {
	k, objs := loadAll(t)
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			t.Errorf("Secret %s is a manifest; generate it from psk.key", s.Name)
		}
	}
	if len(k.SecretGenerator) != 1 || len(k.SecretGenerator[0].Files) != 1 || k.SecretGenerator[0].Files[0] != "psk.key" {
		t.Fatalf("secretGenerator = %+v, want one Secret from psk.key", k.SecretGenerator)
	}
	ign, err := os.ReadFile(".gitignore")
	if err != nil || !regexp.MustCompile(`(?m)^psk\.key$`).Match(ign) {
		t.Fatal(".gitignore must list psk.key")
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			_, path, _ := strings.Cut(f, "=")
			if _, err := os.Stat(path); err != nil {
				t.Errorf("configMapGenerator %s: %v", g.Name, err)
			}
		}
	}
}

// TestNetworkPolicyExact: all traffic is denied but storage -> proxy:49999,
// auth proxy -> proxy:3000 and storage -> DNS.
func TestNetworkPolicyExact(t *testing.T) {
	_, objs := loadAll(t)
	pols := map[string]*networkingv1.NetworkPolicy{}
	for _, o := range objs {
		if p, ok := o.(*networkingv1.NetworkPolicy); ok {
			pols[p.Name] = p
		}
	}
	deny := pols["default-deny"]
	if deny == nil || len(deny.Spec.PodSelector.MatchLabels) != 0 || len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 ||
		len(deny.Spec.PolicyTypes) != 2 {
		t.Fatal("default-deny must select every pod and allow nothing in or out")
	}
	in := pols["qasmat-proxy-ingress"]
	if in == nil || len(in.Spec.Ingress) != 2 {
		t.Fatal("qasmat-proxy-ingress must have exactly two rules")
	}
	got := map[int32]string{}
	for _, r := range in.Spec.Ingress {
		if len(r.Ports) != 1 || len(r.From) != 1 || r.From[0].PodSelector == nil {
			t.Fatalf("proxy ingress rule %+v: want one port from one pod selector", r)
		}
		got[r.Ports[0].Port.IntVal] = r.From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] + r.From[0].PodSelector.MatchLabels["app.kubernetes.io/component"]
	}
	if got[49999] != "qasmat-storage" || got[3000] != "auth-proxy" {
		t.Fatalf("proxy ingress = %v, want 49999 from qasmat-storage and 3000 from auth-proxy only", got)
	}
	eg := pols["qasmat-storage-egress"]
	if eg == nil || len(eg.Spec.Egress) != 2 || eg.Spec.Egress[0].Ports[0].Port.IntVal != 49999 {
		t.Fatal("qasmat-storage-egress must allow the proxy's peer port and DNS only")
	}
}
