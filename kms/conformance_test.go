package kms_test

// A conformance test written only from ETSI GS QKD 014 v1.1.1 (sections 5 and
// 6): the client below knows nothing of package kms but how to start the
// simulator; it speaks HTTPS with net/http and reads the answers as plain
// JSON objects with the standard's field names.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/qasmat/qasmat/kms"
)

type etsiClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func startForConformance(t *testing.T) (pki, base string) {
	pki = t.TempDir()
	if err := kms.WritePKI(pki, []string{"SAE_A", "SAE_B", "SAE_C"}, nil); err != nil {
		t.Fatal(err)
	}
	sim, err := kms.OpenSimulator(kms.SimOptions{DataDir: t.TempDir(), MaxKeyPerRequest: 8, MaxKeySize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := kms.ServerTLSConfig(filepath.Join(pki, "ca.pem"), filepath.Join(pki, "kme.pem"), filepath.Join(pki, "kme-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim.Handler(), TLSConfig: tc}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close(); _ = sim.Close() })
	return pki, "https://" + ln.Addr().String()
}

func newETSIClient(t *testing.T, pki, base, sae string) *etsiClient {
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if sae != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "sae-"+sae+".pem"), filepath.Join(pki, "sae-"+sae+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &etsiClient{t: t, base: base, http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}}
}

// call sends a request and returns the status and the JSON object answered.
func (c *etsiClient) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var obj map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&obj); err != nil {
		c.t.Fatalf("%s %s: answer is not a JSON object: %v", method, path, err)
	}
	return resp.StatusCode, obj
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// keys checks a Key container (6.3) and returns key_ID -> key bytes.
func keys(t *testing.T, obj map[string]any, want, sizeBits int) map[string][]byte {
	t.Helper()
	list, ok := obj["keys"].([]any)
	if !ok || len(list) != want {
		t.Fatalf("key container %v: want %d keys", obj, want)
	}
	out := map[string][]byte{}
	for _, e := range list {
		k := e.(map[string]any)
		id, _ := k["key_ID"].(string)
		b64, _ := k["key"].(string)
		key, err := base64.StdEncoding.DecodeString(b64)
		if !uuidRE.MatchString(id) || err != nil || len(key)*8 != sizeBits {
			t.Fatalf("key %v: want a UUID key_ID and a base64 key of %d bits", k, sizeBits)
		}
		out[id] = key
	}
	return out
}

func errorObject(t *testing.T, code, want int, obj map[string]any) {
	t.Helper()
	if code != want {
		t.Fatalf("status %d, want %d (%v)", code, want, obj)
	}
	if m, ok := obj["message"].(string); !ok || m == "" {
		t.Fatalf("error object %v has no message", obj)
	}
	if d, ok := obj["details"]; ok {
		if _, isList := d.([]any); !isList {
			t.Fatalf("details %v is not an array", d)
		}
	}
}

func TestConformance(t *testing.T) {
	pki, base := startForConformance(t)
	a := newETSIClient(t, pki, base, "SAE_A")
	b := newETSIClient(t, pki, base, "SAE_B")
	cSAE := newETSIClient(t, pki, base, "SAE_C")

	t.Run("status", func(t *testing.T) {
		code, st := a.call("GET", "/api/v1/keys/SAE_B/status", nil)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, f := range []string{"source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID"} {
			if _, ok := st[f].(string); !ok {
				t.Errorf("%s missing or not a string: %v", f, st)
			}
		}
		for _, f := range []string{"key_size", "stored_key_count", "max_key_count", "max_key_per_request", "max_key_size", "min_key_size", "max_SAE_ID_count"} {
			if _, ok := st[f].(float64); !ok {
				t.Errorf("%s missing or not a number: %v", f, st)
			}
		}
		if st["master_SAE_ID"] != "SAE_A" || st["slave_SAE_ID"] != "SAE_B" || st["max_key_per_request"] != 8.0 || st["max_key_size"] != 2048.0 {
			t.Errorf("status %v", st)
		}
	})

	t.Run("GET enc_keys and GET dec_keys", func(t *testing.T) {
		code, obj := a.call("GET", "/api/v1/keys/SAE_B/enc_keys?number=2&size=512", nil)
		if code != 200 {
			t.Fatalf("status %d %v", code, obj)
		}
		enc := keys(t, obj, 2, 512)
		for id, key := range enc {
			code, obj := b.call("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID="+id, nil)
			if code != 200 {
				t.Fatalf("dec_keys: %d %v", code, obj)
			}
			if got := keys(t, obj, 1, 512); !bytes.Equal(got[id], key) {
				t.Fatal("dec_keys gave other bytes")
			}
			code, obj = b.call("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID="+id, nil)
			errorObject(t, code, 400, obj)
		}
	})

	t.Run("GET enc_keys defaults", func(t *testing.T) {
		_, st := a.call("GET", "/api/v1/keys/SAE_B/status", nil)
		size := int(st["key_size"].(float64))
		code, obj := a.call("GET", "/api/v1/keys/SAE_B/enc_keys", nil)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		keys(t, obj, 1, size)
	})

	t.Run("POST enc_keys and POST dec_keys with an additional slave", func(t *testing.T) {
		code, obj := a.call("POST", "/api/v1/keys/SAE_B/enc_keys", map[string]any{"number": 3, "size": 256, "additional_slave_SAE_IDs": []string{"SAE_C"}})
		if code != 200 {
			t.Fatalf("status %d %v", code, obj)
		}
		enc := keys(t, obj, 3, 256)
		var ids []map[string]string
		for id := range enc {
			ids = append(ids, map[string]string{"key_ID": id})
		}
		for _, cl := range []*etsiClient{b, cSAE} {
			code, obj := cl.call("POST", "/api/v1/keys/SAE_A/dec_keys", map[string]any{"key_IDs": ids})
			if code != 200 {
				t.Fatalf("dec_keys: %d %v", code, obj)
			}
			for id, key := range keys(t, obj, 3, 256) {
				if !bytes.Equal(enc[id], key) {
					t.Fatal("dec_keys gave other bytes")
				}
			}
		}
	})

	t.Run("another SAE cannot fetch a key", func(t *testing.T) {
		_, obj := a.call("POST", "/api/v1/keys/SAE_B/enc_keys", map[string]any{"number": 1, "size": 256})
		var id string
		for k := range keys(t, obj, 1, 256) {
			id = k
		}
		code, obj := cSAE.call("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID="+id, nil)
		errorObject(t, code, 400, obj)
		code, obj = b.call("GET", "/api/v1/keys/SAE_A/dec_keys?key_ID="+id, nil)
		if code != 200 {
			t.Fatalf("the right slave after a wrong SAE: %d %v", code, obj)
		}
	})

	t.Run("400 on bad parameters", func(t *testing.T) {
		for _, q := range []string{"size=100", "size=4096", "number=9", "number=0", "number=x"} {
			code, obj := a.call("GET", "/api/v1/keys/SAE_B/enc_keys?"+q, nil)
			errorObject(t, code, 400, obj)
		}
		code, obj := a.call("POST", "/api/v1/keys/SAE_B/enc_keys", map[string]any{"number": 1, "size": 252})
		errorObject(t, code, 400, obj)
		code, obj = a.call("POST", "/api/v1/keys/SAE_B/enc_keys", map[string]any{"number": 1, "extension_mandatory": []any{map[string]any{"abc_route_type": "direct"}}})
		errorObject(t, code, 400, obj)
		code, obj = b.call("POST", "/api/v1/keys/SAE_A/dec_keys", map[string]any{"key_IDs": []any{}})
		errorObject(t, code, 400, obj)
	})

	t.Run("401 without a client certificate", func(t *testing.T) {
		anon := newETSIClient(t, pki, base, "")
		for _, p := range []string{"/api/v1/keys/SAE_B/status", "/api/v1/keys/SAE_B/enc_keys", "/api/v1/keys/SAE_A/dec_keys?key_ID=x"} {
			code, obj := anon.call("GET", p, nil)
			errorObject(t, code, 401, obj)
		}
	})

	t.Run("503 when no key is left", func(t *testing.T) {
		for i := 0; ; i++ {
			code, obj := a.call("GET", "/api/v1/keys/SAE_C/enc_keys?number=8&size=2048", nil)
			if code == 503 {
				errorObject(t, code, 503, obj)
				break
			}
			if code != 200 || i > 100 {
				t.Fatalf("status %d after %d requests (%v)", code, i, obj)
			}
		}
	})
}
