// Package kms speaks ETSI GS QKD 014 v1.1.1: a client for QKD key managers and
// a simulator of a linked pair of key managers for machines without QKD hardware.
package kms

import (
	"errors"
	"fmt"
)

// The JSON objects of ETSI GS QKD 014 v1.1.1, section 6, with the standard's
// field names. Extension fields are carried so that nothing a real key
// manager sends is lost, but Qasmat uses none.

// Status is the answer of GET /api/v1/keys/{slave_SAE_ID}/status (6.1).
type Status struct {
	SourceKMEID      string `json:"source_KME_ID"`
	TargetKMEID      string `json:"target_KME_ID"`
	MasterSAEID      string `json:"master_SAE_ID"`
	SlaveSAEID       string `json:"slave_SAE_ID"`
	KeySize          int    `json:"key_size"`
	StoredKeyCount   int    `json:"stored_key_count"`
	MaxKeyCount      int    `json:"max_key_count"`
	MaxKeyPerRequest int    `json:"max_key_per_request"`
	MaxKeySize       int    `json:"max_key_size"`
	MinKeySize       int    `json:"min_key_size"`
	MaxSAEIDCount    int    `json:"max_SAE_ID_count"`
	StatusExtension  any    `json:"status_extension,omitempty"`
}

// KeyRequest is the body of POST .../enc_keys (6.2).
type KeyRequest struct {
	Number                int      `json:"number,omitempty"`
	Size                  int      `json:"size,omitempty"`
	AdditionalSlaveSAEIDs []string `json:"additional_slave_SAE_IDs,omitempty"`
	ExtensionMandatory    []any    `json:"extension_mandatory,omitempty"`
	ExtensionOptional     []any    `json:"extension_optional,omitempty"`
}

// KeyIDs is the body of POST .../dec_keys (6.4).
type KeyIDs struct {
	KeyIDs          []KeyID `json:"key_IDs"`
	KeyIDsExtension any     `json:"key_IDs_extension,omitempty"`
}

// KeyID names one key in a KeyIDs request.
type KeyID struct {
	KeyID          string `json:"key_ID"`
	KeyIDExtension any    `json:"key_ID_extension,omitempty"`
}

// KeyContainer is the answer of enc_keys and dec_keys (6.3).
type KeyContainer struct {
	Keys                  []Key `json:"keys"`
	KeyContainerExtension any   `json:"key_container_extension,omitempty"`
}

// Key is one key: a UUID and the key bytes (base64 in JSON, as the
// standard says; encoding/json does that for []byte).
type Key struct {
	KeyID          string `json:"key_ID"`
	KeyIDExtension any    `json:"key_ID_extension,omitempty"`
	Key            []byte `json:"key"`
	KeyExtension   any    `json:"key_extension,omitempty"`
}

// Error is the standard's error body (6.5), sent with 400, 401 and 503.
type Error struct {
	Message string           `json:"message"`
	Details []map[string]any `json:"details,omitempty"`
}

// SAEIDHeader carries the caller's SAE ID in the simulator's plain-HTTP mode
// (loopback demos only); over HTTPS the SAE ID is the client certificate's CN.
const SAEIDHeader = "X-Qasmat-SAE-ID"

// Sentinel errors callers branch on; APIError and the client's transport
// errors wrap them (test with errors.Is).
var (
	// ErrKeyPoolEmpty: the key manager answered 503, no key available now.
	ErrKeyPoolEmpty = errors.New("key pool empty")
	// ErrUnauthorized: 401, the key manager does not know who we are.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBadRequest: 400, a bad parameter or a key ID unknown to us.
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: the key manager could not be reached or answered
	// something that is not ETSI GS QKD 014.
	ErrUnavailable = errors.New("key manager unavailable")
)

// APIError is an error answer of a key manager.
type APIError struct {
	Addr    string // the key manager, host:port
	Code    int    // HTTP status
	Message string // the standard's "message"
	Details []map[string]any
}

func (e *APIError) Error() string {
	return fmt.Sprintf("QKD key manager at %s: %d %s", e.Addr, e.Code, e.Message)
}

// Is maps the status code to the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrKeyPoolEmpty:
		return e.Code == 503
	case ErrUnauthorized:
		return e.Code == 401
	case ErrBadRequest:
		return e.Code == 400
	}
	return false
}
