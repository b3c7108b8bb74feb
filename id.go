package vaspd

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Identifier types used on the platform API. Every id vaspd hands out is
// "<Type>:<uuidv7>", so ids sort by creation time and say what they name.
const (
	IDUser        = "User"
	IDToken       = "Token"
	IDTransaction = "Transaction"
	IDQuote       = "Quote"
	IDLookup      = "Lookup"
	IDWebhook     = "Webhook"
	IDEndpoint    = "WebhookEndpoint"
	IDDelivery    = "WebhookDelivery"
	IDJob         = "Job"
	IDInvitation  = "Invitation"
	IDPlatform    = "Platform"
	IDPayment     = "Payment"
	IDPosting     = "Posting"
	IDUmaRequest  = "UmaRequest"
	IDAuditEvent  = "AuditEvent"
	// IDPaymentRequest names a payment request we issued (vasp).
	IDPaymentRequest = "PaymentRequest"
)

// NewID returns a fresh "<typ>:<uuidv7>" identifier. It panics only if the
// system's random source fails, which crypto/rand treats as fatal anyway.
func NewID(typ string) string {
	return typ + ":" + uuid.Must(uuid.NewV7()).String()
}

// ParseID checks that s is a well-formed identifier of type typ and returns
// its UUID part. The error is suitable for a 400 INVALID_INPUT answer.
func ParseID(typ, s string) (uuid.UUID, error) {
	prefix, rest, ok := strings.Cut(s, ":")
	if !ok || prefix != typ {
		return uuid.UUID{}, fmt.Errorf("id %q is not a %s id (want %s:<uuid>)", Truncate(s, 80), typ, typ)
	}
	u, err := uuid.Parse(rest)
	if err != nil || len(rest) != 36 {
		return uuid.UUID{}, fmt.Errorf("id %q has a malformed uuid", Truncate(s, 80))
	}
	return u, nil
}

// CanonicalID checks s as ParseID does and returns it as vaspd issues and
// stores ids: the type as given, the UUID in lower-case hex. A UUID's hex
// is case-insensitive (RFC 9562), so "User:01A2…" names the user stored as
// "User:01a2…"; comparing ids as sent would answer 404 for one that exists.
func CanonicalID(typ, s string) (string, error) {
	u, err := ParseID(typ, s)
	if err != nil {
		return "", err
	}
	return typ + ":" + u.String(), nil
}
