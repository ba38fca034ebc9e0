package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addSeeds adds the example configurations and a few odd inputs.
func addSeeds(f *testing.F) {
	for _, name := range []string{"proxy.json", "proxy-private.json", "storage.json", "storage-local.json"} {
		data, err := os.ReadFile(filepath.Join(examples, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{}`, ``, `[`, `{"web_configuration": {"bind_port": {"bind_port": "Auto"}}}`,
		`{"network_security_configuration": {"encryption_and_kms": ["AES", {"address": "k", "port": 1, "peer_sae_ids": {"a": "b"}}]}}`,
		`{"time_keeper_configuration": {"checking_interval": 1e-9, "expiry_duration": {"secs": 9223372036, "nanos": 854775807}}}`,
		`{"proxy_reconnection_interval": 1e300}`,
		`{"discovery_mode": {"Remote": {"proxy_address": "::1", "proxy_port": 1}}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzParseProxy: no input panics; an error is always a *Error; whatever
// parses is valid and survives MarshalJSON and a second parse unchanged.
func FuzzParseProxy(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "proxy.json", ParseProxy, data) })
}

// FuzzParseStorage is FuzzParseProxy for the storage server's file.
func FuzzParseStorage(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, "storage.json", ParseStorage, data) })
}

// checkParse is the property both fuzz targets check for one input.
func checkParse[C interface{ Validate() error }](t *testing.T, name string, parse func(string, []byte) (C, error), data []byte) {
	c, err := parse(name, data)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("error %v is not a *Error", err)
		}
		return
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("parsed but invalid: %v", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	back, err := parse(name, b)
	if err != nil {
		t.Fatalf("%s does not parse back: %v", b, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, back, c)
	}
}
