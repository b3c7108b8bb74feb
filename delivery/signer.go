package delivery

import (
	"net/http"
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
func DefaultSigner() Signer {
	return SignerFunc(func(h http.Header, m SignInput) error {
		k := webhook.Keys{Secrets: m.Secrets}
		if m.SigningKey != "" {
			k.SigningKeys = []string{m.SigningKey}
		}
		sh, err := webhook.Sign(k, m.WebhookID, m.Timestamp, m.Body)
		if err != nil {
			return err
		}
		for name, v := range sh {
			h[name] = v
		}
		return nil
	})
}
