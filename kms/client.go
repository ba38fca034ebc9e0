package kms

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client is an ETSI GS QKD 014 client: one SAE talking to its key manager.
type Client struct {
	addr  string // host:port, for errors
	base  string // scheme://host:port
	http  *http.Client
	saeID string // sent in SAEIDHeader in plain HTTP only
}

// NewClient returns a client of the key manager at addr (host:port) over
// HTTPS with tlsConf (see ClientTLSConfig).
func NewClient(addr string, tlsConf *tls.Config) *Client {
	return &Client{
		addr: addr, base: "https://" + addr,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}},
	}
}

// NewInsecureClient returns a plain-HTTP client that names itself saeID in
// SAEIDHeader: only for the simulator's loopback demo mode.
func NewInsecureClient(addr, saeID string) *Client {
	return &Client{addr: addr, base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}, saeID: saeID}
}

// Addr returns the key manager's address.
func (c *Client) Addr() string { return c.addr }

// Status is GET /api/v1/keys/{slave}/status.
func (c *Client) Status(ctx context.Context, slave string) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/api/v1/keys/"+url.PathEscape(slave)+"/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// GetEncKeys asks for number keys of sizeBits bits shared with slave
// (POST .../enc_keys); additional slaves may fetch them too.
func (c *Client) GetEncKeys(ctx context.Context, slave string, number, sizeBits int, additionalSlaves ...string) ([]Key, error) {
	var kc KeyContainer
	req := KeyRequest{Number: number, Size: sizeBits, AdditionalSlaveSAEIDs: additionalSlaves}
	if err := c.do(ctx, http.MethodPost, "/api/v1/keys/"+url.PathEscape(slave)+"/enc_keys", req, &kc); err != nil {
		return nil, err
	}
	if len(kc.Keys) != number {
		return nil, fmt.Errorf("QKD key manager at %s: %w: %d keys asked, %d received", c.addr, ErrUnavailable, number, len(kc.Keys))
	}
	for _, k := range kc.Keys {
		if len(k.Key)*8 != sizeBits || k.KeyID == "" {
			return nil, fmt.Errorf("QKD key manager at %s: %w: a key of %d bits (ID %q), %d asked", c.addr, ErrUnavailable, len(k.Key)*8, k.KeyID, sizeBits)
		}
	}
	return kc.Keys, nil
}

// GetDecKeys fetches the keys with these IDs that master obtained for us
// (POST .../dec_keys). Keys come back in the order of ids.
func (c *Client) GetDecKeys(ctx context.Context, master string, ids []string) ([]Key, error) {
	req := KeyIDs{KeyIDs: make([]KeyID, len(ids))}
	for i, id := range ids {
		req.KeyIDs[i].KeyID = id
	}
	var kc KeyContainer
	if err := c.do(ctx, http.MethodPost, "/api/v1/keys/"+url.PathEscape(master)+"/dec_keys", req, &kc); err != nil {
		return nil, err
	}
	byID := make(map[string][]byte, len(kc.Keys))
	for _, k := range kc.Keys {
		byID[k.KeyID] = k.Key
	}
	out := make([]Key, len(ids))
	for i, id := range ids {
		k, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("QKD key manager at %s: %w: key %s missing from the answer", c.addr, ErrUnavailable, id)
		}
		out[i] = Key{KeyID: id, Key: k}
	}
	return out, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("QKD key manager at %s: %w", c.addr, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.saeID != "" {
		req.Header.Set(SAEIDHeader, c.saeID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("QKD key manager at %s: %w: %w", c.addr, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("QKD key manager at %s: %w: %w", c.addr, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return &APIError{Addr: c.addr, Code: resp.StatusCode, Message: e.Message, Details: e.Details}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("QKD key manager at %s: %w: answer is not ETSI GS QKD 014 JSON: %v (status %s)", c.addr, ErrUnavailable, err, strconv.Itoa(resp.StatusCode))
	}
	return nil
}
