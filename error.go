package vaspd

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a platform-API error: an HTTP status, a stable machine-readable
// code from the UMAaaS error table, a human message and optional details. The
// api package renders it as {status, code, message, details?}; every handler
// returns errors and never writes error bodies itself, so the shape cannot drift.
type Error struct {
	Status  int            // HTTP status, e.g. 400
	Code    string         // UMAaaS code, e.g. "INVALID_INPUT"
	Message string         // for humans; never contains secrets
	Details map[string]any // optional structured context
	Err     error          // optional cause, logged but never sent to the client
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// WithDetails returns a copy of e with the given details.
func (e *Error) WithDetails(d map[string]any) *Error {
	c := *e
	c.Details = d
	return &c
}

// Errorf builds an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error inside err, or an INTERNAL_ERROR wrapping it.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

// Platform-API error codes (UMAaaS HEAD spec). Grouped by the status they go with.
const (
	// 400
	CodeInvalidInput              = "INVALID_INPUT"
	CodeInvalidRequestFormat      = "INVALID_REQUEST_FORMAT"
	CodeMissingMandatoryUserInfo  = "MISSING_MANDATORY_USER_INFO"
	CodeInvalidUMAAddress         = "INVALID_UMA_ADDRESS"
	CodeQuoteRequestFailed        = "QUOTE_REQUEST_FAILED"
	CodeQuoteExpired              = "QUOTE_EXPIRED"
	CodeInvalidPayreqResponse     = "INVALID_PAYREQ_RESPONSE"
	CodeInvalidReceiver           = "INVALID_RECEIVER"
	CodeSenderNotAccepted         = "SENDER_NOT_ACCEPTED"
	CodeAmountOutOfRange          = "AMOUNT_OUT_OF_RANGE"
	CodeInvalidCurrency           = "INVALID_CURRENCY"
	CodeInvalidAmount             = "INVALID_AMOUNT"
	CodeSelfPayment               = "SELF_PAYMENT"
	CodeLookupRequestFailed       = "LOOKUP_REQUEST_FAILED"
	CodeWebhookEndpointNotSet     = "WEBHOOK_ENDPOINT_NOT_SET"
	CodeWebhookDeliveryError      = "WEBHOOK_DELIVERY_ERROR"
	CodeInsufficientBalance       = "INSUFFICIENT_BALANCE"
	CodeInvitationAlreadyClaimed  = "INVITATION_ALREADY_CLAIMED"
	CodeInvitationCancelled       = "INVITATION_CANCELLED"
	CodeInvitationExpired         = "INVITATION_EXPIRED"
	CodeParseLnurlpResponseError  = "PARSE_LNURLP_RESPONSE_ERROR"
	CodeParsePayreqResponseError  = "PARSE_PAYREQ_RESPONSE_ERROR"
	CodeMissingRequiredUMAParams  = "MISSING_REQUIRED_UMA_PARAMETERS"
	CodeInvalidSignature          = "INVALID_SIGNATURE"
	CodeInvalidTimestamp          = "INVALID_TIMESTAMP"
	CodeInvalidNonce              = "INVALID_NONCE"
	CodeCertChainInvalid          = "CERT_CHAIN_INVALID"
	CodeInvalidPubkeyFormat       = "INVALID_PUBKEY_FORMAT"
	CodeUnsupportedMediaType      = "UNSUPPORTED_MEDIA_TYPE" // 415
	CodeRequestTooLarge           = "REQUEST_TOO_LARGE"      // 413
	CodeMethodNotAllowed          = "METHOD_NOT_ALLOWED"     // 405
	CodeUnauthorized              = "UNAUTHORIZED"           // 401
	CodeForbidden                 = "FORBIDDEN"              // 403
	CodeCrossOriginForbidden      = "CROSS_ORIGIN_FORBIDDEN" // 403
	CodeUserNotReady              = "USER_NOT_READY"
	CodeCounterpartyNotAllowed    = "COUNTERPARTY_NOT_ALLOWED"
	CodeNotFound                  = "NOT_FOUND" // 404 for unknown routes
	CodeUserNotFound              = "USER_NOT_FOUND"
	CodeTransactionNotFound       = "TRANSACTION_NOT_FOUND"
	CodeQuoteNotFound             = "QUOTE_NOT_FOUND"
	CodeLookupRequestNotFound     = "LOOKUP_REQUEST_NOT_FOUND"
	CodeTokenNotFound             = "TOKEN_NOT_FOUND"
	CodeInvitationNotFound        = "INVITATION_NOT_FOUND"
	CodeBulkUploadJobNotFound     = "BULK_UPLOAD_JOB_NOT_FOUND"
	CodeReferenceNotFound         = "REFERENCE_NOT_FOUND" // POST /sandbox/send: no quote has that reference
	CodeWebhookEndpointNotFound   = "WEBHOOK_ENDPOINT_NOT_FOUND"
	CodeWebhookDeliveryNotFound   = "WEBHOOK_DELIVERY_NOT_FOUND"
	CodeUmaRequestNotFound        = "UMA_REQUEST_NOT_FOUND"
	CodePaymentRequestNotFound    = "PAYMENT_REQUEST_NOT_FOUND"
	CodePaymentRequestNotPending  = "PAYMENT_REQUEST_NOT_PENDING"               // 409
	CodeTransactionNotPending     = "TRANSACTION_NOT_PENDING_PLATFORM_APPROVAL" // 409
	CodeUMAAddressExists          = "UMA_ADDRESS_EXISTS"                        // 409
	CodeConflict                  = "CONFLICT"                                  // 409
	CodeInvoiceAlreadyPaid        = "INVOICE_ALREADY_PAID"                      // 409
	CodeQuoteNotPending           = "QUOTE_NOT_PENDING"                         // 409
	CodeQuoteAlreadyExecuted      = "QUOTE_ALREADY_EXECUTED"                    // 409
	CodeIdempotencyKeyReused      = "IDEMPOTENCY_KEY_REUSED"                    // 422
	CodeGone                      = "GONE"                                      // 410
	CodeTooManyAuthFailures       = "TOO_MANY_AUTH_FAILURES"                    // 429
	CodeUnsupportedUMAVersion     = "UNSUPPORTED_UMA_VERSION"                   // 412
	CodePayreqRequestFailed       = "PAYREQ_REQUEST_FAILED"                     // 424
	CodeCounterpartyPubkeyFetch   = "COUNTERPARTY_PUBKEY_FETCH_ERROR"           // 424
	CodeNoCompatibleUMAVersion    = "NO_COMPATIBLE_UMA_VERSION"                 // 424
	CodeLnurlpRequestFailed       = "LNURLP_REQUEST_FAILED"                     // 424
	CodeInternal                  = "INTERNAL_ERROR"                            // 500
	CodeUnavailable               = "SERVICE_UNAVAILABLE"                       // 503
	CodeNotImplemented            = "NOT_IMPLEMENTED"                           // 501
	CodeUnrecognizedMandatoryData = "UNRECOGNIZED_MANDATORY_PAYEE_DATA_KEY"     // 501
)

// Common constructors, so handlers say what went wrong rather than how to render it.

// InvalidInput is a 400 INVALID_INPUT.
func InvalidInput(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, CodeInvalidInput, format, args...)
}

// NotFound is a 404 with the given code (e.g. CodeUserNotFound).
func NotFound(code, format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, code, format, args...)
}

// Conflict is a 409 with the given code.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(http.StatusConflict, code, format, args...)
}

// FailedDependency is a 424: a counterparty VASP failed us at one step of a
// payment (code says which: CodeLnurlpRequestFailed, CodePayreqRequestFailed,
// CodeCounterpartyPubkeyFetch, CodeNoCompatibleUMAVersion). It is not a 5xx:
// nothing of ours is broken, and a retry may succeed once the counterparty
// answers properly.
func FailedDependency(code, format string, args ...any) *Error {
	return Errorf(http.StatusFailedDependency, code, format, args...)
}

// Internal wraps an unexpected error as a 500 whose message reveals nothing.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}
