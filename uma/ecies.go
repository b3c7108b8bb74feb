package uma

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Travel-rule information is encrypted with the ECIES variant shared by
// eciespy, eciesjs, ecies/go and the Rust ecies crate (every UMA SDK):
//
//	blob = ephemeralPub(65, uncompressed) ‖ nonce(16) ‖ tag(16) ‖ ciphertext
//	key  = HKDF-SHA256(ikm = ephemeralPub ‖ uncompressed(eph·recipientPub), no salt, no info, 32 bytes)
//	AES-256-GCM with a 16-byte nonce and no additional data
//
// and sent as lowercase hex in payerData.compliance.encryptedTravelRuleInfo.

const (
	eciesPubLen   = 65
	eciesNonceLen = 16
	eciesTagLen   = 16
	eciesOverhead = eciesPubLen + eciesNonceLen + eciesTagLen
	// maxECIESBlob bounds decryption input (travel-rule records are small).
	maxECIESBlob = 1 << 20
)

// Encrypt encrypts plaintext to the recipient's encryption key.
func Encrypt(recipient *PublicKey, plaintext []byte) ([]byte, error) {
	return encryptWith(rand.Reader, recipient, plaintext)
}

// encryptWith draws the ephemeral key and nonce from rnd (fixed in tests).
func encryptWith(rnd io.Reader, recipient *PublicKey, plaintext []byte) ([]byte, error) {
	if recipient == nil {
		return nil, Errorf(CodeInvalidPubkeyFormat, "no encryption key")
	}
	var ephBytes [32]byte
	var eph *secp256k1.PrivateKey
	for eph == nil {
		if _, err := io.ReadFull(rnd, ephBytes[:]); err != nil {
			return nil, err
		}
		var s secp256k1.ModNScalar
		if overflow := s.SetBytes(&ephBytes); overflow == 0 && !s.IsZero() {
			eph = secp256k1.NewPrivateKey(&s)
		}
	}
	nonce := make([]byte, eciesNonceLen)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, err
	}
	ephPub := eph.PubKey().SerializeUncompressed()
	gcm, err := eciesGCM(ephPub, sharedPoint(eph, recipient.k))
	if err != nil {
		return nil, err
	}
	sealed := gcm.Seal(nil, nonce, plaintext, nil) // ct ‖ tag
	ct, tag := sealed[:len(plaintext)], sealed[len(plaintext):]
	out := make([]byte, 0, eciesOverhead+len(plaintext))
	out = append(out, ephPub...)
	out = append(out, nonce...)
	out = append(out, tag...)
	return append(out, ct...), nil
}

// Decrypt reverses Encrypt with our encryption key. Any failure is an
// INVALID_INPUT *Error without detail (no decryption oracle).
func Decrypt(key *PrivateKey, blob []byte) ([]byte, error) {
	if len(blob) < eciesOverhead || len(blob) > maxECIESBlob {
		return nil, Errorf(CodeInvalidInput, "encrypted data has invalid length")
	}
	ephPub, err := secp256k1.ParsePubKey(blob[:eciesPubLen])
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "encrypted data has an invalid ephemeral key")
	}
	nonce := blob[eciesPubLen : eciesPubLen+eciesNonceLen]
	tag := blob[eciesPubLen+eciesNonceLen : eciesOverhead]
	ct := blob[eciesOverhead:]
	// HKDF input uses the uncompressed ephemeral key as the sender serialised it.
	gcm, err := eciesGCM(ephPub.SerializeUncompressed(), sharedPoint(key.k, ephPub))
	if err != nil {
		return nil, err
	}
	sealed := make([]byte, 0, len(ct)+len(tag))
	sealed = append(append(sealed, ct...), tag...)
	pt, err := gcm.Open(nil, nonce, sealed, nil)
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "encrypted data does not decrypt with our key")
	}
	return pt, nil
}

// sharedPoint is the uncompressed encoding of priv·pub.
func sharedPoint(priv *secp256k1.PrivateKey, pub *secp256k1.PublicKey) []byte {
	var p, r secp256k1.JacobianPoint
	pub.AsJacobian(&p)
	secp256k1.ScalarMultNonConst(&priv.Key, &p, &r)
	r.ToAffine()
	return secp256k1.NewPublicKey(&r.X, &r.Y).SerializeUncompressed()
}

func eciesGCM(ephPub, shared []byte) (cipher.AEAD, error) {
	ikm := make([]byte, 0, len(ephPub)+len(shared))
	ikm = append(append(ikm, ephPub...), shared...)
	key, err := hkdf.Key(sha256.New, ikm, nil, "", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithNonceSize(block, eciesNonceLen)
}

// EncryptTravelRuleInfo encrypts info to the receiver's encryption key and
// returns the hex for CompliancePayerData.EncryptedTravelRuleInfo.
func EncryptTravelRuleInfo(receiverEncryptionKey *PublicKey, info []byte) (string, error) {
	blob, err := Encrypt(receiverEncryptionKey, info)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(blob), nil
}

// DecryptTravelRuleInfo decrypts CompliancePayerData.EncryptedTravelRuleInfo
// with our encryption key.
func DecryptTravelRuleInfo(ourEncryptionKey *PrivateKey, encryptedHex string) ([]byte, error) {
	if len(encryptedHex) > 2*maxECIESBlob {
		return nil, Errorf(CodeInvalidInput, "encrypted data too large")
	}
	blob, err := hex.DecodeString(strings.TrimSpace(encryptedHex))
	if err != nil {
		return nil, Errorf(CodeInvalidInput, "encrypted data is not hex")
	}
	return Decrypt(ourEncryptionKey, blob)
}
