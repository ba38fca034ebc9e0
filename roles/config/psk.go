package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PresharedKeySize is the size of the Noise pre-shared key.
const PresharedKeySize = 32

// ErrBadPresharedKey: the key file holds no valid key.
var ErrBadPresharedKey = errors.New("not a pre-shared key file: expected 64 hexadecimal digits (make one with `qasmat keygen -o FILE` or `openssl rand -hex 32`)")

// ReadPresharedKey reads the Private mode's key file: 64 hex digits (what
// `openssl rand -hex 32` and `qasmat keygen` write), or the three-line form
// of the later Qasmat deployments ("/key/swarm/psk/1.0.0/", "/base16/", then
// the 64 hex digits). The error never contains key material.
func ReadPresharedKey(path string) ([PresharedKeySize]byte, error) {
	var key [PresharedKeySize]byte
	data, err := os.ReadFile(path)
	if err != nil {
		return key, fmt.Errorf("pre-shared key: %w", err)
	}
	if err := ParsePresharedKey(data, &key); err != nil {
		return key, fmt.Errorf("pre-shared key %s: %w", path, err)
	}
	return key, nil
}

// ParsePresharedKey decodes the contents of a key file into key.
func ParsePresharedKey(data []byte, key *[PresharedKeySize]byte) error {
	lines := strings.Fields(string(data))
	if len(lines) == 3 && lines[0] == "/key/swarm/psk/1.0.0/" && lines[1] == "/base16/" {
		lines = lines[2:]
	}
	if len(lines) != 1 || len(lines[0]) != 2*PresharedKeySize {
		return ErrBadPresharedKey
	}
	if _, err := hex.Decode(key[:], []byte(lines[0])); err != nil {
		return ErrBadPresharedKey
	}
	return nil
}
