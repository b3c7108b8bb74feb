package delivery

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// Signer adds signature headers to one outgoing attempt. The default is the
// webhook package's signer (X-UMAaas-Signature and the Standard Webhooks
// headers); tests and embedders may supply another.
type Signer interface {
	Sign(h http.Header, m SignInput) error
}

// SignInput is what one attempt signs.
type SignInput struct {
	WebhookID string    // the event's webhookId, the same on every retry
	Timestamp time.Time // this attempt's time (Standard Webhooks webhook-timestamp)
	Body      []byte    // the exact bytes sent
	// Secrets are the endpoint's "whsec_" secrets, current first; during a
	// rotation's grace period the previous one follows, and both sign.
	Secrets []string
	// SigningKey is vaspd's "whsk_" ed25519 key when the endpoint opted
	// into v1a signatures, else empty.
	SigningKey string
}

// SignerFunc adapts a function to Signer.
type SignerFunc func(h http.Header, m SignInput) error

func (f SignerFunc) Sign(h http.Header, m SignInput) error { return f(h, m) }

// DefaultSigner is the Signer used when Options.Signer is nil: the webhook
// package's headers (X-UMAaas-Signature and Standard Webhooks, plus v1a when
// the endpoint signs with ed25519). A custom Signer may wrap it.
func DefaultSigner() Signer { return defaultSigner{} }

type defaultSigner struct{}

func (defaultSigner) Sign(h http.Header, m SignInput) error {
	ws, err := webhook.NewSigner(keys(m.Secrets, m.SigningKey))
	if err != nil {
		return err
	}
	return ws.SignTo(h, m.WebhookID, m.Timestamp, m.Body)
}

func keys(secrets []string, signingKey string) webhook.Keys {
	k := webhook.Keys{Secrets: secrets}
	if signingKey != "" {
		k.SigningKeys = []string{signingKey}
	}
	return k
}

// signerCache keeps, for one reading of an endpoint (a target: every row of
// one claim, or every handoff within one reading, shares it), the parsed
// webhook.Signer the default signer uses, so that parsing the secrets and
// keying the HMACs are paid once per reading instead of once per attempt.
// It lives as long as the target does and holds nothing the target does
// not: the same secrets, parsed.
type signerCache struct {
	p atomic.Pointer[cachedSigner]
}

type cachedSigner struct {
	withPrev bool   // signs with t.prev too (a rotation's grace period)
	key      string // the ed25519 signing key, or ""
	s        *webhook.Signer
}

// sign signs one attempt of the cache's target, as defaultSigner would with
// the same input, whose Secrets must be the target's secretsAt (its current
// secret, then its previous one while the grace period lasts). A target's
// secrets are fixed, so their number tells which list signs; the cached
// Signer is reused while that list (the grace period may end mid-reading)
// and the signing key are those it was made with.
func (c *signerCache) sign(h http.Header, in SignInput) error {
	withPrev := len(in.Secrets) > 1
	e := c.p.Load()
	if e == nil || e.withPrev != withPrev || e.key != in.SigningKey {
		ws, err := webhook.NewSigner(keys(in.Secrets, in.SigningKey))
		if err != nil {
			return err
		}
		e = &cachedSigner{withPrev: withPrev, key: in.SigningKey, s: ws}
		c.p.Store(e)
	}
	return e.s.SignTo(h, in.WebhookID, in.Timestamp, in.Body)
}
