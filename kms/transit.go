package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	//lint:ignore SA1019 a one-time Poly1305 MAC keyed from QKD material is exactly the information-theoretic use this package is for.
	"golang.org/x/crypto/poly1305"
)

// Mode is the transit protection keyed from QKD keys.
type Mode byte

const (
	// ModeAES: AES-256-GCM, one 256-bit QKD key per rotation period.
	ModeAES Mode = 1
	// ModeOTP: one-time pad as long as the payload plus a one-time Poly1305
	// MAC keyed by 256 further bits: information-theoretic secrecy and integrity.
	ModeOTP Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeAES:
		return "AES"
	case ModeOTP:
		return "OTP"
	}
	return fmt.Sprintf("mode(%d)", byte(m))
}

// Transit errors callers branch on.
var (
	// ErrKeyExhausted: no QKD key arrived within the wait; nothing was sent.
	ErrKeyExhausted = errors.New("QKD key exhausted")
	// ErrSealed: a sealed message is malformed, tampered with, or its keys
	// are not ours (already used, expired, or for another link).
	ErrSealed = errors.New("QKD-sealed message rejected")
)

// KeySource gives a sender fresh keys shared with one peer, and a receiver
// the same keys by ID. ETSILink is the implementation over ETSI GS QKD 014.
type KeySource interface {
	// NewKeys returns number fresh keys of sizeBits bits for the peer.
	NewKeys(ctx context.Context, number, sizeBits int) ([]Key, error)
	// KeysByID returns the keys the peer obtained, in the order of ids.
	KeysByID(ctx context.Context, ids []string) ([]Key, error)
}

// ETSILink is the key source of one link: NewKeys are enc_keys for the
// peer SAE, KeysByID are dec_keys from the peer SAE (the master).
type ETSILink struct {
	Client  *Client
	PeerSAE string
}

// NewKeys implements KeySource.
func (l ETSILink) NewKeys(ctx context.Context, number, sizeBits int) ([]Key, error) {
	return l.Client.GetEncKeys(ctx, l.PeerSAE, number, sizeBits)
}

// KeysByID implements KeySource.
func (l ETSILink) KeysByID(ctx context.Context, ids []string) ([]Key, error) {
	return l.Client.GetDecKeys(ctx, l.PeerSAE, ids)
}

// TransitOptions tunes a Sealer and an Opener. Zero values take the defaults.
type TransitOptions struct {
	// Link names the link in errors, e.g. "proxy→s2".
	Link string
	// Wait bounds how long Seal waits for key material when the pool is
	// empty (default 10 s); then ErrKeyExhausted.
	Wait time.Duration
	// AES rotation: a new 256-bit key after RotateBytes of payload
	// (default 16 MiB) or RotateAge (default 60 s), whichever comes first.
	RotateBytes int64
	RotateAge   time.Duration
	// OTPKeyBits is the size of the keys asked for in OTP mode (default
	// 65536, the simulator's max_key_size); MaxKeysPerRequest bounds one
	// request (default 128, the simulator's max_key_per_request).
	OTPKeyBits        int
	MaxKeysPerRequest int
	// KeyCache is how many AES keys an Opener keeps (default 64): a slave
	// fetches a key only once, and messages under it keep coming until the
	// sender rotates.
	KeyCache int
	Now      func() time.Time
}

func (o *TransitOptions) defaults() {
	if o.Wait == 0 {
		o.Wait = 10 * time.Second
	}
	if o.RotateBytes == 0 {
		o.RotateBytes = 16 << 20
	}
	if o.RotateAge == 0 {
		o.RotateAge = time.Minute
	}
	if o.OTPKeyBits == 0 {
		o.OTPKeyBits = 65536
	}
	if o.MaxKeysPerRequest == 0 {
		o.MaxKeysPerRequest = 128
	}
	if o.KeyCache == 0 {
		o.KeyCache = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Link == "" {
		o.Link = "(unnamed link)"
	}
}

// Sealed message layout (all integers big-endian):
//
//	[0]    format version 1
//	[1]    mode: 1 AES-256-GCM, 2 OTP+Poly1305
//	[2:4]  n, the number of key IDs
//	n ×    1-byte length, key ID (UTF-8, as the key manager gave it)
//	AES:   12-byte nonce (4 zero bytes, 8-byte counter), ciphertext, 16-byte GCM tag
//	OTP:   ciphertext (payload XOR pad), 16-byte Poly1305 tag
//
// The header (everything before the ciphertext) and the caller's aad are
// authenticated: GCM additional data = header || aad; Poly1305 over
// header || ciphertext || aad || 8-byte len(aad).
const (
	sealVersion = 1
	tagSize     = 16
	maxKeyIDs   = 65535
)

func appendHeader(dst []byte, mode Mode, ids []string) ([]byte, error) {
	if len(ids) > maxKeyIDs {
		return nil, fmt.Errorf("kms: %d key IDs in one message", len(ids))
	}
	dst = append(dst, sealVersion, byte(mode))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ids)))
	for _, id := range ids {
		if len(id) == 0 || len(id) > 255 {
			return nil, fmt.Errorf("kms: key ID of %d bytes", len(id))
		}
		dst = append(dst, byte(len(id)))
		dst = append(dst, id...)
	}
	return dst, nil
}

// parseHeader returns the mode, the key IDs and the header length.
func parseHeader(b []byte) (Mode, []string, int, error) {
	if len(b) < 4 || b[0] != sealVersion {
		return 0, nil, 0, fmt.Errorf("%w: unknown format", ErrSealed)
	}
	mode, n := Mode(b[1]), int(binary.BigEndian.Uint16(b[2:]))
	if n == 0 {
		return 0, nil, 0, fmt.Errorf("%w: no key ID", ErrSealed)
	}
	ids, off := make([]string, 0, n), 4
	for range n {
		if off >= len(b) || off+1+int(b[off]) > len(b) || b[off] == 0 {
			return 0, nil, 0, fmt.Errorf("%w: truncated key IDs", ErrSealed)
		}
		ids = append(ids, string(b[off+1:off+1+int(b[off])]))
		off += 1 + int(b[off])
	}
	return mode, ids, off, nil
}

// SealedMode returns the mode a sealed message names, so that a receiver
// configured for one mode can refuse the other (no downgrade).
func SealedMode(sealed []byte) (Mode, error) {
	mode, _, _, err := parseHeader(sealed)
	return mode, err
}

// Sealer protects the payloads sent on one link. Safe for concurrent use.
type Sealer struct {
	mode Mode
	src  KeySource
	o    TransitOptions

	mu      sync.Mutex
	aead    cipher.AEAD
	keyID   string
	counter uint64
	used    int64
	since   time.Time
}

// NewSealer returns the sending side of a link.
func NewSealer(mode Mode, src KeySource, o TransitOptions) (*Sealer, error) {
	if mode != ModeAES && mode != ModeOTP {
		return nil, fmt.Errorf("kms: unknown transit mode %v", mode)
	}
	o.defaults()
	if o.OTPKeyBits%8 != 0 || o.OTPKeyBits < 256 {
		return nil, fmt.Errorf("kms: OTP key size %d bits: a multiple of 8, at least 256", o.OTPKeyBits)
	}
	return &Sealer{mode: mode, src: src, o: o}, nil
}

// newKeys asks the source, retrying an empty pool until o.Wait has passed;
// any other failure (key manager down, refusal) is returned at once.
func (s *Sealer) newKeys(ctx context.Context, number, sizeBits int) ([]Key, error) {
	deadline := s.o.Now().Add(s.o.Wait)
	backoff := 20 * time.Millisecond
	for {
		keys, err := s.src.NewKeys(ctx, number, sizeBits)
		if err == nil {
			return keys, nil
		}
		if !errors.Is(err, ErrKeyPoolEmpty) {
			return nil, fmt.Errorf("QKD keys for link %s: %w", s.o.Link, err)
		}
		left := deadline.Sub(s.o.Now())
		if left <= 0 {
			return nil, fmt.Errorf("%w on link %s after waiting %v: %w", ErrKeyExhausted, s.o.Link, s.o.Wait, err)
		}
		t := time.NewTimer(min(backoff, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Seal returns payload protected for the peer, naming the key IDs used.
// aad is authenticated but not sent (e.g. the message type and chunk index).
func (s *Sealer) Seal(ctx context.Context, payload, aad []byte) ([]byte, error) {
	if s.mode == ModeAES {
		return s.sealAES(ctx, payload, aad)
	}
	return s.sealOTP(ctx, payload, aad)
}

func (s *Sealer) sealAES(ctx context.Context, payload, aad []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	if s.aead == nil || s.used+int64(len(payload)) > s.o.RotateBytes || now.Sub(s.since) >= s.o.RotateAge {
		keys, err := s.newKeys(ctx, 1, 256)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(keys[0].Key)
		if err != nil {
			return nil, fmt.Errorf("kms: %w", err)
		}
		s.aead, _ = cipher.NewGCM(block)
		s.keyID, s.counter, s.used, s.since = keys[0].KeyID, 0, 0, now
	}
	out, err := appendHeader(make([]byte, 0, 64+len(payload)+tagSize), ModeAES, []string{s.keyID})
	if err != nil {
		return nil, err
	}
	// A counter nonce never repeats under one key; 2^64 messages is far
	// beyond any rotation period.
	s.counter++
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint64(out, s.counter)
	s.used += int64(len(payload))
	hdr := out
	nonce := out[len(out)-12:]
	ad := append(append([]byte(nil), hdr...), aad...)
	return s.aead.Seal(out, nonce, payload, ad), nil
}

// otpKeys takes at least nbytes of fresh key material.
func (s *Sealer) otpKeys(ctx context.Context, nbytes int) ([]Key, error) {
	size := s.o.OTPKeyBits / 8
	full, rest := nbytes/size, nbytes%size
	var keys []Key
	for full > 0 {
		n := min(full, s.o.MaxKeysPerRequest)
		k, err := s.newKeys(ctx, n, s.o.OTPKeyBits)
		if err != nil {
			return nil, err
		}
		keys, full = append(keys, k...), full-n
	}
	if rest > 0 {
		// The last key only as long as needed (the standard's minimum is
		// 64 bits; 256 is above every minimum we know of).
		k, err := s.newKeys(ctx, 1, max(rest, 32)*8)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

func (s *Sealer) sealOTP(ctx context.Context, payload, aad []byte) ([]byte, error) {
	keys, err := s.otpKeys(ctx, len(payload)+32)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KeyID
	}
	out, err := appendHeader(make([]byte, 0, 64+len(keys)*40+len(payload)+tagSize), ModeOTP, ids)
	if err != nil {
		return nil, err
	}
	hdrLen := len(out)
	pad, macKey := otpMaterial(keys, len(payload))
	out = append(out, payload...)
	subtle.XORBytes(out[hdrLen:], out[hdrLen:], pad)
	tag := otpTag(macKey, out, aad)
	return append(out, tag[:]...), nil
}

// otpMaterial cuts the concatenated keys into the pad and the MAC key.
// What is left of the last key is dropped: key material is never reused.
func otpMaterial(keys []Key, n int) (pad []byte, macKey *[32]byte) {
	var all []byte
	for _, k := range keys {
		all = append(all, k.Key...)
	}
	macKey = new([32]byte)
	copy(macKey[:], all[n:n+32])
	return all[:n], macKey
}

func otpTag(key *[32]byte, headerAndCiphertext, aad []byte) [16]byte {
	var tag [16]byte
	m := poly1305.New(key)
	m.Write(headerAndCiphertext)
	m.Write(aad)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(aad))))
	m.Sum(tag[:0])
	return tag
}

// Opener reads the payloads received on one link. Safe for concurrent use.
type Opener struct {
	src KeySource
	o   TransitOptions

	mu    sync.Mutex
	cache map[string]cipher.AEAD // AES keys already fetched (a key is fetched once)
	order []string               // oldest first, for eviction
}

// NewOpener returns the receiving side of a link.
func NewOpener(src KeySource, o TransitOptions) *Opener {
	o.defaults()
	return &Opener{src: src, o: o, cache: map[string]cipher.AEAD{}}
}

// Open checks and decrypts a sealed message; aad must be what the sender
// passed. Either mode is accepted: the message says which.
func (p *Opener) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	mode, ids, hdrLen, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	switch mode {
	case ModeAES:
		if len(ids) != 1 || len(sealed) < hdrLen+12+tagSize {
			return nil, fmt.Errorf("%w: malformed AES message", ErrSealed)
		}
		aead, err := p.aesKey(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		hdr := sealed[:hdrLen+12]
		ad := append(append([]byte(nil), hdr...), aad...)
		plain, err := aead.Open(nil, hdr[hdrLen:], sealed[hdrLen+12:], ad)
		if err != nil {
			return nil, fmt.Errorf("%w on link %s: authentication failed", ErrSealed, p.o.Link)
		}
		return plain, nil
	case ModeOTP:
		if len(sealed) < hdrLen+tagSize {
			return nil, fmt.Errorf("%w: malformed OTP message", ErrSealed)
		}
		keys, err := p.fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		n := len(sealed) - hdrLen - tagSize
		total := 0
		for _, k := range keys {
			total += len(k.Key)
		}
		if total < n+32 {
			return nil, fmt.Errorf("%w on link %s: %d bytes of key for %d bytes of payload", ErrSealed, p.o.Link, total, n)
		}
		pad, macKey := otpMaterial(keys, n)
		tag := otpTag(macKey, sealed[:hdrLen+n], aad)
		if subtle.ConstantTimeCompare(tag[:], sealed[hdrLen+n:]) != 1 {
			return nil, fmt.Errorf("%w on link %s: authentication failed", ErrSealed, p.o.Link)
		}
		plain := make([]byte, n)
		subtle.XORBytes(plain, sealed[hdrLen:hdrLen+n], pad)
		return plain, nil
	}
	return nil, fmt.Errorf("%w: unknown mode %v", ErrSealed, mode)
}

func (p *Opener) fetch(ctx context.Context, ids []string) ([]Key, error) {
	// A key manager hands each key to its slave once: a fetch abandoned
	// half-way (the message's transfer was cancelled) would lose a key the
	// sender may keep using. The fetch therefore outlives the caller's
	// cancellation, bounded by its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var keys []Key
	for len(ids) > 0 {
		n := min(len(ids), p.o.MaxKeysPerRequest)
		k, err := p.src.KeysByID(ctx, ids[:n])
		if err != nil {
			if errors.Is(err, ErrBadRequest) {
				return nil, fmt.Errorf("%w on link %s: %w", ErrSealed, p.o.Link, err)
			}
			return nil, fmt.Errorf("QKD keys for link %s: %w", p.o.Link, err)
		}
		keys, ids = append(keys, k...), ids[n:]
	}
	return keys, nil
}

func (p *Opener) aesKey(ctx context.Context, id string) (cipher.AEAD, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.cache[id]; ok {
		return a, nil
	}
	keys, err := p.fetch(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(keys[0].Key) != 32 {
		return nil, fmt.Errorf("%w on link %s: AES key of %d bits", ErrSealed, p.o.Link, len(keys[0].Key)*8)
	}
	block, _ := aes.NewCipher(keys[0].Key)
	a, _ := cipher.NewGCM(block)
	p.cache[id] = a
	p.order = append(p.order, id)
	if len(p.order) > p.o.KeyCache {
		delete(p.cache, p.order[0])
		p.order = p.order[1:]
	}
	return a, nil
}
