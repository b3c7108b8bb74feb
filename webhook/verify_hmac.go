package webhook

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Header names of the body-HMAC schemes of other senders a vaspd user meets.
const (
	// HeaderLightsparkSignature is Lightspark's (GraphQL SDK) webhook header.
	HeaderLightsparkSignature = "lightspark-signature"
	// HeaderCoinbaseCommerceSignature is Coinbase Commerce's webhook header,
	// also used by LlamaPay, which adopted the Coinbase Commerce format.
	HeaderCoinbaseCommerceSignature = "X-CC-Webhook-Signature"
)

// minBodySecret rejects secrets short enough to be a configuration mistake.
// Lightspark's are 43 characters, Coinbase Commerce's 36, ours 50.
const minBodySecret = 16

// BodyHMACVerifier verifies schemes whose header is the hex HMAC-SHA256 of
// the raw body, keyed with the secret string's bytes exactly as issued:
// X-UMAaas-Signature (ours and UMAaaS v1), Lightspark's lightspark-signature
// and Coinbase Commerce's X-CC-Webhook-Signature.
//
// These schemes sign no timestamp, so a captured request verifies forever:
// replay protection must come from de-duplicating the event id in a durable
// [Store], which [Handler] does for vaspd and UMAaaS webhooks.
type BodyHMACVerifier struct {
	header string
	keys   [][]byte
}

// NewBodyHMACVerifier returns a verifier for the hex body HMAC in header.
// Every listed secret is trusted (list two during a rotation). A secret is
// used exactly as given, so one with leading or trailing white space (a line
// end kept from a file) is refused rather than failing every request.
func NewBodyHMACVerifier(header string, secrets ...string) (*BodyHMACVerifier, error) {
	if header == "" {
		return nil, fmt.Errorf("webhook: header name required")
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: at least one secret is required", ErrInvalidKey)
	}
	v := &BodyHMACVerifier{header: http.CanonicalHeaderKey(header)}
	for i, s := range secrets {
		if len(s) < minBodySecret {
			return nil, fmt.Errorf("%w: secret %d is shorter than %d bytes", ErrInvalidKey, i, minBodySecret)
		}
		// The secret keys the HMAC byte for byte: a line end kept from a
		// file would make every signature fail, a 401 for every webhook.
		if strings.TrimSpace(s) != s {
			return nil, fmt.Errorf("%w: secret %d starts or ends with white space (a line end from a file?)", ErrInvalidKey, i)
		}
		v.keys = append(v.keys, []byte(s))
	}
	return v, nil
}

// NewUMAaaSVerifier verifies X-UMAaas-Signature: what vaspd sends and what
// UMAaaS v1 (before its 2025-05-30 switch to P-256) sent. For vaspd
// webhooks prefer [NewStandardVerifier], whose signed timestamp also stops
// replays; use this one for receivers written against UMAaaS v1.
func NewUMAaaSVerifier(secrets ...string) (*BodyHMACVerifier, error) {
	return NewBodyHMACVerifier(HeaderUMAaaSSignature, secrets...)
}

// NewLightsparkVerifier verifies Lightspark SDK webhooks (lightspark-signature).
func NewLightsparkVerifier(secrets ...string) (*BodyHMACVerifier, error) {
	return NewBodyHMACVerifier(HeaderLightsparkSignature, secrets...)
}

// NewCoinbaseCommerceVerifier verifies Coinbase Commerce and LlamaPay
// webhooks (X-CC-Webhook-Signature).
func NewCoinbaseCommerceVerifier(secrets ...string) (*BodyHMACVerifier, error) {
	return NewBodyHMACVerifier(HeaderCoinbaseCommerceSignature, secrets...)
}

// Verify implements [Verifier]. The header may hold several hex values
// separated by spaces (vaspd during a secret rotation), on one line or
// several; any match is enough.
// Hex is compared as bytes after decoding, so upper and lower case both work.
func (v *BodyHMACVerifier) Verify(h http.Header, body []byte) error {
	values := h.Values(v.header)
	if allBlank(values) {
		return fmt.Errorf("%w: %s", ErrMissingHeader, v.header)
	}
	macs := make([][]byte, len(v.keys))
	for i, k := range v.keys {
		macs[i] = bodyHMAC(k, body)
	}
	seen, parsed := 0, 0
	var got [32]byte
	for _, value := range values {
		for entry := range strings.SplitSeq(value, " ") {
			if entry == "" {
				continue
			}
			if seen++; seen > maxSignatures {
				break
			}
			if len(entry) != 64 {
				continue
			}
			if _, err := hex.Decode(got[:], []byte(entry)); err != nil {
				continue
			}
			parsed++
			for _, m := range macs {
				if hmac.Equal(m, got[:]) {
					return nil
				}
			}
		}
	}
	if parsed == 0 {
		return fmt.Errorf("%w: %s is not hex HMAC-SHA256", ErrMalformedHeader, v.header)
	}
	return ErrNoMatch
}
