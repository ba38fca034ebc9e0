package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

// proxySettings are the resolved values main needs from a proxy config.
type proxySettings struct {
	peerPort       int
	webPort        int
	bindAddress    string
	origins        []string
	trustedProxies []netip.Prefix
	maxFileSize    int64
	pskPath        string
	clientConfig   string
	checking       time.Duration
	renewal        time.Duration
	expiry         time.Duration
}

type storageSettings struct {
	proxyAddress string
	proxyPort    int
	pskPath      string
	location     string
	reconnect    time.Duration
}

type durationJSON struct {
	Secs  int64 `json:"secs"`
	Nanos int64 `json:"nanos"`
}

func (d *durationJSON) value() time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(d.Secs)*time.Second + time.Duration(d.Nanos)
}

type netsecJSON struct {
	NetworkSecurity json.RawMessage `json:"network_security"`
}

func (n netsecJSON) psk() (string, error) {
	if len(n.NetworkSecurity) == 0 || string(n.NetworkSecurity) == `"Public"` {
		return "", nil
	}
	var p struct {
		Private struct {
			Path string `json:"path_to_preshared_key"`
		} `json:"Private"`
	}
	if err := json.Unmarshal(n.NetworkSecurity, &p); err != nil || p.Private.Path == "" {
		return "", fmt.Errorf("network_security: expected \"Public\" or {\"Private\": {\"path_to_preshared_key\": \"...\"}}")
	}
	return p.Private.Path, nil
}

func loadProxyConfig(path string) (proxySettings, error) {
	s := proxySettings{peerPort: 49999, webPort: 3000, bindAddress: "0.0.0.0", origins: []string{"*"}}
	if path == "" {
		return s, nil
	}
	var raw struct {
		Discovery json.RawMessage `json:"discovery_mode"`
		NetSec    netsecJSON      `json:"network_security_configuration"`
		Web       struct {
			BindPort       json.RawMessage `json:"bind_port"`
			BindAddress    string          `json:"bind_address"`
			MaxFileSize    int64           `json:"max_file_size"`
			Origins        []string        `json:"allowed_cors_origins"`
			TrustedProxies []string        `json:"trusted_proxies"`
			ClientConfig   string          `json:"client_config"`
		} `json:"web_configuration"`
		TimeKeeper struct {
			Checking *durationJSON `json:"checking_interval"`
			Renewal  *durationJSON `json:"renewal_duration"`
			Expiry   *durationJSON `json:"expiry_duration"`
		} `json:"time_keeper_configuration"`
	}
	if err := readJSON(path, &raw); err != nil {
		return s, err
	}
	var disc struct {
		Remote struct {
			Port int `json:"proxy_port"`
		} `json:"Remote"`
	}
	if len(raw.Discovery) > 0 && string(raw.Discovery) != `"Local"` {
		if err := json.Unmarshal(raw.Discovery, &disc); err == nil && disc.Remote.Port > 0 {
			s.peerPort = disc.Remote.Port
		}
	}
	if len(raw.Web.BindPort) > 0 && string(raw.Web.BindPort) != `"Auto"` {
		var bp struct {
			Fixed    int `json:"Fixed"`
			BindPort struct {
				Fixed int `json:"Fixed"`
			} `json:"bind_port"`
		}
		if err := json.Unmarshal(raw.Web.BindPort, &bp); err != nil {
			return s, fmt.Errorf("%s: web_configuration.bind_port: %v", path, err)
		}
		s.webPort = max(bp.Fixed, bp.BindPort.Fixed)
	} else if string(raw.Web.BindPort) == `"Auto"` {
		s.webPort = 0
	}
	if raw.Web.BindAddress != "" {
		s.bindAddress = raw.Web.BindAddress
	}
	if raw.Web.MaxFileSize > 0 {
		s.maxFileSize = raw.Web.MaxFileSize
	}
	if raw.Web.Origins != nil {
		s.origins = raw.Web.Origins
	}
	for _, tp := range raw.Web.TrustedProxies {
		p, err := netip.ParsePrefix(tp)
		if err != nil {
			a, aerr := netip.ParseAddr(tp)
			if aerr != nil {
				return s, fmt.Errorf("%s: web_configuration.trusted_proxies: %q is not an IP or CIDR", path, tp)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		s.trustedProxies = append(s.trustedProxies, p)
	}
	s.clientConfig = raw.Web.ClientConfig
	var err error
	if s.pskPath, err = raw.NetSec.psk(); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	s.checking, s.renewal, s.expiry = raw.TimeKeeper.Checking.value(), raw.TimeKeeper.Renewal.value(), raw.TimeKeeper.Expiry.value()
	return s, nil
}

func loadStorageConfig(path string) (storageSettings, error) {
	s := storageSettings{proxyPort: 49999, reconnect: 30 * time.Second}
	if path == "" {
		return s, nil
	}
	var raw struct {
		Discovery struct {
			Remote struct {
				Address string `json:"proxy_address"`
				Port    int    `json:"proxy_port"`
			} `json:"Remote"`
		} `json:"discovery_mode"`
		NetSec    netsecJSON `json:"network_security_configuration"`
		Reconnect *int64     `json:"proxy_reconnection_interval"`
		Location  string     `json:"location"`
	}
	if err := readJSON(path, &raw); err != nil {
		return s, err
	}
	s.proxyAddress = raw.Discovery.Remote.Address
	if raw.Discovery.Remote.Port > 0 {
		s.proxyPort = raw.Discovery.Remote.Port
	}
	if raw.Reconnect != nil {
		s.reconnect = time.Duration(*raw.Reconnect) * time.Second
	}
	s.location = raw.Location
	var err error
	if s.pskPath, err = raw.NetSec.psk(); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readJSON(path string, v any) error {
	b, err := readSmallFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
