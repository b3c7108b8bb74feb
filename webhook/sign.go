package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
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
	// HMAC-SHA256 states keyed with raw and key, reused across requests
	// (Reset restores the keyed state without hashing the key's pads
	// again, and nothing is allocated): a Signer kept for many attempts
	// signs each at about half the cost of fresh hmac.New pairs.
	rawMACs, keyMACs *sync.Pool
}

func macPool(key []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
}

// mac computes HMAC-SHA256 with a state from pool over the parts, appended
// to dst.
func mac(dst []byte, pool *sync.Pool, parts ...[]byte) []byte {
	m := pool.Get().(hash.Hash)
	m.Reset()
	for _, p := range parts {
		m.Write(p)
	}
	dst = m.Sum(dst)
	pool.Put(m)
	return dst
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
		// X-UMAaas-Signature is keyed with the secret as written, while
		// base64 decoding skips line ends: a secret carrying one would sign
		// what NewUMAaaSVerifier, which refuses white space, cannot check.
		if strings.ContainsAny(sec, " \t\r\n\v\f") {
			return nil, fmt.Errorf("%w: secret %d contains white space (a line end from a file?)", ErrInvalidKey, i)
		}
		key, err := ParseSecret(sec)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		raw := []byte(sec)
		s.secrets = append(s.secrets, parsedSecret{raw: raw, key: key, rawMACs: macPool(raw), keyMACs: macPool(key)})
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
	h := make(http.Header, 4)
	if err := s.SignTo(h, webhookID, at, body); err != nil {
		return nil, err
	}
	return h, nil
}

// The headers' canonical keys, as http.Header.Set would store them; SignTo
// stores them so without canonicalizing each name on every request.
var (
	keyUMAaaSSignature  = textproto.CanonicalMIMEHeaderKey(HeaderUMAaaSSignature)
	keyWebhookID        = textproto.CanonicalMIMEHeaderKey(HeaderWebhookID)
	keyWebhookTimestamp = textproto.CanonicalMIMEHeaderKey(HeaderWebhookTimestamp)
	keyWebhookSignature = textproto.CanonicalMIMEHeaderKey(HeaderWebhookSignature)
)

// SignTo is Sign that sets the four headers in h, the request's own header,
// replacing any values they had. On error h is left as it was.
func (s *Signer) SignTo(h http.Header, webhookID string, at time.Time, body []byte) error {
	if err := checkMessageID(webhookID); err != nil {
		return err
	}
	ts := at.Unix()
	if ts <= 0 {
		return errors.New("webhook: attempt time must be after 1970")
	}
	// One buffer holds the Standard Webhooks prefix `id "." timestamp "."`
	// (hashed before the body) and then the values of the two signature
	// headers, made one string at the end: a request's signing allocates a
	// handful of objects, not one per piece.
	n := len(s.secrets)
	buf := make([]byte, 0, len(webhookID)+22+n*(sha256.Size*2+1)+n*48+len(s.keys)*92)
	buf = append(buf, webhookID...)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, ts, 10)
	buf = append(buf, '.')
	prefix := buf[:len(buf):len(buf)]
	tsEnd := len(buf) - 1
	sums := make([]byte, 2*n*sha256.Size)
	for i, sec := range s.secrets {
		// HMAC-SHA256(raw secret, body): the X-UMAaas-Signature,
		// Lightspark and Coinbase Commerce schemes; and HMAC-SHA256(key,
		// id "." timestamp "." body), Standard Webhooks v1, written in
		// pieces so the body is never copied.
		mac(sums[2*i*sha256.Size:2*i*sha256.Size], sec.rawMACs, body)
		mac(sums[(2*i+1)*sha256.Size:(2*i+1)*sha256.Size], sec.keyMACs, prefix, body)
	}
	// X-UMAaas-Signature: one lowercase hex value per secret, newest first,
	// separated by a space (only during rotation is there more than one).
	umaaasAt := len(buf)
	for i := range s.secrets {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = hex.AppendEncode(buf, sums[2*i*sha256.Size:(2*i+1)*sha256.Size])
	}
	// webhook-signature: "v1,<b64>" per secret then "v1a,<b64>" per key.
	stdAt := len(buf)
	for i := range s.secrets {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = append(buf, "v1,"...)
		buf = base64.StdEncoding.AppendEncode(buf, sums[(2*i+1)*sha256.Size:(2*i+2)*sha256.Size])
	}
	if len(s.keys) > 0 {
		content := signedContent(webhookID, string(prefix[len(webhookID)+1:tsEnd]), body)
		for _, k := range s.keys {
			buf = append(buf, " v1a,"...)
			buf = base64.StdEncoding.AppendEncode(buf, ed25519.Sign(k, content))
		}
	}
	all := string(buf)
	// One backing array for the four values.
	vals := make([]string, 4)
	vals[0], vals[1], vals[2], vals[3] = all[umaaasAt:stdAt], webhookID, all[len(webhookID)+1:tsEnd], all[stdAt:]
	h[keyUMAaaSSignature] = vals[0:1:1]
	h[keyWebhookID] = vals[1:2:2]
	h[keyWebhookTimestamp] = vals[2:3:3]
	h[keyWebhookSignature] = vals[3:4:4]
	return nil
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
