package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/webhook"
)

// Webhook types sent by vaspd (UMAaaS WebhookType).
const (
	TypeIncomingPayment   = "INCOMING_PAYMENT"
	TypeOutgoingPayment   = "OUTGOING_PAYMENT"
	TypeTest              = "TEST"
	TypeBulkUpload        = "BULK_UPLOAD"
	TypeInvitationClaimed = "INVITATION_CLAIMED"
)

// Event is one webhook to announce. Its body is Data's JSON object plus the
// UMAaaS envelope: "timestamp" (Time, RFC 3339), "webhookId" (ID) and "type".
// The body is encoded once, at Enqueue, and every attempt sends and signs
// those exact bytes.
type Event struct {
	// Type is the UMAaaS webhook type, e.g. TypeIncomingPayment.
	Type string
	// Time is when the event happened; zero means now.
	Time time.Time
	// ID is the webhookId ("Webhook:<uuidv7>"); empty means a new one. A
	// caller that needs the id inside its own records may set it.
	ID string
	// Data holds the type-specific fields: one of the webhook package's
	// typed webhooks (e.g. *webhook.IncomingPaymentWebhook), whose envelope
	// Enqueue fills in, or any value that marshals to a JSON object (or nil),
	// whose envelope keys are replaced.
	Data any
}

var typePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_.]{0,63}$`)

// encode validates e, fills its defaults and returns the body.
func (e *Event) encode(now time.Time) ([]byte, error) {
	typed, isTyped := asTyped(e.Data)
	if e.Type == "" && isTyped {
		e.Type = string(typed.Envelope().Type)
	}
	if !typePattern.MatchString(e.Type) {
		return nil, fmt.Errorf("delivery: event type %q must match %s", e.Type, typePattern)
	}
	if e.ID == "" {
		e.ID = vaspd.NewID(vaspd.IDWebhook)
	} else if _, err := vaspd.ParseID(vaspd.IDWebhook, e.ID); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond) // what the database keeps
	if isTyped {
		env := typed.Envelope()
		if string(env.Type) != "" && string(env.Type) != e.Type {
			return nil, fmt.Errorf("delivery: event type %s but %T says %s", e.Type, e.Data, env.Type)
		}
		env.Type, env.WebhookID, env.Timestamp = webhook.WebhookType(e.Type), e.ID, e.Time
		body, err := json.Marshal(typed)
		if err != nil {
			return nil, fmt.Errorf("delivery: encode %s: %w", e.Type, err)
		}
		return body, nil
	}
	if m, ok := e.Data.(map[string]any); ok {
		// The common untyped case, encoded in one pass instead of three
		// (marshal, parse back, marshal); same bytes as the general path.
		fields := make(map[string]any, len(m)+3)
		maps.Copy(fields, m)
		fields["timestamp"], fields["webhookId"], fields["type"] = e.Time.Format(time.RFC3339Nano), e.ID, e.Type
		body, err := json.Marshal(fields)
		if err != nil {
			return nil, fmt.Errorf("delivery: encode %s data: %w", e.Type, err)
		}
		return body, nil
	}
	fields := map[string]json.RawMessage{}
	if e.Data != nil {
		raw, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("delivery: encode %s data: %w", e.Type, err)
		}
		if !bytes.Equal(raw, []byte("null")) {
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, fmt.Errorf("delivery: %s data must be a JSON object: %w", e.Type, err)
			}
		}
	}
	fields["timestamp"], _ = json.Marshal(e.Time.Format(time.RFC3339Nano))
	fields["webhookId"], _ = json.Marshal(e.ID)
	fields["type"], _ = json.Marshal(e.Type)
	return json.Marshal(fields)
}

// asTyped returns data as one of the webhook package's typed webhooks, if it
// is a non-nil one.
func asTyped(data any) (webhook.Event, bool) {
	typed, ok := data.(webhook.Event)
	if !ok || typed == nil {
		return nil, false
	}
	if v := reflect.ValueOf(typed); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, false
	}
	return typed, typed.Envelope() != nil
}
