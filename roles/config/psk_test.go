package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPresharedKey(t *testing.T) {
	const hexKey = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
	dir := t.TempDir()
	for name, content := range map[string]string{
		"openssl":  hexKey + "\n",
		"bare":     hexKey,
		"libp2p":   "/key/swarm/psk/1.0.0/\n/base16/\n" + hexKey + "\n",
		"crlf":     "/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + hexKey + "\r\n",
		"trailing": "  " + hexKey + "  \n\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := ReadPresharedKey(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if key[0] != 0x00 || key[1] != 0x11 || key[31] != 0xff {
			t.Errorf("%s: key %x", name, key)
		}
	}
	secret := "deadbeef" + hexKey[8:62] // 62 digits: too short
	for name, content := range map[string]string{
		"short":   secret,
		"not hex": strings.Repeat("zz", 32),
		"two":     hexKey + "\n" + hexKey,
		"header":  "/key/swarm/psk/1.0.0/\n/base64/\n" + hexKey,
		"empty":   "",
	} {
		path := filepath.Join(dir, "bad")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadPresharedKey(path)
		if !errors.Is(err, ErrBadPresharedKey) {
			t.Errorf("%s: err = %v, want ErrBadPresharedKey", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "deadbeef") {
			t.Errorf("%s: the error shows key material: %v", name, err)
		}
	}
	if _, err := ReadPresharedKey(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
