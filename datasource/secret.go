package datasource

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Secret holds a credential such as a datasource password. It never prints
// itself: String, GoString and MarshalText all redact, so a Secret that ends
// up in a log line or an API response shows "***" instead of its value.
type Secret struct{ value string }

// NewSecret wraps a plain value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the plain value. Call it only where the value is used (to
// connect), never to display it.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.value != "" }

// String redacts.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "***"
}

// GoString redacts, so %#v does not leak the value either.
func (s Secret) GoString() string { return s.String() }

// MarshalText redacts.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ErrNoMasterKey is returned when a secret must be stored or read but no
// master key was configured.
var ErrNoMasterKey = errors.New("no master key: set TENANTFLOW_MASTER_KEY to 32 random bytes in base64 (e.g. `openssl rand -base64 32`) to store datasource passwords")

// sealer encrypts secrets at rest with AES-256-GCM under the master key.
type sealer struct{ aead cipher.AEAD }

// newSealer parses a base64 master key of 32 bytes. An empty key gives a
// sealer that refuses to seal or open anything but the empty secret.
func newSealer(masterKey string) (*sealer, error) {
	if masterKey == "" {
		return &sealer{}, nil
	}
	key, err := base64.StdEncoding.DecodeString(masterKey)
	if err != nil || len(key) != 32 {
		return nil, errors.New("TENANTFLOW_MASTER_KEY must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts s with additional data ad (the tenant ID, so a sealed value
// copied to another tenant's row does not open).
func (k *sealer) seal(s Secret, ad string) (string, error) {
	if !s.IsSet() {
		return "", nil
	}
	if k.aead == nil {
		return "", ErrNoMasterKey
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, []byte(s.value), []byte(ad))
	return base64.StdEncoding.EncodeToString(out), nil
}

// open decrypts a value produced by seal with the same additional data.
func (k *sealer) open(sealed, ad string) (Secret, error) {
	if sealed == "" {
		return Secret{}, nil
	}
	if k.aead == nil {
		return Secret{}, ErrNoMasterKey
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return Secret{}, errors.New("stored secret is corrupt")
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(ad))
	if err != nil {
		return Secret{}, errors.New("stored secret does not open with this master key (was TENANTFLOW_MASTER_KEY changed?)")
	}
	return Secret{value: string(plain)}, nil
}
