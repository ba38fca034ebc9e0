package transport

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStaticKeyCreatedThenLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	k1, err := LoadOrCreateStaticKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateStaticKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Private, k2.Private) || !bytes.Equal(k1.Public, k2.Public) {
		t.Fatal("second load returned a different key")
	}
	priv, err := ecdh.X25519().NewPrivateKey(k1.Private)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), k1.Public) {
		t.Fatal("public key does not match the private key")
	}
	other, err := LoadOrCreateStaticKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Private, k1.Private) {
		t.Fatal("two new keys are equal")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the key (temporary file left behind?)", len(entries))
	}
}

func TestStaticKeyRefusesReadableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	if _, err := LoadOrCreateStaticKey(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateStaticKey(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: err = %v, want a refusal that says chmod 600", mode, err)
		}
	}
}

func TestStaticKeyRefusesMalformedFile(t *testing.T) {
	good := hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cases := map[string]string{
		"empty":          "",
		"no label":       good + "\n",
		"wrong label":    "ssh-ed25519\n" + good + "\n",
		"short key":      staticKeyLabel + "\n" + good[:62] + "\n",
		"not hex":        staticKeyLabel + "\n" + strings.Repeat("zz", 32) + "\n",
		"extra line":     staticKeyLabel + "\n" + good + "\n" + good + "\n",
		"binary garbage": "\x00\x01\x02",
	}
	for name, content := range cases {
		path := filepath.Join(t.TempDir(), "node.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateStaticKey(path)
		if err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: err = %v, want a malformed-file error", name, err)
		}
		if got, _ := os.ReadFile(path); string(got) != content {
			t.Errorf("%s: the malformed file was changed", name)
		}
	}
	path := filepath.Join(t.TempDir(), "node.key")
	if err := os.WriteFile(path, []byte(staticKeyLabel+"\n"+good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateStaticKey(path); err != nil {
		t.Fatalf("a well-formed hand-written file is refused: %v", err)
	}
}

func TestStaticKeyMissingFolderIsAnError(t *testing.T) {
	if _, err := LoadOrCreateStaticKey(filepath.Join(t.TempDir(), "missing", "node.key")); err == nil {
		t.Fatal("no error for a key in a folder that does not exist")
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256 of 32 zero bytes starts 66687aadf862bd77.
	if got := Fingerprint(make([]byte, 32)); got != "66687aadf862bd77" {
		t.Fatalf("Fingerprint(zero key) = %q", got)
	}
	a, b := newKey(t), newKey(t)
	if Fingerprint(a.Public) == Fingerprint(b.Public) {
		t.Fatal("two keys have the same fingerprint")
	}
	if len(Fingerprint(a.Public)) != 16 {
		t.Fatalf("fingerprint %q is not 16 characters", Fingerprint(a.Public))
	}
}

func TestLoadPSKFormats(t *testing.T) {
	want := bytes.Repeat([]byte{0xAB, 0x01}, 16)
	h := hex.EncodeToString(want)
	accepted := map[string]string{
		"openssl output":      h + "\n",
		"no newline":          h,
		"surrounding spaces":  "  \n\t" + h + " \r\n\n",
		"upper case":          strings.ToUpper(h) + "\n",
		"swarm key":           "/key/swarm/psk/1.0.0/\n/base16/\n" + h + "\n",
		"swarm key with CRLF": "/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + h + "\r\n",
	}
	for name, content := range accepted {
		path := filepath.Join(t.TempDir(), "psk")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := LoadPSK(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: key %x, want %x", name, got, want)
		}
	}
	refused := map[string]string{
		"empty":             "",
		"63 digits":         h[:63],
		"65 digits":         h + "a",
		"not hex":           strings.Repeat("g", 64),
		"two keys":          h + "\n" + h + "\n",
		"base64 swarm key":  "/key/swarm/psk/1.0.0/\n/base64/\n" + h + "\n",
		"bad swarm header":  "/key/swarm/psk/2.0.0/\n/base16/\n" + h + "\n",
		"raw 32 bytes":      string(want),
		"hex inside a line": "key=" + h,
	}
	for name, content := range refused {
		path := filepath.Join(t.TempDir(), "psk")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPSK(path)
		if err == nil || !strings.Contains(err.Error(), "expected 64 hex digits") {
			t.Errorf("%s: err = %v, want one that says what is expected", name, err)
		}
	}
	if _, err := LoadPSK(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestWritePSK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "psk")
	if err := WritePSK(path); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(content) != 65 || content[64] != '\n' {
		t.Fatalf("file is %q, want 64 hex digits and a newline", content)
	}
	if _, err := hex.DecodeString(string(content[:64])); err != nil {
		t.Fatalf("not hex: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	psk, err := LoadPSK(path)
	if err != nil || len(psk) != PSKSize {
		t.Fatalf("LoadPSK of a written key: %x, %v", psk, err)
	}
	err = WritePSK(path)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second WritePSK: %v, want a refusal", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Fatal("the existing key was overwritten")
	}
	other := filepath.Join(t.TempDir(), "psk")
	if err := WritePSK(other); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(other); bytes.Equal(second, content) {
		t.Fatal("two generated keys are equal")
	}
}
