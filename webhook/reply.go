package webhook

import "net/http"

// Reply is what the platform's [EventHandler] answers; [Handler] writes it
// as the HTTP response. The zero Reply is a plain 200 acknowledgement.
type Reply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Body, if not nil, is encoded as JSON.
	Body any
}

// IncomingPaymentWebhookResponse is the 200 body approving a PENDING
// incoming payment.
type IncomingPaymentWebhookResponse struct {
	// ReceiverUserInfo answers the webhook's requestedReceiverUserInfoFields,
	// keyed by field name (FULL_NAME, NATIONALITY…).
	ReceiverUserInfo map[string]any `json:"receiverUserInfo,omitempty"`
}

// IncomingPaymentWebhookForbiddenResponse is the 403 body rejecting a
// payment.
type IncomingPaymentWebhookForbiddenResponse struct {
	APIError
	// Reason is free text for the platform's own use, e.g.
	// "RESTRICTED_JURISDICTION".
	Reason string `json:"reason,omitempty"`
}

// IncomingPaymentWebhookUnprocessableResponse is the 422 body asking for
// more counterparty information.
type IncomingPaymentWebhookUnprocessableResponse struct {
	APIError
	// RequiredFields are UserInfoFieldName values missing from the
	// transaction's counterpartyInformation.
	RequiredFields []string `json:"requiredFields"`
}

// Codes used in the reply bodies built here.
const (
	CodeRejectedByPlatform     = "REJECTED_BY_PLATFORM"
	CodeAdditionalInfoRequired = "ADDITIONAL_INFO_REQUIRED"
)

// OK acknowledges an informational webhook (200, no body).
func OK() Reply { return Reply{Status: http.StatusOK} }

// Approve approves a PENDING incoming payment (200) and supplies the
// receiver information the webhook requested; nil is allowed when nothing
// was requested.
func Approve(receiverUserInfo map[string]any) Reply {
	return Reply{Status: http.StatusOK, Body: IncomingPaymentWebhookResponse{ReceiverUserInfo: receiverUserInfo}}
}

// Async accepts a PENDING incoming payment for asynchronous review (202).
// The platform must then call POST /transactions/{id}/approve or /reject
// before the sender's deadline, or the payment is rejected.
func Async() Reply { return Reply{Status: http.StatusAccepted} }

// Reject refuses a PENDING incoming payment (403). reason is for the
// platform's own records, e.g. "FAILED_COUNTERPARTY_CHECK".
func Reject(reason string) Reply {
	return Reply{Status: http.StatusForbidden, Body: IncomingPaymentWebhookForbiddenResponse{
		APIError: APIError{Code: CodeRejectedByPlatform, Message: "payment rejected by the platform"},
		Reason:   reason,
	}}
}

// NeedMoreInfo asks for counterparty information before deciding (422);
// fields are UserInfoFieldName values such as FieldTaxID.
func NeedMoreInfo(fields ...string) Reply {
	if fields == nil {
		fields = []string{}
	}
	return Reply{Status: http.StatusUnprocessableEntity, Body: IncomingPaymentWebhookUnprocessableResponse{
		APIError:       APIError{Code: CodeAdditionalInfoRequired, Message: "more counterparty information is required"},
		RequiredFields: fields,
	}}
}
