package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verifier checks that a request came from the holder of a key. body is the
// raw request body, byte for byte as received: re-encoding JSON before
// verifying breaks every HMAC scheme.
//
// A nil error means authentic. Any error means "answer 401"; errors.Is
// distinguishes the reasons for logs and metrics.
type Verifier interface {
	Verify(h http.Header, body []byte) error
}

// Verification failures. They never carry key material.
var (
	// ErrMissingHeader: a header the scheme needs is absent or empty.
	ErrMissingHeader = errors.New("webhook: missing signature header")
	// ErrMalformedHeader: a header is present but cannot be parsed.
	ErrMalformedHeader = errors.New("webhook: malformed signature header")
	// ErrNoMatch: the header parses but no signature matches any trusted key.
	ErrNoMatch = errors.New("webhook: no matching signature")
	// ErrTimestampTooOld: the signed timestamp is older than the tolerance.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew: the signed timestamp is further in the future than the tolerance.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
)

// The header names a StandardVerifier reads: id, timestamp, signature.
var (
	standardHeaders = [3]string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature}
	svixHeaders     = [3]string{"svix-id", "svix-timestamp", "svix-signature"}
)

// DefaultTolerance is how far a Standard Webhooks timestamp may be from the
// receiver's clock, in either direction. Every reference library uses 5
// minutes.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds how many entries of a webhook-signature header are
// examined, so a hostile header cannot make us run thousands of ed25519
// verifications. Senders sign with at most 10 keys.
const maxSignatures = 20

// StandardConfig configures a [StandardVerifier].
type StandardConfig struct {
	// Secrets are the trusted symmetric secrets ("whsec_…"; the prefix is
	// optional, as in the reference libraries). List the old and new secret
	// during a rotation to accept either.
	Secrets []string
	// PublicKeys are trusted ed25519 keys ("whpk_…") for v1a signatures.
	// Keys come from configuration, never from the request.
	PublicKeys []string
	// Tolerance is the accepted clock distance; zero means DefaultTolerance.
	Tolerance time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// StandardVerifier verifies Standard Webhooks requests (webhook-id,
// webhook-timestamp, webhook-signature): v1 HMAC-SHA256 and v1a ed25519, any
// matching signature accepted, timestamp within the tolerance both ways.
// It is what a platform uses for vaspd webhooks. A request with none of the
// three webhook-* headers is read from svix-id, svix-timestamp and
// svix-signature, the names Svix sends unless told otherwise (as the
// reference libraries do); the two sets are never mixed.
type StandardVerifier struct {
	keys      [][]byte
	pubs      []ed25519.PublicKey
	tolerance time.Duration
	now       func() time.Time
}

// NewStandardVerifier checks cfg; a bad secret fails here, at start-up, not
// as a stream of 401s.
func NewStandardVerifier(cfg StandardConfig) (*StandardVerifier, error) {
	if len(cfg.Secrets)+len(cfg.PublicKeys) == 0 {
		return nil, fmt.Errorf("%w: a verifier needs at least one secret or public key", ErrInvalidKey)
	}
	if cfg.Tolerance < 0 {
		return nil, errors.New("webhook: negative tolerance")
	}
	v := &StandardVerifier{tolerance: cfg.Tolerance, now: cfg.Now}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	for i, s := range cfg.Secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		v.keys = append(v.keys, k)
	}
	for i, p := range cfg.PublicKeys {
		k, err := ParsePublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		v.pubs = append(v.pubs, k)
	}
	return v, nil
}

// Verify implements [Verifier].
func (v *StandardVerifier) Verify(h http.Header, body []byte) error {
	names := &standardHeaders
	if _, ok := h[keyWebhookID]; !ok && h[keyWebhookTimestamp] == nil && h[keyWebhookSignature] == nil {
		names = &svixHeaders
	}
	id := h.Get(names[0])
	tsText := h.Get(names[1])
	// Entries split over several header lines are one list (RFC 9110 §5.3).
	sigs := strings.Join(h.Values(names[2]), " ")
	switch {
	case id == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, names[0])
	case tsText == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, names[1])
	case sigs == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, names[2])
	}
	if checkMessageID(id) != nil {
		return fmt.Errorf("%w: %s", ErrMalformedHeader, names[0])
	}
	ts, err := parseUnixSeconds(tsText)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformedHeader, names[1], err)
	}
	now := v.now().Unix()
	tol := int64(v.tolerance / time.Second)
	if ts < now-tol {
		return ErrTimestampTooOld
	}
	if ts > now+tol {
		return ErrTimestampTooNew
	}

	// Compute each HMAC once, then compare it with every v1 entry.
	var macs [][]byte
	if len(v.keys) > 0 {
		macs = make([][]byte, len(v.keys))
		for i, k := range v.keys {
			macs[i] = standardHMAC(k, id, tsText, body)
		}
	}
	var content []byte
	seen := 0
	for entry := range strings.SplitSeq(sigs, " ") {
		if entry == "" {
			continue // tolerate double spaces
		}
		if seen++; seen > maxSignatures {
			break
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		switch version {
		case "v1":
			got, err := base64.StdEncoding.DecodeString(sig)
			if err != nil || len(got) != 32 {
				continue
			}
			for _, m := range macs {
				if hmac.Equal(m, got) {
					return nil
				}
			}
		case "v1a":
			if len(v.pubs) == 0 {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err != nil || len(got) != ed25519.SignatureSize {
				continue
			}
			if content == nil {
				content = signedContent(id, tsText, body)
			}
			for _, p := range v.pubs {
				if ed25519.Verify(p, content, got) {
					return nil
				}
			}
		}
		// Other versions are skipped, as the specification requires.
	}
	return ErrNoMatch
}

// parseUnixSeconds accepts only a plain decimal integer: no sign, no
// fraction, no exponent, at most 12 digits (year 33658), as the PHP reference
// tests demand.
func parseUnixSeconds(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, errors.New("not a Unix time in seconds")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a Unix time in seconds")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// allBlank reports that a header's lines hold nothing: it is missing. A
// header's entries may be split over several lines (RFC 9110 §5.3), so an
// empty first line is no reason to ignore the others.
func allBlank(values []string) bool {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}
