package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key prefixes, as in the Standard Webhooks specification.
const (
	// SecretPrefix starts a symmetric endpoint secret: "whsec_" + base64(key bytes).
	SecretPrefix = "whsec_"
	// SigningKeyPrefix starts an ed25519 private key: "whsk_" + base64(32-byte seed).
	SigningKeyPrefix = "whsk_"
	// PublicKeyPrefix starts an ed25519 public key: "whpk_" + base64(32 bytes).
	PublicKeyPrefix = "whpk_"
)

// secretBytes is the size of the random key inside a secret made by
// [NewSecret]: 256 bits, the block-size-independent strength of HMAC-SHA256.
const secretBytes = 32

// Bounds on the decoded key of a "whsec_" secret. The Standard Webhooks
// specification asks for 24 to 64 bytes; we accept a little more on both
// sides so that foreign senders' secrets still verify, but refuse keys short
// enough to be a configuration mistake (an empty or truncated variable).
const (
	minSecretKey = 16
	maxSecretKey = 128
)

// ErrInvalidKey reports a secret or key string that cannot be used. The error
// text never includes the key material.
var ErrInvalidKey = errors.New("webhook: invalid key")

// NewSecret returns a fresh endpoint secret: "whsec_" followed by the
// standard base64 encoding of 32 random bytes. The same string keys both the
// X-UMAaas-Signature HMAC (used verbatim) and the Standard Webhooks v1
// signature (the part after the prefix, base64-decoded).
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: generating secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// NewSigningKey returns a fresh ed25519 key pair for the asymmetric "v1a"
// scheme: the private key as "whsk_<base64 seed>", to be kept by the sender,
// and the public key as "whpk_<base64>", to be published to receivers.
func NewSigningKey() (signingKey, publicKey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("webhook: generating ed25519 key: %w", err)
	}
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed()),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// PublicKey returns the "whpk_" public key matching a "whsk_" signing key.
// vaspd serves this value so receivers can verify v1a signatures.
func PublicKey(signingKey string) (string, error) {
	priv, err := parseSigningKey(signingKey)
	if err != nil {
		return "", err
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}

// ParseSecret checks a symmetric secret and returns the HMAC key of the
// Standard Webhooks scheme: the base64 part after an optional "whsec_"
// prefix, decoded. Both padded and unpadded base64 are accepted, because
// secrets travel through environment files and dashboards that strip "=".
func ParseSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	key, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not %s<base64>", ErrInvalidKey, SecretPrefix)
	}
	if len(key) < minSecretKey || len(key) > maxSecretKey {
		return nil, fmt.Errorf("%w: secret decodes to %d bytes, want %d to %d", ErrInvalidKey, len(key), minSecretKey, maxSecretKey)
	}
	return key, nil
}

// ParsePublicKey decodes a "whpk_" ed25519 public key (the prefix is optional).
func ParsePublicKey(publicKey string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(strings.TrimPrefix(publicKey, PublicKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is not %s<base64 of %d bytes>", ErrInvalidKey, PublicKeyPrefix, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// parseSigningKey decodes a "whsk_" key holding either the 32-byte seed (what
// [NewSigningKey] produces) or the 64-byte seed||public form other tools emit;
// for the latter the embedded public half must match the seed.
func parseSigningKey(signingKey string) (ed25519.PrivateKey, error) {
	if !strings.HasPrefix(signingKey, SigningKeyPrefix) {
		return nil, fmt.Errorf("%w: signing key must start with %s", ErrInvalidKey, SigningKeyPrefix)
	}
	b, err := decodeBase64(strings.TrimPrefix(signingKey, SigningKeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: signing key is not %s<base64>", ErrInvalidKey, SigningKeyPrefix)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(b)) {
			return nil, fmt.Errorf("%w: signing key's public half does not match its seed", ErrInvalidKey)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: signing key decodes to %d bytes, want %d or %d", ErrInvalidKey, len(b), ed25519.SeedSize, ed25519.PrivateKeySize)
}

func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
