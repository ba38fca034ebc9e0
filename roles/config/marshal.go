package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// MarshalJSON writes the configuration in the spec's format (bind_port
// nested as the spec shows it, durations as {"secs", "nanos"}), every field
// explicit; ParseProxy reads it back to the same value.
func (c ProxyConfig) MarshalJSON() ([]byte, error) {
	var discovery any = "Local"
	switch c.Discovery {
	case DiscoveryLocal:
		if c.PeerPort != DefaultPeerPort {
			return nil, fmt.Errorf("config: the Local discovery mode has no field for peer port %d", c.PeerPort)
		}
	case DiscoveryRemote:
		discovery = obj{{"Remote", obj{{"proxy_port", c.PeerPort}}}}
	default:
		return nil, fmt.Errorf("config: unknown discovery mode %q", c.Discovery)
	}
	var port any = "Auto"
	if c.Web.BindPort != 0 {
		port = obj{{"Fixed", c.Web.BindPort}}
	}
	web := obj{
		{"bind_port", obj{{"bind_port", port}}},
		{"bind_address", c.Web.BindAddress},
		{"max_file_size", c.Web.MaxFileSize},
		{"allowed_cors_origins", c.Web.AllowedOrigins},
	}
	if c.Web.TrustedProxies != nil {
		list := make([]string, len(c.Web.TrustedProxies))
		for i, p := range c.Web.TrustedProxies {
			list[i] = p.String()
		}
		web = append(web, kv{"trusted_proxies", list})
	}
	if c.Web.ClientConfig != "" {
		web = append(web, kv{"client_config", c.Web.ClientConfig})
	}
	return json.Marshal(obj{
		{"discovery_mode", discovery},
		{"network_security_configuration", c.Network.marshal()},
		{"web_configuration", web},
		{"time_keeper_configuration", obj{
			{"checking_interval", secsNanos(c.TimeKeeper.CheckingInterval)},
			{"renewal_duration", secsNanos(c.TimeKeeper.RenewalDuration)},
			{"expiry_duration", secsNanos(c.TimeKeeper.ExpiryDuration)},
		}},
	})
}

// MarshalJSON writes the configuration in the spec's format
// (proxy_reconnection_interval as a number of seconds when it is whole);
// ParseStorage reads it back to the same value.
func (c StorageConfig) MarshalJSON() ([]byte, error) {
	var discovery any = "Local"
	switch c.Discovery {
	case DiscoveryLocal:
		if c.ProxyAddress != "" || c.ProxyPort != DefaultPeerPort {
			return nil, fmt.Errorf("config: the Local discovery mode has no field for a proxy address or port")
		}
	case DiscoveryRemote:
		discovery = obj{{"Remote", obj{{"proxy_address", c.ProxyAddress}, {"proxy_port", c.ProxyPort}}}}
	default:
		return nil, fmt.Errorf("config: unknown discovery mode %q", c.Discovery)
	}
	var interval any = secsNanos(c.ReconnectionInterval)
	if c.ReconnectionInterval%time.Second == 0 {
		interval = int64(c.ReconnectionInterval / time.Second)
	}
	o := obj{
		{"discovery_mode", discovery},
		{"network_security_configuration", c.Network.marshal()},
		{"proxy_reconnection_interval", interval},
	}
	if c.Location != "" {
		o = append(o, kv{"location", c.Location})
	}
	return json.Marshal(o)
}

func (n Network) marshal() obj {
	var security any = "Public"
	if n.PresharedKeyPath != "" {
		security = obj{{"Private", obj{{"path_to_preshared_key", n.PresharedKeyPath}}}}
	}
	o := obj{{"network_security", security}}
	if k := n.KMS; k != nil {
		server := obj{{"address", k.Address}, {"port", k.Port}}
		if k.SAEID != "" {
			server = append(server, kv{"sae_id", k.SAEID})
		}
		if k.PeerSAEIDs != nil {
			server = append(server, kv{"peer_sae_ids", k.PeerSAEIDs})
		}
		for _, f := range []kv{{"ca_certificate", k.CACertificate}, {"client_certificate", k.ClientCertificate}, {"client_key", k.ClientKey}} {
			if f.value != "" {
				server = append(server, f)
			}
		}
		o = append(o, kv{"encryption_and_kms", []any{string(k.Mode), server}})
	}
	return o
}

func secsNanos(d time.Duration) obj {
	return obj{{"secs", int64(d / time.Second)}, {"nanos", int64(d % time.Second)}}
}

// obj is a JSON object that keeps its fields in order.
type obj []kv

type kv struct {
	key   string
	value any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
