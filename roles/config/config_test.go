package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestDefaults(t *testing.T) {
	p := DefaultProxy()
	if p.Discovery != DiscoveryLocal || p.PeerPort != 49999 || p.Network.Private() || p.Network.KMS != nil {
		t.Fatalf("proxy defaults: %+v", p)
	}
	w := p.Web
	if w.Addr() != "0.0.0.0:3000" || w.MaxFileSize != 1_000_000_000 || !w.Public() || w.TrustedProxies != nil || w.ClientConfig != "" {
		t.Fatalf("web defaults: %+v", w)
	}
	if p.TimeKeeper != (TimeKeeper{day, 15 * day, 30 * day}) {
		t.Fatalf("time keeper defaults: %+v", p.TimeKeeper)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	s := DefaultStorage()
	if s.Discovery != DiscoveryLocal || s.ProxyPort != 49999 || s.ReconnectionInterval != 30*time.Second || s.Location != "" || s.Network.Private() {
		t.Fatalf("storage defaults: %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyObjectAndEmptyPathGiveDefaults(t *testing.T) {
	p, err := ParseProxy("proxy.json", []byte(" {}\n"))
	if err != nil || !reflect.DeepEqual(p, DefaultProxy()) {
		t.Fatalf("{} = %+v, %v", p, err)
	}
	if p, err := LoadProxy(""); err != nil || !reflect.DeepEqual(p, DefaultProxy()) {
		t.Fatalf("LoadProxy(\"\") = %+v, %v", p, err)
	}
	s, err := ParseStorage("storage.json", []byte("\xef\xbb\xbf{}")) // with a BOM
	if err != nil || !reflect.DeepEqual(s, DefaultStorage()) {
		t.Fatalf("{} = %+v, %v", s, err)
	}
	if s, err := LoadStorage(""); err != nil || !reflect.DeepEqual(s, DefaultStorage()) {
		t.Fatalf("LoadStorage(\"\") = %+v, %v", s, err)
	}
}

// TestSpecExamples feeds the spec's own examples, with its placeholders
// filled in (and the encryption_and_kms list written as valid JSON).
func TestSpecExamples(t *testing.T) {
	proxy := `{
	"discovery_mode":{"Remote": {"proxy_port": 4000}},
	"network_security_configuration":{
		"network_security":{"Private":{"path_to_preshared_key":"keys/psk.hex"}},
		"encryption_and_kms": ["OTP", {"address":"kms.local","port":8443}]
	},
	"web_configuration":{
		"bind_port":{"bind_port":{"Fixed":8080}},
		"bind_address":"127.0.0.1",
		"max_file_size": 2000,
        	"allowed_cors_origins": ["https://a.example", "http://localhost:5173"]
	},
	"time_keeper_configuration": {
		"checking_interval": {"secs":60,"nanos":0},
		"renewal_duration": {"secs":3600,"nanos":0},
		"expiry_duration":{"secs":7200,"nanos":500}
	}
}`
	p, err := ParseProxy("/etc/qasmat/proxy.json", []byte(proxy))
	if err != nil {
		t.Fatal(err)
	}
	want := ProxyConfig{
		Discovery: DiscoveryRemote, PeerPort: 4000,
		Network: Network{
			PresharedKeyPath: "/etc/qasmat/keys/psk.hex",
			KMS:              &KMS{Mode: KMSModeOTP, Address: "kms.local", Port: 8443},
		},
		Web: Web{
			BindAddress: "127.0.0.1", BindPort: 8080, MaxFileSize: 2000,
			AllowedOrigins: []string{"https://a.example", "http://localhost:5173"},
		},
		TimeKeeper: TimeKeeper{time.Minute, time.Hour, 2*time.Hour + 500},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("proxy:\n got %+v\nwant %+v", p, want)
	}
	if p.Web.Public() || !p.Network.Private() {
		t.Fatal("Public/Private accessors disagree with the file")
	}

	storage := `{
	"discovery_mode":{"Remote": {"proxy_address": "10.0.0.1", "proxy_port": 4000}},
	"network_security_configuration":{
		"network_security":"Public",
		"encryption_and_kms": ["AES", {"address":"10.0.0.9","port":443}]
	},
	"proxy_reconnection_interval": 5
}`
	s, err := ParseStorage("storage.json", []byte(storage))
	if err != nil {
		t.Fatal(err)
	}
	wantS := StorageConfig{
		Discovery: DiscoveryRemote, ProxyAddress: "10.0.0.1", ProxyPort: 4000,
		Network:              Network{KMS: &KMS{Mode: KMSModeAES, Address: "10.0.0.9", Port: 443}},
		ReconnectionInterval: 5 * time.Second,
	}
	if !reflect.DeepEqual(s, wantS) {
		t.Fatalf("storage:\n got %+v\nwant %+v", s, wantS)
	}
}

func TestBindPortForms(t *testing.T) {
	for form, want := range map[string]int{
		`{"bind_port": {"Fixed": 3001}}`: 3001,
		`{"Fixed": 3002}`:                3002,
		`"Auto"`:                         0,
		`{"bind_port": "Auto"}`:          0,
	} {
		p, err := ParseProxy("p.json", []byte(`{"web_configuration": {"bind_port": `+form+`}}`))
		if err != nil {
			t.Errorf("%s: %v", form, err)
			continue
		}
		if p.Web.BindPort != want {
			t.Errorf("%s: port %d, want %d", form, p.Web.BindPort, want)
		}
	}
	if p, _ := ParseProxy("p.json", []byte(`{"web_configuration": {"bind_port": "Auto"}}`)); p.Web.Addr() != "0.0.0.0:0" {
		t.Errorf("Auto listens on %s, want port 0", p.Web.Addr())
	}
}

func TestOtherAcceptedForms(t *testing.T) {
	// Durations as plain seconds, nanos optional, whole numbers in
	// exponent form, KMS as {"AES": {...}} with the optional fields.
	p, err := ParseProxy("/cfg/p.json", []byte(`{
		"discovery_mode": {"Remote": {}},
		"network_security_configuration": {"encryption_and_kms": {"AES": {
			"address": "kms", "port": 1, "sae_id": "proxy",
			"peer_sae_ids": {"s1": "SAE_S1"},
			"ca_certificate": "ca.pem", "client_certificate": "/pki/c.pem", "client_key": "/pki/c.key"}}},
		"web_configuration": {"max_file_size": 1e9, "trusted_proxies": ["192.168.1.7", "10.0.0.0/8", "fd00::/8"], "client_config": "client.json"},
		"time_keeper_configuration": {"checking_interval": 1.5, "renewal_duration": {"secs": 10}, "expiry_duration": 11}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Discovery != DiscoveryRemote || p.PeerPort != 49999 {
		t.Errorf("Remote without a port: %s %d", p.Discovery, p.PeerPort)
	}
	wantKMS := &KMS{Mode: KMSModeAES, Address: "kms", Port: 1, SAEID: "proxy", PeerSAEIDs: map[string]string{"s1": "SAE_S1"},
		CACertificate: "/cfg/ca.pem", ClientCertificate: "/pki/c.pem", ClientKey: "/pki/c.key"}
	if !reflect.DeepEqual(p.Network.KMS, wantKMS) {
		t.Errorf("KMS = %+v", p.Network.KMS)
	}
	if p.Web.MaxFileSize != 1e9 || p.Web.ClientConfig != "/cfg/client.json" {
		t.Errorf("web = %+v", p.Web)
	}
	wantTrusted := []netip.Prefix{netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	if !reflect.DeepEqual(p.Web.TrustedProxies, wantTrusted) {
		t.Errorf("trusted = %v", p.Web.TrustedProxies)
	}
	if p.TimeKeeper != (TimeKeeper{1500 * time.Millisecond, 10 * time.Second, 11 * time.Second}) {
		t.Errorf("time keeper = %+v", p.TimeKeeper)
	}
	s, err := ParseStorage("s.json", []byte(`{"proxy_reconnection_interval": {"secs": 2, "nanos": 500000000}, "network_security_configuration": {"encryption_and_kms": null}}`))
	if err != nil || s.ReconnectionInterval != 2500*time.Millisecond || s.Network.KMS != nil {
		t.Errorf("storage = %+v, %v", s, err)
	}
}

func TestTrustedPeer(t *testing.T) {
	w := DefaultProxy().Web
	if !w.TrustedPeer(netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("without trusted_proxies every peer may set the headers")
	}
	p, err := ParseProxy("p.json", []byte(`{"web_configuration": {"trusted_proxies": ["127.0.0.1", "10.1.0.0/16"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "::ffff:127.0.0.1": true, "10.1.200.3": true,
		"10.2.0.1": false, "127.0.0.2": false, "::1": false,
	} {
		if got := p.Web.TrustedPeer(netip.MustParseAddr(ip)); got != want {
			t.Errorf("TrustedPeer(%s) = %v, want %v", ip, got, want)
		}
	}
}

// TestErrors: each mistake stops parsing with the file, the JSON path of
// the field and what was expected.
func TestErrors(t *testing.T) {
	cases := []struct {
		storage bool
		json    string
		want    string // the whole message, or a prefix ending in "..."
	}{
		{false, `{"web_configuration": {"max_file_size": -5}}`,
			`proxy.json: web_configuration.max_file_size: expected a positive number of bytes, got -5`},
		{false, `{"web_configuration": {"max_file_size": 0}}`,
			`proxy.json: web_configuration.max_file_size: expected a positive number of bytes, got 0`},
		{false, `{"web_configuration": {"max_file_size": 1.5}}`,
			`proxy.json: web_configuration.max_file_size: expected a positive number of bytes, got 1.5`},
		{false, `{"web_configuration": {"max_file_size": "1GB"}}`,
			`proxy.json: web_configuration.max_file_size: expected a positive number of bytes, got "1GB"`},
		{false, `{"web_configuration": {"bind_prot": 3000}}`,
			`proxy.json: web_configuration.bind_prot: unknown field, did you mean "bind_port"? (expected one of: bind_port, bind_address, max_file_size, allowed_cors_origins, trusted_proxies, client_config)`},
		{false, `{"colour": 1}`,
			`proxy.json: colour: unknown field (expected one of: discovery_mode, network_security_configuration, web_configuration, time_keeper_configuration)`},
		{false, `{"web_configuration": {"bind_port": {"Fixed": 0}}}`,
			`proxy.json: web_configuration.bind_port.Fixed: expected a port number from 1 to 65535, got 0`},
		{false, `{"web_configuration": {"bind_port": {"bind_port": {"Fixed": 70000}}}}`,
			`proxy.json: web_configuration.bind_port.bind_port.Fixed: expected a port number from 1 to 65535, got 70000`},
		{false, `{"web_configuration": {"bind_port": 3000}}`,
			`proxy.json: web_configuration.bind_port: expected "Auto", {"Fixed": N} or {"bind_port": {"Fixed": N}}, got 3000`},
		{false, `{"web_configuration": {"bind_port": {"bind_port": {"bind_port": "Auto"}}}}`,
			`proxy.json: web_configuration.bind_port.bind_port: expected "Auto", {"Fixed": N} or {"bind_port": {"Fixed": N}}, got an object with "bind_port"`},
		{false, `{"web_configuration": {"bind_address": "0.0.0.0:3000"}}`,
			`proxy.json: web_configuration.bind_address: expected an IP address or a host name, got "0.0.0.0:3000" (the port goes in its own field)`},
		{false, `{"web_configuration": {"allowed_cors_origins": []}}`,
			`proxy.json: web_configuration.allowed_cors_origins: expected a non-empty list: ["*"] for a public instance, or the origins allowed, like ["https://qasmat.example.com"]`},
		{false, `{"web_configuration": {"allowed_cors_origins": ["https://a.example/"]}}`,
			`proxy.json: web_configuration.allowed_cors_origins[0]: expected "*" or an origin like "https://example.com" (scheme, host and optional port), got "https://a.example/": an origin has no path (not even a trailing /)`},
		{false, `{"web_configuration": {"allowed_cors_origins": ["*", "https://a.example"]}}`,
			`proxy.json: web_configuration.allowed_cors_origins[0]: expected "*" alone...`},
		{false, `{"web_configuration": {"allowed_cors_origins": ["https://a.example", 5]}}`,
			`proxy.json: web_configuration.allowed_cors_origins[1]: expected a string (an item of ["*"] or a list of origins), got 5`},
		{false, `{"web_configuration": {"allowed_cors_origins": ["ftp://a.example"]}}`,
			`proxy.json: web_configuration.allowed_cors_origins[0]: expected "*" or an origin like "https://example.com" (scheme, host and optional port), got "ftp://a.example": the scheme must be http or https`},
		{false, `{"web_configuration": {"trusted_proxies": ["10.0.0.0/33"]}}`,
			`proxy.json: web_configuration.trusted_proxies[0]: expected an IP address or CIDR range like "10.0.0.0/8", got "10.0.0.0/33"`},
		{false, `{"web_configuration": {"trusted_proxies": ["caddy"]}}`,
			`proxy.json: web_configuration.trusted_proxies[0]: expected an IP address or CIDR range like "10.0.0.0/8", got "caddy"`},
		{false, `{"web_configuration": {"trusted_proxies": []}}`,
			`proxy.json: web_configuration.trusted_proxies: expected at least one IP address or CIDR range...`},
		{false, `{"web_configuration": {"client_config": ""}}`,
			`proxy.json: web_configuration.client_config: expected a file path, got ""`},
		{false, `{"time_keeper_configuration": {"checking_interval": {"secs": 0, "nanos": 0}}}`,
			`proxy.json: time_keeper_configuration.checking_interval: expected a duration greater than zero, got 0s`},
		{false, `{"time_keeper_configuration": {"renewal_duration": {"secs": 2592000, "nanos": 0}}}`,
			`proxy.json: time_keeper_configuration.renewal_duration: expected a duration shorter than expiry_duration (30 days), got 30 days: files would expire before their renewal is due`},
		{false, `{"time_keeper_configuration": {"expiry_duration": {"secs": -1, "nanos": 0}}}`,
			`proxy.json: time_keeper_configuration.expiry_duration.secs: expected a whole number of seconds from 0 to 9223372036, got -1`},
		{false, `{"time_keeper_configuration": {"expiry_duration": {"secs": 1, "nanos": 1000000000}}}`,
			`proxy.json: time_keeper_configuration.expiry_duration.nanos: expected a whole number of nanoseconds from 0 to 999999999, got 1000000000`},
		{false, `{"time_keeper_configuration": {"expiry_duration": {"nanos": 5}}}`,
			`proxy.json: time_keeper_configuration.expiry_duration.secs: missing: expected {"secs": N, "nanos": M} or a number of seconds`},
		{false, `{"time_keeper_configuration": {"expiry_duration": "30d"}}`,
			`proxy.json: time_keeper_configuration.expiry_duration: expected {"secs": N, "nanos": M} or a number of seconds, got "30d"`},
		{false, `{"time_keeper_configuration": {"expiry_duration": {"secs": 1, "milis": 5}}}`,
			`proxy.json: time_keeper_configuration.expiry_duration.milis: unknown field (expected one of: secs, nanos)`},
		{false, `{"discovery_mode": "Remote"}`,
			`proxy.json: discovery_mode: expected "Local" or {"Remote": {"proxy_port": N}}, got "Remote"`},
		{false, `{"discovery_mode": {"Remote": {"proxy_port": 49999, "proxy_address": "x"}}}`,
			`proxy.json: discovery_mode.Remote.proxy_address: unknown field (expected one of: proxy_port)`},
		{false, `{"discovery_mode": {"Remote": {"proxy_port": 0}}}`,
			`proxy.json: discovery_mode.Remote.proxy_port: expected a port number from 1 to 65535, got 0`},
		{false, `{"network_security_configuration": {"network_security": "Private"}}`,
			`proxy.json: network_security_configuration.network_security: expected "Public" or {"Private": {"path_to_preshared_key": "..."}}, got "Private"`},
		{false, `{"network_security_configuration": {"network_security": {"Private": {}}}}`,
			"proxy.json: network_security_configuration.network_security.Private.path_to_preshared_key: missing: the Private mode needs the pre-shared key file (make one with `qasmat keygen -o FILE`)"},
		{false, `{"network_security_configuration": {"encryption_and_kms": ["RSA", {"address": "k", "port": 1}]}}`,
			`proxy.json: network_security_configuration.encryption_and_kms: expected the mode "AES" or "OTP", got "RSA"`},
		{false, `{"network_security_configuration": {"encryption_and_kms": ["AES", {"address": "k"}]}}`,
			`proxy.json: network_security_configuration.encryption_and_kms[1].port: missing: the key manager's port is required`},
		{false, `{"network_security_configuration": {"encryption_and_kms": ["AES", {"address": "k", "port": 1, "client_key": "k.pem"}]}}`,
			`proxy.json: network_security_configuration.encryption_and_kms: expected both client_certificate and client_key, or neither`},
		{false, `{"network_security_configuration": {"encryption_and_kms": ["AES", "address": "k", "port": 1]}}`,
			`proxy.json: line 1, column 75: invalid JSON: invalid character ':' after array element; write encryption_and_kms as ["AES", {"address": "...", "port": N}] (the spec's ["AES", "address": ...] is not JSON)`},
		{false, `{"web_configuration": {}, "web_configuration": {}}`,
			`proxy.json: line 1, column 27: field "web_configuration" appears twice in the same object`},
		{false, "{\n  \"web_configuration\": {\n    \"max_file_size\": 5,\n  }\n}",
			`proxy.json: line 4, column 3: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{false, `{"web_configuration": {"max_file_size": 5}`,
			`proxy.json: line 1, column 43: invalid JSON: the file ends in the middle of a value`},
		{false, `{} {}`, `proxy.json: line 1, column 4: unexpected text after the end of the JSON value`},
		{false, ``, `proxy.json: the file is empty (write {} to use every default)`},
		{false, `[]`, `proxy.json: expected a JSON object at the top level, got an empty list`},
		{false, strings.Repeat("[", 100) + strings.Repeat("]", 100), `proxy.json: line 1, column 34: nested more than 32 levels`},

		{true, `{"discovery_mode": {"Remote": {"proxy_port": 4000}}}`,
			`storage.json: discovery_mode.Remote.proxy_address: missing: the Remote mode needs the proxy's address`},
		{true, `{"discovery_mode": {"Remote": {"proxy_address": "proxy:49999"}}}`,
			`storage.json: discovery_mode.Remote.proxy_address: expected an IP address or a host name, got "proxy:49999" (the port goes in its own field)`},
		{true, `{"discovery_mode": {"Remote": {"proxy_address": ""}}}`,
			`storage.json: discovery_mode.Remote.proxy_address: expected an IP address or a host name, got ""`},
		{true, `{"discovery_mode": {"Remote": {"proxy_address": "p", "proxy_port": "49999"}}}`,
			`storage.json: discovery_mode.Remote.proxy_port: expected a port number from 1 to 65535, got "49999"`},
		{true, `{"proxy_reconnection_interval": 0}`,
			`storage.json: proxy_reconnection_interval: expected a duration greater than zero, got 0s`},
		{true, `{"proxy_reconnection_interval": -3}`,
			`storage.json: proxy_reconnection_interval: expected {"secs": N, "nanos": M} or a number of seconds, got -3`},
		{true, `{"location": 5}`,
			`storage.json: location: expected a string (a location label), got 5`},
		{true, `{"location": "a\nb"}`,
			`storage.json: location: expected printable text, got "a\nb"`},
		{true, `{"web_configuration": {}}`,
			`storage.json: web_configuration: unknown field (expected one of: discovery_mode, network_security_configuration, proxy_reconnection_interval, location)`},
		{true, `{"discovery_mode": null}`,
			`storage.json: discovery_mode: expected "Local" or {"Remote": {"proxy_address": "...", "proxy_port": N}}, got null`},
	}
	for _, c := range cases {
		var err error
		if c.storage {
			_, err = ParseStorage("storage.json", []byte(c.json))
		} else {
			_, err = ParseProxy("proxy.json", []byte(c.json))
		}
		if err == nil {
			t.Errorf("%s: no error, want %s", c.json, c.want)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v is not a *config.Error", c.json, err)
		}
		got := err.Error()
		if prefix, ok := strings.CutSuffix(c.want, "..."); ok {
			if !strings.HasPrefix(got, prefix) {
				t.Errorf("%s:\n got %s\nwant %s", c.json, got, c.want)
			}
		} else if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.json, got, c.want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.json")
	if err := os.WriteFile(path, []byte(`{"web_configuration": {"max_file_size": -5}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadProxy(path)
	if err == nil || err.Error() != path+": web_configuration.max_file_size: expected a positive number of bytes, got -5" {
		t.Fatalf("LoadProxy: %v", err)
	}
	_, err = LoadStorage(filepath.Join(dir, "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "missing.json: cannot read the configuration: no such file or directory") {
		t.Fatalf("LoadStorage of a missing file: %v", err)
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	p := DefaultProxy()
	p.TimeKeeper.RenewalDuration = 40 * day
	if err := p.Validate(); err == nil || !strings.HasPrefix(err.Error(), "time_keeper_configuration.renewal_duration: ") {
		t.Fatalf("renewal after expiry: %v", err)
	}
	s := DefaultStorage()
	s.Discovery = DiscoveryRemote
	if err := s.Validate(); err == nil || !strings.HasPrefix(err.Error(), "discovery_mode.Remote.proxy_address: ") {
		t.Fatalf("Remote without an address: %v", err)
	}
}

// TestMarshalRoundTrip: MarshalJSON writes the spec's format, and parsing
// it gives the same configuration back.
func TestMarshalRoundTrip(t *testing.T) {
	p, err := ParseProxy("p.json", []byte(`{
		"discovery_mode": {"Remote": {"proxy_port": 4000}},
		"network_security_configuration": {"network_security": {"Private": {"path_to_preshared_key": "/k"}},
			"encryption_and_kms": ["OTP", {"address": "kms", "port": 9, "sae_id": "me", "peer_sae_ids": {"a": "b"}}]},
		"web_configuration": {"bind_port": "Auto", "trusted_proxies": ["10.0.0.1", "10.0.0.0/8"], "client_config": "/c.json",
			"allowed_cors_origins": ["https://a.example:8443"]},
		"time_keeper_configuration": {"checking_interval": 0.25}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []ProxyConfig{DefaultProxy(), p} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProxy("p.json", b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, back, c)
		}
	}
	b, _ := json.Marshal(DefaultProxy())
	if !strings.Contains(string(b), `"bind_port":{"bind_port":{"Fixed":3000}}`) {
		t.Fatalf("bind_port not in the spec's form: %s", b)
	}

	s := DefaultStorage()
	s.Discovery, s.ProxyAddress, s.ProxyPort, s.Location = DiscoveryRemote, "proxy.lan", 5000, "attic"
	s.ReconnectionInterval = 1500 * time.Millisecond
	for _, c := range []StorageConfig{DefaultStorage(), s} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseStorage("s.json", b)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip of %s: %+v, %v", b, back, err)
		}
	}
	if b, _ := json.Marshal(DefaultStorage()); !strings.Contains(string(b), `"proxy_reconnection_interval":30`) {
		t.Fatalf("whole seconds not written as a number: %s", b)
	}
}
