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

// Verify implements [Verifier]. Like the body-HMAC verifier it reads every
// line of the header (RFC 9110 §5.3): the header is missing only when all
// are blank, a signature on any line that verifies is enough, and only
// when no line holds a well-formed signature is the header malformed.
func (v *P256Verifier) Verify(h http.Header, body []byte) error {
	values := h.Values(v.header)
	if allBlank(values) {
		return fmt.Errorf("%w: %s", ErrMissingHeader, v.header)
	}
	digest := sha256.Sum256(body)
	var malformed error
	seen, parsed := 0, 0
	for _, value := range values {
		value = strings.TrimSpace(value)
		if value == "" {
			continue
		}
		if seen++; seen > maxSignatures {
			break
		}
		sig, err := v.parse(value)
		if err != nil {
			if malformed == nil {
				malformed = err
			}
			continue
		}
		parsed++
		for _, p := range v.pubs {
			if ecdsa.VerifyASN1(p, digest[:], sig) {
				return nil
			}
		}
	}
	if parsed == 0 {
		return malformed
	}
	return ErrNoMatch
}

// parse reads one header line: the JSON envelope or the bare base64.
func (v *P256Verifier) parse(value string) ([]byte, error) {
	if len(value) > maxP256Header {
		return nil, fmt.Errorf("%w: %s too long", ErrMalformedHeader, v.header)
	}
	sigText := value
	if strings.HasPrefix(value, "{") {
		var env struct {
			V string `json:"v"`
			S string `json:"s"`
		}
		if err := json.Unmarshal([]byte(value), &env); err != nil || env.S == "" {
			return nil, fmt.Errorf("%w: %s is not {\"v\":\"1\",\"s\":…}", ErrMalformedHeader, v.header)
		}
		if env.V != "1" {
			return nil, fmt.Errorf("%w: %s version %q unsupported", ErrMalformedHeader, v.header, env.V)
		}
		sigText = env.S
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrMalformedHeader, v.header)
	}
	return sig, nil
}
