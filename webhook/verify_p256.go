package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
)

// HeaderGridSignature is the header of Lightspark's Grid API, the successor
// of UMAaaS, which uses the same P-256 scheme as UMAaaS after 2025-05-30.
const HeaderGridSignature = "X-Grid-Signature"

// P256Verifier verifies the asymmetric scheme UMAaaS adopted on 2025-05-30
// and Grid kept: an ECDSA P-256 signature over SHA-256 of the raw body,
// base64 (ASN.1 DER), in a header whose value is either the JSON
// {"v":"1","s":"<base64>"} or the bare base64 signature. Like the body-HMAC
// schemes it signs no timestamp; pair it with a [Store].
type P256Verifier struct {
	header string
	pubs   []*ecdsa.PublicKey
}

// NewP256Verifier trusts the PEM ("PUBLIC KEY", SPKI) P-256 keys given, for
// signatures in header (HeaderUMAaaSSignature or HeaderGridSignature).
func NewP256Verifier(header string, publicKeysPEM ...[]byte) (*P256Verifier, error) {
	if header == "" {
		return nil, fmt.Errorf("webhook: header name required")
	}
	if len(publicKeysPEM) == 0 {
		return nil, fmt.Errorf("%w: at least one public key is required", ErrInvalidKey)
	}
	v := &P256Verifier{header: http.CanonicalHeaderKey(header)}
	for i, p := range publicKeysPEM {
		block, _ := pem.Decode(p)
		if block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: key %d is not a PEM PUBLIC KEY block", ErrInvalidKey, i)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInvalidKey, i, err)
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %d is not an ECDSA P-256 key", ErrInvalidKey, i)
		}
		v.pubs = append(v.pubs, ek)
	}
	return v, nil
}

// maxP256Header bounds the header we parse; a DER P-256 signature is at most
// 72 bytes, 96 in base64.
const maxP256Header = 512

// Verify implements [Verifier].
func (v *P256Verifier) Verify(h http.Header, body []byte) error {
	value := strings.TrimSpace(h.Get(v.header))
	if value == "" {
		return fmt.Errorf("%w: %s", ErrMissingHeader, v.header)
	}
	if len(value) > maxP256Header {
		return fmt.Errorf("%w: %s too long", ErrMalformedHeader, v.header)
	}
	sigText := value
	if strings.HasPrefix(value, "{") {
		var env struct {
			V string `json:"v"`
			S string `json:"s"`
		}
		if err := json.Unmarshal([]byte(value), &env); err != nil || env.S == "" {
			return fmt.Errorf("%w: %s is not {\"v\":\"1\",\"s\":…}", ErrMalformedHeader, v.header)
		}
		if env.V != "1" {
			return fmt.Errorf("%w: %s version %q unsupported", ErrMalformedHeader, v.header, env.V)
		}
		sigText = env.S
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64", ErrMalformedHeader, v.header)
	}
	digest := sha256.Sum256(body)
	for _, p := range v.pubs {
		if ecdsa.VerifyASN1(p, digest[:], sig) {
			return nil
		}
	}
	return ErrNoMatch
}
