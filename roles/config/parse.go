package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LoadProxy reads the proxy's configuration file; an empty path gives the
// defaults.
func LoadProxy(path string) (ProxyConfig, error) {
	if path == "" {
		return DefaultProxy(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ProxyConfig{}, &Error{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", unwrapPath(err))}
	}
	return ParseProxy(path, data)
}

// LoadStorage reads a storage server's configuration file; an empty path
// gives the defaults.
func LoadStorage(path string) (StorageConfig, error) {
	if path == "" {
		return DefaultStorage(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return StorageConfig{}, &Error{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", unwrapPath(err))}
	}
	return ParseStorage(path, data)
}

// unwrapPath drops the *PathError wrapper: the file is already named.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParseProxy parses the proxy's configuration. name is the file's name, used
// in error messages and as the base of relative paths.
func ParseProxy(name string, data []byte) (ProxyConfig, error) {
	p := parser{file: name, dir: baseDir(name)}
	root, err := p.document(data)
	if err != nil {
		return ProxyConfig{}, err
	}
	c := DefaultProxy()
	fields, err := p.object(root, "", "discovery_mode", "network_security_configuration", "web_configuration", "time_keeper_configuration")
	if err != nil {
		return ProxyConfig{}, err
	}
	if v := fields["discovery_mode"]; v != nil {
		if c.Discovery, c.PeerPort, err = p.proxyDiscovery(v); err != nil {
			return ProxyConfig{}, err
		}
	}
	if v := fields["network_security_configuration"]; v != nil {
		if c.Network, err = p.network(v); err != nil {
			return ProxyConfig{}, err
		}
	}
	if v := fields["web_configuration"]; v != nil {
		if err := p.web(v, &c.Web); err != nil {
			return ProxyConfig{}, err
		}
	}
	if v := fields["time_keeper_configuration"]; v != nil {
		if err := p.timeKeeper(v, &c.TimeKeeper); err != nil {
			return ProxyConfig{}, err
		}
	}
	return c, p.validated(c.Validate())
}

// ParseStorage parses a storage server's configuration; see ParseProxy.
func ParseStorage(name string, data []byte) (StorageConfig, error) {
	p := parser{file: name, dir: baseDir(name)}
	root, err := p.document(data)
	if err != nil {
		return StorageConfig{}, err
	}
	c := DefaultStorage()
	fields, err := p.object(root, "", "discovery_mode", "network_security_configuration", "proxy_reconnection_interval", "location")
	if err != nil {
		return StorageConfig{}, err
	}
	if v := fields["discovery_mode"]; v != nil {
		if err := p.storageDiscovery(v, &c); err != nil {
			return StorageConfig{}, err
		}
	}
	if v := fields["network_security_configuration"]; v != nil {
		if c.Network, err = p.network(v); err != nil {
			return StorageConfig{}, err
		}
	}
	if v := fields["proxy_reconnection_interval"]; v != nil {
		if c.ReconnectionInterval, err = p.duration(v, "proxy_reconnection_interval"); err != nil {
			return StorageConfig{}, err
		}
	}
	if v := fields["location"]; v != nil {
		if c.Location, err = p.str(v, "location", "a location label"); err != nil {
			return StorageConfig{}, err
		}
	}
	return c, p.validated(c.Validate())
}

func baseDir(name string) string {
	if name == "" {
		return ""
	}
	return filepath.Dir(name)
}

// parser turns JSON values into configuration values, reporting mistakes
// with the file name and the JSON path.
type parser struct {
	file string
	dir  string // relative paths in the file are relative to this
}

func (p *parser) fail(path, format string, args ...any) error {
	return &Error{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// validated adds the file name to an error from Validate.
func (p *parser) validated(err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.File = p.file
	}
	return err
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks that v is an object whose fields are all in allowed, and
// returns them by name.
func (p *parser) object(v *value, path string, allowed ...string) (map[string]*value, error) {
	if v.kind != kindObject {
		what := "an object"
		if path == "" {
			what = "a JSON object at the top level"
		}
		return nil, p.fail(path, "expected %s, got %s", what, v.describe())
	}
	fields := make(map[string]*value, len(v.obj))
	for _, m := range v.obj {
		if !contains(allowed, m.key) {
			return nil, p.fail(join(path, m.key), "unknown field%s (expected one of: %s)", suggest(m.key, allowed), strings.Join(allowed, ", "))
		}
		fields[m.key] = m.val
	}
	return fields, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// variant reads an externally tagged enum: a bare string for a unit variant
// or an object with exactly one field for a variant with data (the form the
// spec uses: "Local" or {"Remote": {...}}).
func (v *value) variant() (tag string, data *value, ok bool) {
	switch {
	case v.kind == kindString:
		return v.str, nil, true
	case v.kind == kindObject && len(v.obj) == 1:
		return v.obj[0].key, v.obj[0].val, true
	}
	return "", nil, false
}

func (p *parser) proxyDiscovery(v *value) (Discovery, int, error) {
	const path = "discovery_mode"
	const want = `expected "Local" or {"Remote": {"proxy_port": N}}`
	tag, data, ok := v.variant()
	switch {
	case ok && tag == "Local" && data == nil:
		return DiscoveryLocal, DefaultPeerPort, nil
	case ok && tag == "Remote" && data != nil:
		f, err := p.object(data, path+".Remote", "proxy_port")
		if err != nil {
			return "", 0, err
		}
		port := DefaultPeerPort
		if pv := f["proxy_port"]; pv != nil {
			if port, err = p.port(pv, path+".Remote.proxy_port"); err != nil {
				return "", 0, err
			}
		}
		return DiscoveryRemote, port, nil
	}
	return "", 0, p.fail(path, "%s, got %s", want, v.describe())
}

func (p *parser) storageDiscovery(v *value, c *StorageConfig) error {
	const path = "discovery_mode"
	const want = `expected "Local" or {"Remote": {"proxy_address": "...", "proxy_port": N}}`
	tag, data, ok := v.variant()
	switch {
	case ok && tag == "Local" && data == nil:
		c.Discovery = DiscoveryLocal
		return nil
	case ok && tag == "Remote" && data != nil:
		f, err := p.object(data, path+".Remote", "proxy_address", "proxy_port")
		if err != nil {
			return err
		}
		av := f["proxy_address"]
		if av == nil {
			return p.fail(path+".Remote.proxy_address", "missing: the Remote mode needs the proxy's address")
		}
		if c.ProxyAddress, err = p.str(av, path+".Remote.proxy_address", "the proxy's host name or IP address"); err != nil {
			return err
		}
		if pv := f["proxy_port"]; pv != nil {
			if c.ProxyPort, err = p.port(pv, path+".Remote.proxy_port"); err != nil {
				return err
			}
		}
		c.Discovery = DiscoveryRemote
		return nil
	}
	return p.fail(path, "%s, got %s", want, v.describe())
}

func (p *parser) network(v *value) (Network, error) {
	const path = "network_security_configuration"
	var n Network
	f, err := p.object(v, path, "network_security", "encryption_and_kms")
	if err != nil {
		return n, err
	}
	if sv := f["network_security"]; sv != nil {
		spath := path + ".network_security"
		const want = `expected "Public" or {"Private": {"path_to_preshared_key": "..."}}`
		tag, data, ok := sv.variant()
		switch {
		case ok && tag == "Public" && data == nil:
		case ok && tag == "Private" && data != nil:
			pf, err := p.object(data, spath+".Private", "path_to_preshared_key")
			if err != nil {
				return n, err
			}
			kv := pf["path_to_preshared_key"]
			if kv == nil {
				return n, p.fail(spath+".Private.path_to_preshared_key", "missing: the Private mode needs the pre-shared key file (make one with `qasmat keygen -o FILE`)")
			}
			if n.PresharedKeyPath, err = p.filePath(kv, spath+".Private.path_to_preshared_key"); err != nil {
				return n, err
			}
		default:
			return n, p.fail(spath, "%s, got %s", want, sv.describe())
		}
	}
	if kv := f["encryption_and_kms"]; kv != nil && kv.kind != kindNull {
		if n.KMS, err = p.kms(kv, path+".encryption_and_kms"); err != nil {
			return n, err
		}
	}
	return n, nil
}

// kms reads ["AES" or "OTP", {"address": ..., "port": ...}]. The spec writes
// it ["AES", "address": ..., "port": ...], which is not JSON; the second
// element is an object instead. {"AES": {...}} is accepted as well.
func (p *parser) kms(v *value, path string) (*KMS, error) {
	const want = `expected ["AES" or "OTP", {"address": "...", "port": N}]`
	var mode string
	var obj *value
	switch {
	case v.kind == kindArray && len(v.arr) == 2 && v.arr[0].kind == kindString:
		mode, obj = v.arr[0].str, v.arr[1]
	case v.kind == kindObject && len(v.obj) == 1:
		mode, obj = v.obj[0].key, v.obj[0].val
	default:
		return nil, p.fail(path, "%s, got %s", want, v.describe())
	}
	if mode != string(KMSModeAES) && mode != string(KMSModeOTP) {
		return nil, p.fail(path, `expected the mode "AES" or "OTP", got %q`, mode)
	}
	opath := path + "[1]"
	if v.kind == kindObject {
		opath = path + "." + mode
	}
	f, err := p.object(obj, opath, "address", "port", "sae_id", "peer_sae_ids", "ca_certificate", "client_certificate", "client_key")
	if err != nil {
		return nil, err
	}
	k := &KMS{Mode: KMSMode(mode)}
	for _, req := range []string{"address", "port"} {
		if f[req] == nil {
			return nil, p.fail(join(opath, req), "missing: the key manager's %s is required", req)
		}
	}
	if k.Address, err = p.str(f["address"], opath+".address", "the key manager's host name or IP address"); err != nil {
		return nil, err
	}
	if k.Port, err = p.port(f["port"], opath+".port"); err != nil {
		return nil, err
	}
	if sv := f["sae_id"]; sv != nil {
		if k.SAEID, err = p.str(sv, opath+".sae_id", "this node's SAE ID"); err != nil {
			return nil, err
		}
	}
	if mv := f["peer_sae_ids"]; mv != nil {
		mpath := opath + ".peer_sae_ids"
		if mv.kind != kindObject {
			return nil, p.fail(mpath, `expected an object like {"storage-1": "SAE_S1"}, got %s`, mv.describe())
		}
		k.PeerSAEIDs = make(map[string]string, len(mv.obj))
		for _, m := range mv.obj {
			if k.PeerSAEIDs[m.key], err = p.str(m.val, join(mpath, m.key), "an SAE ID"); err != nil {
				return nil, err
			}
		}
	}
	for _, fp := range []struct {
		key string
		dst *string
	}{{"ca_certificate", &k.CACertificate}, {"client_certificate", &k.ClientCertificate}, {"client_key", &k.ClientKey}} {
		if fv := f[fp.key]; fv != nil {
			if *fp.dst, err = p.filePath(fv, join(opath, fp.key)); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

func (p *parser) web(v *value, w *Web) error {
	const path = "web_configuration"
	f, err := p.object(v, path, "bind_port", "bind_address", "max_file_size", "allowed_cors_origins", "trusted_proxies", "client_config")
	if err != nil {
		return err
	}
	if bv := f["bind_port"]; bv != nil {
		if w.BindPort, err = p.bindPort(bv, path+".bind_port", true); err != nil {
			return err
		}
	}
	if av := f["bind_address"]; av != nil {
		if w.BindAddress, err = p.str(av, path+".bind_address", "an IP address or host name to listen on"); err != nil {
			return err
		}
	}
	if mv := f["max_file_size"]; mv != nil {
		n, ok := mv.integer()
		if !ok || n <= 0 {
			return p.fail(path+".max_file_size", "expected a positive number of bytes, got %s", mv.describe())
		}
		w.MaxFileSize = n
	}
	if ov := f["allowed_cors_origins"]; ov != nil {
		if w.AllowedOrigins, err = p.strings(ov, path+".allowed_cors_origins", `["*"] or a list of origins`); err != nil {
			return err
		}
	}
	if tv := f["trusted_proxies"]; tv != nil {
		list, err := p.strings(tv, path+".trusted_proxies", "a list of IP addresses or CIDR ranges")
		if err != nil {
			return err
		}
		w.TrustedProxies = make([]netip.Prefix, 0, len(list))
		for i, s := range list {
			pfx, ok := parsePrefix(s)
			if !ok {
				return p.fail(fmt.Sprintf("%s.trusted_proxies[%d]", path, i), `expected an IP address or CIDR range like "10.0.0.0/8", got %q`, s)
			}
			w.TrustedProxies = append(w.TrustedProxies, pfx)
		}
	}
	if cv := f["client_config"]; cv != nil {
		if w.ClientConfig, err = p.filePath(cv, path+".client_config"); err != nil {
			return err
		}
	}
	return nil
}

// bindPort reads "Auto", {"Fixed": N} or, as the spec writes it,
// {"bind_port": {"Fixed": N}} / {"bind_port": "Auto"}. 0 means Auto.
func (p *parser) bindPort(v *value, path string, outer bool) (int, error) {
	const want = `expected "Auto", {"Fixed": N} or {"bind_port": {"Fixed": N}}`
	tag, data, ok := v.variant()
	switch {
	case ok && tag == "Auto" && data == nil:
		return 0, nil
	case ok && tag == "Fixed" && data != nil:
		return p.port(data, path+".Fixed")
	case ok && tag == "bind_port" && data != nil && outer:
		return p.bindPort(data, path+".bind_port", false)
	}
	return 0, p.fail(path, "%s, got %s", want, v.describe())
}

func (p *parser) timeKeeper(v *value, t *TimeKeeper) error {
	const path = "time_keeper_configuration"
	f, err := p.object(v, path, "checking_interval", "renewal_duration", "expiry_duration")
	if err != nil {
		return err
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"checking_interval", &t.CheckingInterval}, {"renewal_duration", &t.RenewalDuration}, {"expiry_duration", &t.ExpiryDuration}} {
		if dv := f[d.key]; dv != nil {
			if *d.dst, err = p.duration(dv, path+"."+d.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxSeconds keeps a duration within time.Duration.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// duration reads {"secs": N, "nanos": M} (the spec's form) or a plain
// number of seconds.
func (p *parser) duration(v *value, path string) (time.Duration, error) {
	const want = `expected {"secs": N, "nanos": M} or a number of seconds`
	switch v.kind {
	case kindNumber:
		r, ok := new(big.Rat).SetString(string(v.num))
		if !ok || r.Sign() < 0 {
			return 0, p.fail(path, "%s, got %s", want, v.describe())
		}
		r.Mul(r, big.NewRat(int64(time.Second), 1))
		ns, _ := r.Float64()
		if ns >= math.MaxInt64 {
			return 0, p.fail(path, "expected at most %d seconds, got %s", maxSeconds, v.describe())
		}
		return time.Duration(ns), nil
	case kindObject:
		f, err := p.object(v, path, "secs", "nanos")
		if err != nil {
			return 0, err
		}
		sv := f["secs"]
		if sv == nil {
			return 0, p.fail(path+".secs", "missing: %s", want)
		}
		secs, ok := sv.integer()
		if !ok || secs < 0 || secs > maxSeconds {
			return 0, p.fail(path+".secs", "expected a whole number of seconds from 0 to %d, got %s", maxSeconds, sv.describe())
		}
		var nanos int64
		if nv := f["nanos"]; nv != nil {
			if nanos, ok = nv.integer(); !ok || nanos < 0 || nanos > 999_999_999 {
				return 0, p.fail(path+".nanos", "expected a whole number of nanoseconds from 0 to 999999999, got %s", nv.describe())
			}
		}
		d := time.Duration(secs) * time.Second
		if d > math.MaxInt64-time.Duration(nanos) {
			return 0, p.fail(path, "expected at most %d seconds, got %d", maxSeconds, secs)
		}
		return d + time.Duration(nanos), nil
	}
	return 0, p.fail(path, "%s, got %s", want, v.describe())
}

func (p *parser) port(v *value, path string) (int, error) {
	n, ok := v.integer()
	if !ok || n < 1 || n > 65535 {
		return 0, p.fail(path, "expected a port number from 1 to 65535, got %s", v.describe())
	}
	return int(n), nil
}

func (p *parser) str(v *value, path, what string) (string, error) {
	if v.kind != kindString {
		return "", p.fail(path, "expected a string (%s), got %s", what, v.describe())
	}
	return v.str, nil
}

func (p *parser) strings(v *value, path, what string) ([]string, error) {
	if v.kind != kindArray {
		return nil, p.fail(path, "expected %s, got %s", what, v.describe())
	}
	out := make([]string, 0, len(v.arr))
	for i, e := range v.arr {
		s, err := p.str(e, fmt.Sprintf("%s[%d]", path, i), "an item of "+what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// filePath reads a non-empty path and resolves it against the directory of
// the configuration file, so that a configuration and its key files can move
// together.
func (p *parser) filePath(v *value, path string) (string, error) {
	s, err := p.str(v, path, "a file path")
	if err != nil {
		return "", err
	}
	if s == "" || strings.ContainsRune(s, 0) {
		return "", p.fail(path, "expected a file path, got %s", v.describe())
	}
	if !filepath.IsAbs(s) && p.dir != "" {
		s = filepath.Join(p.dir, s)
	}
	return s, nil
}

// parsePrefix accepts "10.0.0.0/8", "fd00::/8" or a single address.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// suggest proposes a known field close to an unknown one (a typo).
func suggest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := distance(strings.ToLower(key), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

// distance is the Levenshtein distance, capped for long inputs.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
