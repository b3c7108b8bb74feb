package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Header names on a vaspd webhook request. HTTP header names are
// case-insensitive; these are the spellings we document and send.
const (
	// HeaderUMAaaSSignature carries lowercase hex HMAC-SHA256 of the body,
	// keyed with the endpoint secret string exactly as issued (UMAaaS v1).
	HeaderUMAaaSSignature = "X-UMAaas-Signature"
	// HeaderWebhookID is the Standard Webhooks message id: the body's
	// webhookId, identical on every retry.
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the Standard Webhooks attempt time in Unix
	// seconds; it changes on every retry.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature is the space-separated list of "v1,<base64>"
	// (HMAC-SHA256) and "v1a,<base64>" (ed25519) signatures.
	HeaderWebhookSignature = "webhook-signature"
)

// Keys are everything one endpoint signs with. During a secret rotation grace
// period the endpoint has more than one secret; every listed secret and
// signing key signs each request, so receivers holding either the old or the
// new secret keep verifying.
type Keys struct {
	// Secrets are the endpoint's symmetric secrets ("whsec_…"), newest first.
	// At least one is required.
	Secrets []string
	// SigningKeys are optional ed25519 private keys ("whsk_…") for the
	// asymmetric v1a scheme, newest first.
	SigningKeys []string
}

// maxSigners bounds the keys one request is signed with, which bounds the
// header size and the work a receiver does per request.
const maxSigners = 10

// Signer signs request bodies for one endpoint. Build it once per delivery
// attempt (or cache it per endpoint); it is safe for concurrent use.
type Signer struct {
	secrets []parsedSecret
	keys    []ed25519.PrivateKey
}

type parsedSecret struct {
	raw []byte // the secret string as issued: the X-UMAaas-Signature key
	key []byte // the decoded base64 part: the Standard Webhooks v1 key
}

// NewSigner parses and checks k. Errors name the offending position, never
// the key material.
func NewSigner(k Keys) (*Signer, error) {
	if len(k.Secrets) == 0 {
		return nil, fmt.Errorf("%w: at least one secret is required", ErrInvalidKey)
	}
	if len(k.Secrets)+len(k.SigningKeys) > maxSigners {
		return nil, fmt.Errorf("%w: %d keys, at most %d may sign at once", ErrInvalidKey, len(k.Secrets)+len(k.SigningKeys), maxSigners)
	}
	s := &Signer{}
	for i, sec := range k.Secrets {
		if len(sec) < len(SecretPrefix) || sec[:len(SecretPrefix)] != SecretPrefix {
			return nil, fmt.Errorf("%w: secret %d must start with %s", ErrInvalidKey, i, SecretPrefix)
		}
		key, err := ParseSecret(sec)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		s.secrets = append(s.secrets, parsedSecret{raw: []byte(sec), key: key})
	}
	for i, sk := range k.SigningKeys {
		priv, err := parseSigningKey(sk)
		if err != nil {
			return nil, fmt.Errorf("signing key %d: %w", i, err)
		}
		s.keys = append(s.keys, priv)
	}
	return s, nil
}

// Sign returns the four signature headers for one delivery attempt of body:
// X-UMAaas-Signature, webhook-id, webhook-timestamp and webhook-signature.
// webhookID is the event's webhookId (the same on every retry); at is the
// attempt time. The caller adds Content-Type and sends body byte for byte.
func (s *Signer) Sign(webhookID string, at time.Time, body []byte) (http.Header, error) {
	if err := checkMessageID(webhookID); err != nil {
		return nil, err
	}
	ts := at.Unix()
	if ts <= 0 {
		return nil, errors.New("webhook: attempt time must be after 1970")
	}
	tsText := strconv.FormatInt(ts, 10)

	h := make(http.Header, 4)
	// X-UMAaas-Signature: one lowercase hex value per secret, newest first,
	// separated by a space (only during rotation is there more than one).
	umaaas := make([]byte, 0, len(s.secrets)*(sha256.Size*2+1))
	// webhook-signature: "v1,<b64>" per secret then "v1a,<b64>" per key.
	std := make([]byte, 0, len(s.secrets)*48+len(s.keys)*92)
	for i, sec := range s.secrets {
		if i > 0 {
			umaaas = append(umaaas, ' ')
		}
		umaaas = hex.AppendEncode(umaaas, bodyHMAC(sec.raw, body))
		if len(std) > 0 {
			std = append(std, ' ')
		}
		std = append(std, "v1,"...)
		std = base64.StdEncoding.AppendEncode(std, standardHMAC(sec.key, webhookID, tsText, body))
	}
	if len(s.keys) > 0 {
		content := signedContent(webhookID, tsText, body)
		for _, k := range s.keys {
			std = append(std, " v1a,"...)
			std = base64.StdEncoding.AppendEncode(std, ed25519.Sign(k, content))
		}
	}
	h.Set(HeaderUMAaaSSignature, string(umaaas))
	h.Set(HeaderWebhookID, webhookID)
	h.Set(HeaderWebhookTimestamp, tsText)
	h.Set(HeaderWebhookSignature, string(std))
	return h, nil
}

// Sign is NewSigner followed by Signer.Sign, for callers that sign once.
func Sign(k Keys, webhookID string, at time.Time, body []byte) (http.Header, error) {
	s, err := NewSigner(k)
	if err != nil {
		return nil, err
	}
	return s.Sign(webhookID, at, body)
}

// bodyHMAC is HMAC-SHA256(key, body): the X-UMAaas-Signature, Lightspark and
// Coinbase Commerce schemes.
func bodyHMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// standardHMAC is HMAC-SHA256(key, id "." timestamp "." body), written in
// pieces so the body is never copied.
func standardHMAC(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signedContent is the Standard Webhooks signed content for ed25519, which
// needs the message in one piece.
func signedContent(id, ts string, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(ts)+2+len(body))
	b = append(b, id...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}

// maxMessageID bounds webhook ids; ours are 44 bytes ("Webhook:" + uuid).
const maxMessageID = 256

// checkMessageID enforces what makes the signed content unambiguous and the
// header safe: non-empty, bounded, printable ASCII without '.', space or
// separators that could split a header.
func checkMessageID(id string) error {
	if id == "" || len(id) > maxMessageID {
		return fmt.Errorf("webhook: webhook id must be 1 to %d bytes", maxMessageID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == ',' || c == '"' || c == '\\' {
			return fmt.Errorf("webhook: webhook id has a forbidden character at byte %d", i)
		}
	}
	return nil
}
