package transport

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flynn/noise"
)

// PSKSize is the length of a pre-shared key (the Noise spec mandates 256 bits).
const PSKSize = 32

// staticKeyLabel is the first line of a static key file, so that a key file
// is recognisable and a file of another kind is refused instead of misread.
const staticKeyLabel = "qasmat-noise-static-key-v1"

// maxKeyFileSize bounds what is read from a key file: a real one is under
// 200 bytes, and a huge file is certainly not a key.
const maxKeyFileSize = 4096

// swarmKeyHeader is the first two lines of the IPFS/libp2p swarm.key format,
// accepted by LoadPSK so that existing swarm keys can be reused.
var swarmKeyHeader = []string{"/key/swarm/psk/1.0.0/", "/base16/"}

// LoadOrCreateStaticKey returns the node's Curve25519 static Noise key kept
// in path, creating it (from crypto/rand, mode 0600) when the file does not
// exist. The file is two lines: "qasmat-noise-static-key-v1" and the private
// key in 64 hex digits. A malformed file, or one that group or others may
// read, is refused: the key is the node's identity (DESIGN.md invariant 6).
func LoadOrCreateStaticKey(path string) (noise.DHKey, error) {
	key, err := loadStaticKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = noise.DH25519.GenerateKeypair(rand.Reader)
	if err != nil {
		return noise.DHKey{}, fmt.Errorf("generate static key: %w", err)
	}
	content := staticKeyLabel + "\n" + hex.EncodeToString(key.Private) + "\n"
	switch err := writeNewFile(path, []byte(content)); {
	case errors.Is(err, fs.ErrExist):
		// Another process created it first: use theirs, so both agree.
		return loadStaticKey(path)
	case err != nil:
		return noise.DHKey{}, fmt.Errorf("create static key file: %w", err)
	}
	return key, nil
}

func loadStaticKey(path string) (noise.DHKey, error) {
	data, err := readSecretFile(path, true)
	if err != nil {
		return noise.DHKey{}, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	malformed := fmt.Errorf("static key file %s is malformed: expected two lines, %q and the private key in 64 hex digits (delete the file to make a new key, which changes this node's identity)", path, staticKeyLabel)
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != staticKeyLabel {
		return noise.DHKey{}, malformed
	}
	priv, err := decodeHex32(strings.TrimSpace(lines[1]))
	if err != nil {
		return noise.DHKey{}, malformed
	}
	pk, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return noise.DHKey{}, malformed
	}
	pub := pk.PublicKey().Bytes()
	if bytes.Equal(pub, make([]byte, 32)) {
		return noise.DHKey{}, malformed
	}
	return noise.DHKey{Private: priv, Public: pub}, nil
}

// Fingerprint is a short, human-readable name for a static public key: the
// first 8 bytes of its SHA-256 in lowercase hex (16 characters). It is for
// logs, the dashboard and mDNS records; trust decisions compare the full key.
func Fingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadPSK reads a 32-byte pre-shared key. Accepted formats: 64 hex digits
// (what `openssl rand -hex 32` and WritePSK write), surrounding whitespace
// allowed; or the three-line swarm key format "/key/swarm/psk/1.0.0/",
// "/base16/", 64 hex digits. The file's mode is not checked, because the
// documented `openssl rand -hex 32 > FILE` makes it world-readable under the
// usual umask; a caller may warn about that.
func LoadPSK(path string) ([]byte, error) {
	data, err := readSecretFile(path, false)
	if err != nil {
		return nil, err
	}
	psk, err := ParsePSK(data)
	if err != nil {
		return nil, fmt.Errorf("pre-shared key file %s: %w", path, err)
	}
	return psk, nil
}

// ParsePSK decodes the content of a pre-shared key file (formats in LoadPSK).
func ParsePSK(data []byte) ([]byte, error) {
	expected := errors.New("expected 64 hex digits (32 bytes, as written by `qasmat keygen` or `openssl rand -hex 32`), or the three lines /key/swarm/psk/1.0.0/, /base16/, 64 hex digits")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	switch {
	case len(lines) == 1:
	case len(lines) == 3 && lines[0] == swarmKeyHeader[0] && lines[1] == swarmKeyHeader[1]:
		lines = lines[2:]
	default:
		return nil, expected
	}
	psk, err := decodeHex32(lines[0])
	if err != nil {
		return nil, expected
	}
	return psk, nil
}

// WritePSK writes a new random pre-shared key to path as 64 hex digits and a
// newline, mode 0600. It refuses to overwrite an existing file, because
// replacing a key in use would lock every storage server out.
func WritePSK(path string) error {
	psk := make([]byte, PSKSize)
	if _, err := rand.Read(psk); err != nil {
		return fmt.Errorf("generate pre-shared key: %w", err)
	}
	err := writeNewFile(path, []byte(hex.EncodeToString(psk)+"\n"))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pre-shared key file %s already exists; remove it first to make a new key (every node must then get the new key)", path)
	}
	if err != nil {
		return fmt.Errorf("write pre-shared key: %w", err)
	}
	return nil
}

func decodeHex32(s string) ([]byte, error) {
	if len(s) != 64 {
		return nil, errors.New("not 64 hex digits")
	}
	return hex.DecodeString(s)
}

// readSecretFile reads a small key file; with ownerOnly it refuses a file
// that group or others may access.
func readSecretFile(path string, ownerOnly bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); ownerOnly && perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: others could read this node's private key; it must be readable by its owner only (chmod 600 %s)", path, perm, path)
	}
	if st.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s is %d bytes: too large to be a key", path, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s is too large to be a key", path)
	}
	return data, nil
}

// writeNewFile creates path with content, mode 0600, atomically: it writes
// a temporary file in the same folder, syncs it and links it into place, so
// a crash never leaves a half-written key. fs.ErrExist if path exists.
func writeNewFile(path string, content []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmpName, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
