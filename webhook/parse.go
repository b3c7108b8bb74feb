package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalidPayload reports a body that is not a well-formed webhook. It is
// answered with 400: a retry of the same bytes cannot succeed.
var ErrInvalidPayload = errors.New("webhook: invalid payload")

// WebhookIDPrefix starts every vaspd and UMAaaS webhook id.
const WebhookIDPrefix = "Webhook:"

// Parse decodes a verified webhook body into its typed [Event]. Unknown
// types become *UnknownWebhook; unknown fields are ignored so that newer
// senders keep working. Numbers inside free-form objects decode as
// json.Number, never float64.
func Parse(body []byte) (Event, error) {
	var base BaseWebhook
	if err := decode(body, &base); err != nil {
		return nil, err
	}
	if err := checkEnvelope(&base); err != nil {
		return nil, err
	}
	var ev Event
	switch base.Type {
	case TypeIncomingPayment:
		ev = &IncomingPaymentWebhook{}
	case TypeOutgoingPayment:
		ev = &OutgoingPaymentWebhook{}
	case TypeTest:
		ev = &TestWebhook{}
	case TypeBulkUpload:
		ev = &BulkUploadWebhook{}
	case TypeInvitationClaimed:
		ev = &InvitationClaimedWebhook{}
	case TypeUmaRequest:
		ev = &UmaRequestWebhook{}
	default:
		return &UnknownWebhook{BaseWebhook: base, Raw: json.RawMessage(bytes.Clone(body))}, nil
	}
	if err := decode(body, ev); err != nil {
		return nil, err
	}
	if err := checkPayload(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// Marshal encodes ev for sending, after checking the envelope: the type
// must match the struct, the id must be a valid webhook id and the
// timestamp set. The result is the exact body to sign and send.
func Marshal(ev Event) ([]byte, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: nil event", ErrInvalidPayload)
	}
	base := ev.Envelope()
	var want WebhookType
	switch ev.(type) {
	case *IncomingPaymentWebhook:
		want = TypeIncomingPayment
	case *OutgoingPaymentWebhook:
		want = TypeOutgoingPayment
	case *TestWebhook:
		want = TypeTest
	case *BulkUploadWebhook:
		want = TypeBulkUpload
	case *InvitationClaimedWebhook:
		want = TypeInvitationClaimed
	case *UmaRequestWebhook:
		want = TypeUmaRequest
	case *UnknownWebhook:
		return nil, fmt.Errorf("%w: an UnknownWebhook cannot be sent", ErrInvalidPayload)
	default:
		return nil, fmt.Errorf("%w: unsupported event type %T", ErrInvalidPayload, ev)
	}
	if base.Type == "" {
		base.Type = want
	}
	if base.Type != want {
		return nil, fmt.Errorf("%w: type %q on a %T", ErrInvalidPayload, base.Type, ev)
	}
	if err := checkEnvelope(base); err != nil {
		return nil, err
	}
	if err := checkPayload(ev); err != nil {
		return nil, err
	}
	return json.Marshal(ev)
}

func decode(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	// Anything but white space after the object is refused. (d.More()
	// missed a stray "]", which it takes for the end of an array.)
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidPayload)
	}
	return nil
}

func checkEnvelope(b *BaseWebhook) error {
	switch {
	case b.Type == "":
		return fmt.Errorf("%w: missing type", ErrInvalidPayload)
	case len(b.Type) > 64:
		return fmt.Errorf("%w: type too long", ErrInvalidPayload)
	case !strings.HasPrefix(b.WebhookID, WebhookIDPrefix):
		return fmt.Errorf("%w: webhookId must start with %q", ErrInvalidPayload, WebhookIDPrefix)
	case checkMessageID(b.WebhookID) != nil:
		return fmt.Errorf("%w: malformed webhookId", ErrInvalidPayload)
	case b.Timestamp.IsZero():
		return fmt.Errorf("%w: missing timestamp", ErrInvalidPayload)
	}
	return nil
}

// checkPayload enforces the fields the specification marks required that a
// receiver cannot do without (for UMA_REQUEST, vaspd's own type: what paying
// the request takes).
func checkPayload(ev Event) error {
	switch e := ev.(type) {
	case *IncomingPaymentWebhook:
		if e.Transaction.ID == "" || e.Transaction.Status == "" {
			return fmt.Errorf("%w: INCOMING_PAYMENT without transaction id and status", ErrInvalidPayload)
		}
		if e.Transaction.Type != "" && e.Transaction.Type != TransactionIncoming {
			return fmt.Errorf("%w: INCOMING_PAYMENT carries a %s transaction", ErrInvalidPayload, e.Transaction.Type)
		}
	case *OutgoingPaymentWebhook:
		if e.Transaction.ID == "" || e.Transaction.Status == "" {
			return fmt.Errorf("%w: OUTGOING_PAYMENT without transaction id and status", ErrInvalidPayload)
		}
		if e.Transaction.Type != "" && e.Transaction.Type != TransactionOutgoing {
			return fmt.Errorf("%w: OUTGOING_PAYMENT carries a %s transaction", ErrInvalidPayload, e.Transaction.Type)
		}
	case *BulkUploadWebhook:
		if e.BulkUserImportJob.JobID == "" {
			return fmt.Errorf("%w: BULK_UPLOAD without bulkUserImportJob.jobId", ErrInvalidPayload)
		}
	case *InvitationClaimedWebhook:
		if e.Invitation.Code == "" {
			return fmt.Errorf("%w: INVITATION_CLAIMED without invitation.code", ErrInvalidPayload)
		}
	case *UmaRequestWebhook:
		r := e.UmaRequest
		if r.ID == "" || r.UserID == "" || r.ReceiverUmaAddress == "" || r.Currency == "" || r.Amount <= 0 {
			return fmt.Errorf("%w: UMA_REQUEST without umaRequest id, userId, receiverUmaAddress, currency and a positive amount", ErrInvalidPayload)
		}
	}
	return nil
}
