package uma

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Signatures in UMA are ECDSA over secp256k1 of exactly one SHA-256 of the
// UTF-8 payload, DER encoded, then lowercase hex (raw DER only inside UMA
// invoices). Payloads are the message fields joined with "|" — the spec text
// says "+", every SDK and every real signature uses "|".

// signablePayload joins fields with "|".
func signablePayload(fields ...string) string { return strings.Join(fields, "|") }

// SignPayload signs payload and returns the DER signature. It uses RFC 6979
// deterministic nonces and always yields a canonical low-S signature.
func SignPayload(key *PrivateKey, payload []byte) []byte {
	h := sha256.Sum256(payload)
	return ecdsa.Sign(key.k, h[:]).Serialize()
}

// signHex is SignPayload as lowercase hex.
func signHex(key *PrivateKey, payload string) string {
	return hex.EncodeToString(SignPayload(key, []byte(payload)))
}

// VerifyPayload checks a DER signature over payload. High-S signatures are
// accepted: the Go SDK emits them half of the time. Any failure is an
// INVALID_SIGNATURE *Error.
func VerifyPayload(pub *PublicKey, payload, der []byte) error {
	if pub == nil {
		return Errorf(CodeInvalidSignature, "no public key to verify with")
	}
	if len(der) == 0 || len(der) > 80 {
		return Errorf(CodeInvalidSignature, "signature has invalid length %d", len(der))
	}
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return Errorf(CodeInvalidSignature, "signature is not valid DER")
	}
	h := sha256.Sum256(payload)
	// decred's Verify accepts both S and N-S, so no normalisation is needed.
	if !sig.Verify(h[:], pub.k) {
		return Errorf(CodeInvalidSignature, "signature does not verify")
	}
	return nil
}

// verifyHex is VerifyPayload for a hex signature.
func verifyHex(pub *PublicKey, payload, sigHex string) error {
	if sigHex == "" {
		return Errorf(CodeInvalidSignature, "missing signature")
	}
	der, err := hex.DecodeString(sigHex)
	if err != nil {
		return Errorf(CodeInvalidSignature, "signature is not hex")
	}
	return VerifyPayload(pub, []byte(payload), der)
}

// NewNonce returns a fresh nonce: a random 64-bit unsigned integer in decimal.
// (Most SDKs use only 32 bits, hence nonce caches scoped by signer domain.)
func NewNonce() string {
	var b [8]byte
	// Since Go 1.24 crypto/rand.Read never returns an error (it aborts the
	// process instead), so there is nothing to handle.
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:]), 10)
}

// formatTimestamp formats unix seconds the way every SDK does in payloads.
func formatTimestamp(ts int64) string { return strconv.FormatInt(ts, 10) }
