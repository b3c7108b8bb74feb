package uma

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// PrivateKey is a secp256k1 private key (signing or encryption). Its String
// and GoString never print the secret, so logging a PrivateKey by mistake
// does not leak it.
type PrivateKey struct {
	k *secp256k1.PrivateKey
}

// GeneratePrivateKey returns a new random key from crypto/rand.
func GeneratePrivateKey() (*PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	return &PrivateKey{k: k}, nil
}

// ParsePrivateKey reads a 32-byte big-endian scalar in [1, N-1].
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != 32 {
		return nil, Errorf(CodeInvalidInput, "private key must be 32 bytes, got %d", len(b))
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, Errorf(CodeInvalidInput, "private key out of range")
	}
	return &PrivateKey{k: secp256k1.NewPrivateKey(&s)}, nil
}

// ParsePrivateKeyHex reads a 64-character hex private key (the format every
// UMA SDK and demo uses for configuration).
func ParsePrivateKeyHex(s string) (*PrivateKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "private key is not hex")
	}
	return ParsePrivateKey(b)
}

// PublicKey returns the matching public key.
func (k *PrivateKey) PublicKey() *PublicKey { return &PublicKey{k: k.k.PubKey()} }

// Bytes returns the 32-byte secret. Handle with care.
func (k *PrivateKey) Bytes() []byte { return k.k.Serialize() }

// String never reveals the secret.
func (k *PrivateKey) String() string { return "uma.PrivateKey(redacted)" }

// GoString never reveals the secret (%#v).
func (k *PrivateKey) GoString() string { return k.String() }

// PublicKey is a secp256k1 public key of a counterparty or of ours.
type PublicKey struct {
	k *secp256k1.PublicKey
}

// ParsePublicKey reads a SEC1 point: 65-byte uncompressed (what the SDKs
// emit) or 33-byte compressed (what the Rust/Kotlin crypto also accepts).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != 65 && len(b) != 33 {
		return nil, Errorf(CodeInvalidPubkeyFormat, "public key must be 33 or 65 bytes, got %d", len(b))
	}
	k, err := secp256k1.ParsePubKey(b)
	if err != nil {
		return nil, wrapErr(CodeInvalidPubkeyFormat, err, "invalid secp256k1 public key")
	}
	return &PublicKey{k: k}, nil
}

// ParsePublicKeyHex reads a hex SEC1 point (see ParsePublicKey).
func ParsePublicKeyHex(s string) (*PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, Errorf(CodeInvalidPubkeyFormat, "public key is not hex")
	}
	return ParsePublicKey(b)
}

// Bytes is the 65-byte uncompressed encoding (04 ‖ X ‖ Y).
func (p *PublicKey) Bytes() []byte { return p.k.SerializeUncompressed() }

// Hex is the lowercase hex of Bytes, the wire form of signingPubKey and
// encryptionPubKey.
func (p *PublicKey) Hex() string { return hex.EncodeToString(p.Bytes()) }

// Equal reports whether p and o are the same point.
func (p *PublicKey) Equal(o *PublicKey) bool {
	if p == nil || o == nil {
		return p == o
	}
	return bytes.Equal(p.Bytes(), o.Bytes())
}

func (p *PublicKey) String() string { return p.Hex() }

// Keys are our own key material: what we sign with, what counterparties
// encrypt travel-rule data to, and the certificate chains we publish at
// /.well-known/lnurlpubkey. The signing and encryption key may be the same.
type Keys struct {
	Signing    *PrivateKey
	Encryption *PrivateKey

	// DER certificates, leaf first. The leaf must certify the matching key;
	// use NewSelfSignedCertificate when you have no CA (normal in UMA).
	SigningCertChain    [][]byte
	EncryptionCertChain [][]byte
}

// Validate checks that both keys are present and that each chain's leaf
// certifies its key.
func (k *Keys) Validate() error {
	if k == nil || k.Signing == nil || k.Encryption == nil {
		return Errorf(CodeInternalError, "signing and encryption keys are required")
	}
	check := func(name string, chain [][]byte, key *PrivateKey) error {
		if len(chain) == 0 {
			return nil
		}
		pub, err := ParseCertificatePublicKey(chain[0])
		if err != nil {
			return err
		}
		if !pub.Equal(key.PublicKey()) {
			return Errorf(CodeCertChainInvalid, "%s certificate does not match the %s key", name, name)
		}
		return nil
	}
	return errors.Join(
		check("signing", k.SigningCertChain, k.Signing),
		check("encryption", k.EncryptionCertChain, k.Encryption),
	)
}
