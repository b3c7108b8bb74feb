package webhook

import (
	"encoding/json"
	"time"
)

// This file models the UMAaaS webhook payloads (umaaas-api OpenAPI, schemas
// BaseWebhook and its five subtypes) with their exact JSON names, plus
// UMA_REQUEST, vaspd's own type. vaspd builds its payloads from these
// structs and platforms decode them with [Parse], so both sides share one
// definition. (UMA_REQUEST's [UmaRequest] is also what GET /uma-requests/{id}
// answers, from package vasp's own struct, less the status and
// transactionId GET derives when read; api's TestUmaRequestWebhookParses
// checks the two agree.)
//
// Money is int64 in the currency's smallest unit. Exchange rates and fee
// rates are exact decimal text (json.Number), never float64, so a value is
// carried from sender to receiver without rounding.

// WebhookType names the kind of event; it is the JSON "type" field.
type WebhookType string

// The UMAaaS webhook types.
const (
	TypeIncomingPayment   WebhookType = "INCOMING_PAYMENT"
	TypeOutgoingPayment   WebhookType = "OUTGOING_PAYMENT"
	TypeTest              WebhookType = "TEST"
	TypeBulkUpload        WebhookType = "BULK_UPLOAD"
	TypeInvitationClaimed WebhookType = "INVITATION_CLAIMED"
)

// TypeUmaRequest is vaspd's own webhook type (UMAaaS has no UMA requests):
// another VASP sent one of the platform's users an UMA request.
const TypeUmaRequest WebhookType = "UMA_REQUEST"

// BaseWebhook is the envelope every webhook body carries, after the
// type-specific fields.
type BaseWebhook struct {
	// Timestamp is when the event happened (RFC 3339). It does not change on
	// retries; the attempt time is the webhook-timestamp header.
	Timestamp time.Time `json:"timestamp"`
	// WebhookID is "Webhook:<uuidv7>", the same on every retry: the
	// idempotency key receivers de-duplicate on.
	WebhookID string `json:"webhookId"`
	// Type selects the payload.
	Type WebhookType `json:"type"`
}

// Envelope returns the envelope; it makes every webhook struct an [Event].
func (b *BaseWebhook) Envelope() *BaseWebhook { return b }

// Event is a decoded webhook: one of *IncomingPaymentWebhook,
// *OutgoingPaymentWebhook, *TestWebhook, *BulkUploadWebhook,
// *InvitationClaimedWebhook, *UmaRequestWebhook (vaspd's own), or
// *UnknownWebhook for types this version does not know.
type Event interface {
	Envelope() *BaseWebhook
}

// IncomingPaymentWebhook (INCOMING_PAYMENT) asks the platform to approve a
// PENDING incoming payment, or reports a later status (COMPLETED, FAILED…).
type IncomingPaymentWebhook struct {
	Transaction IncomingTransaction `json:"transaction"`
	// RequestedReceiverUserInfoFields lists what the sender's VASP wants to
	// know about the receiver; an approval must carry the mandatory ones.
	// vaspd lists them by name, leaves out IDENTIFIER (it sends the user's
	// UMA address itself) and marks mandatory only what the platform must
	// give (not FULL_NAME for a user vaspd has a name for).
	RequestedReceiverUserInfoFields []CounterpartyFieldDefinition `json:"requestedReceiverUserInfoFields,omitempty"`
	BaseWebhook
}

// OutgoingPaymentWebhook (OUTGOING_PAYMENT) reports that an outgoing payment
// COMPLETED or FAILED.
type OutgoingPaymentWebhook struct {
	Transaction OutgoingTransaction `json:"transaction"`
	BaseWebhook
}

// TestWebhook (TEST) has no payload; it is sent when the webhook URL is set
// and on POST /webhooks/test. The specification calls it TestWebhookRequest.
type TestWebhook struct {
	BaseWebhook
}

// BulkUploadWebhook (BULK_UPLOAD) reports a finished CSV user import.
type BulkUploadWebhook struct {
	BulkUserImportJob BulkUserImportJob `json:"bulkUserImportJob"`
	BaseWebhook
}

// InvitationClaimedWebhook (INVITATION_CLAIMED) reports a claimed
// invitation. If the invitation carries amountToSend, the inviter's platform
// is expected to pay the invitee now.
type InvitationClaimedWebhook struct {
	Invitation UmaInvitation `json:"invitation"`
	BaseWebhook
}

// UmaRequestWebhook (UMA_REQUEST, vaspd's own type) reports that another
// VASP sent one of the platform's users an UMA request (UMAD-11: an UMA
// invoice saying "pay me this"). It is sent once per request and is
// informational: acknowledge it with [OK]. If the user wants to pay, the
// platform looks up UmaRequest.ReceiverUmaAddress and makes a
// receiver-locked quote (POST /quotes) for UmaRequest.Amount in
// UmaRequest.Currency with "umaRequestId": UmaRequest.ID.
type UmaRequestWebhook struct {
	UmaRequest UmaRequest `json:"umaRequest"`
	// PlatformUserID is the platform's own id of the user asked to pay
	// (UmaRequest.UserID is vaspd's).
	PlatformUserID string `json:"platformUserId"`
	BaseWebhook
}

// UmaRequest is an UMA request received for one of the platform's users:
// the object GET /uma-requests/{id} answers, as received. GET adds where
// the request stands (status PENDING, PROCESSING, PAID or EXPIRED, and the
// transactionId paying or paid it), which this webhook, sent at receipt,
// does not carry: the request is PENDING then.
type UmaRequest struct {
	// ID is "UmaRequest:<uuidv7>", what a quote paying it names as umaRequestId.
	ID string `json:"id"`
	// UserID is vaspd's id of the user asked to pay (the invoice's senderUma).
	UserID string `json:"userId"`
	// ReceiverUmaAddress is who asks to be paid, at the other VASP.
	ReceiverUmaAddress string `json:"receiverUmaAddress"`
	// InvoiceUUID is the invoice's own id, which the payment will name.
	InvoiceUUID string `json:"invoiceUUID"`
	// Invoice is the signed UMA invoice as received (bech32, "uma1…").
	Invoice string `json:"invoice"`
	// Amount is in the smallest unit of Currency.
	Amount int64 `json:"amount"`
	// Currency is the code of the currency the receiver wants (e.g. "USD").
	Currency string `json:"currency"`
	// ExpiresAt is when the invoice stops being payable.
	ExpiresAt time.Time `json:"expiresAt"`
	// CreatedAt is when vaspd received the request.
	CreatedAt time.Time `json:"createdAt"`
}

// UnknownWebhook is a webhook whose type this version does not model; Raw
// is the whole body, so the platform can still decode it.
type UnknownWebhook struct {
	BaseWebhook
	Raw json.RawMessage `json:"-"`
}

// TestWebhookResponse is the platform-API answer to POST /webhooks/test
// (snake_case names, as in the specification).
type TestWebhookResponse struct {
	URL            string `json:"url,omitempty"`
	ResponseStatus int    `json:"response_status"`
	ResponseBody   string `json:"response_body,omitempty"`
}

// Currency describes a currency; Decimals says where the point goes in
// amounts ("SAT" has 0, "USD" 2).
type Currency struct {
	Code     string `json:"code,omitempty"`
	Name     string `json:"name,omitempty"`
	Symbol   string `json:"symbol,omitempty"`
	Decimals int    `json:"decimals"`
}

// CurrencyAmount is an amount in the currency's smallest unit.
type CurrencyAmount struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// TransactionStatus is the lifecycle state of a transaction.
type TransactionStatus string

// Transaction statuses.
const (
	StatusCreated    TransactionStatus = "CREATED"
	StatusPending    TransactionStatus = "PENDING"
	StatusProcessing TransactionStatus = "PROCESSING"
	StatusCompleted  TransactionStatus = "COMPLETED"
	StatusRejected   TransactionStatus = "REJECTED"
	StatusFailed     TransactionStatus = "FAILED"
	StatusRefunded   TransactionStatus = "REFUNDED"
	StatusExpired    TransactionStatus = "EXPIRED"
)

// TransactionType is the direction of a transaction.
type TransactionType string

// Transaction directions.
const (
	TransactionIncoming TransactionType = "INCOMING"
	TransactionOutgoing TransactionType = "OUTGOING"
)

// Transaction holds the fields common to incoming and outgoing transactions
// (the specification's Transaction base schema).
type Transaction struct {
	ID                 string            `json:"id"`
	Status             TransactionStatus `json:"status"`
	Type               TransactionType   `json:"type"`
	SenderUmaAddress   string            `json:"senderUmaAddress"`
	ReceiverUmaAddress string            `json:"receiverUmaAddress"`
	// UserID and PlatformUserID name the platform's user: the receiver of an
	// incoming payment, the sender of an outgoing one.
	UserID         string    `json:"userId"`
	PlatformUserID string    `json:"platformUserId"`
	SettledAt      time.Time `json:"settledAt,omitzero"`
	CreatedAt      time.Time `json:"createdAt,omitzero"`
	Description    string    `json:"description,omitempty"`
	// CounterpartyInformation is what the other VASP told us about its user,
	// keyed by UserInfoFieldName. Numbers decode as json.Number.
	CounterpartyInformation map[string]any `json:"counterpartyInformation,omitempty"`
}

// IncomingTransaction is a payment to one of the platform's users.
type IncomingTransaction struct {
	Transaction
	ReceivedAmount CurrencyAmount `json:"receivedAmount"`
	// ReconciliationInstructions is present in every status but CREATED.
	ReconciliationInstructions *ReconciliationInstructions `json:"reconciliationInstructions,omitempty"`
	RateDetails                *IncomingRateDetails        `json:"rateDetails,omitempty"`
	FailureReason              string                      `json:"failureReason,omitempty"`
	// PaymentRequestID (vaspd's own) is the payment request this payment
	// pays: its payreq named the invoiceUUID of an UMA invoice the
	// platform had vaspd issue (POST /payment-requests). Absent otherwise.
	PaymentRequestID string `json:"paymentRequestId,omitempty"`
}

// Why an incoming transaction failed: the specification's
// IncomingTransactionFailureReason enum, the only values failureReason
// takes on an IncomingTransaction.
const (
	IncomingFailureLnurlpFailed              = "LNURLP_FAILED"
	IncomingFailurePayRequestFailed          = "PAY_REQUEST_FAILED"
	IncomingFailureApprovalWebhookError      = "PAYMENT_APPROVAL_WEBHOOK_ERROR"
	IncomingFailureApprovalTimedOut          = "PAYMENT_APPROVAL_TIMED_OUT"
	IncomingFailureOfframpFailed             = "OFFRAMP_FAILED"
	IncomingFailureMissingMandatoryPayeeData = "MISSING_MANDATORY_PAYEE_DATA"
	IncomingFailureQuoteExpired              = "QUOTE_EXPIRED"
	IncomingFailureQuoteExecutionFailed      = "QUOTE_EXECUTION_FAILED"
)

// IncomingFailureReasons lists the IncomingFailure values.
var IncomingFailureReasons = []string{IncomingFailureLnurlpFailed, IncomingFailurePayRequestFailed,
	IncomingFailureApprovalWebhookError, IncomingFailureApprovalTimedOut, IncomingFailureOfframpFailed,
	IncomingFailureMissingMandatoryPayeeData, IncomingFailureQuoteExpired, IncomingFailureQuoteExecutionFailed}

// ReconciliationInstructions carries the reference that matches a payout.
type ReconciliationInstructions struct {
	Reference string `json:"reference"`
}

// IncomingRateDetails explains the conversion of an incoming payment.
type IncomingRateDetails struct {
	// UmaaasMultiplier converts millisatoshis to the receiving currency,
	// variable fees included.
	UmaaasMultiplier json.Number `json:"umaaasMultiplier"`
	// UmaaasFixedFee is in the receiving currency's smallest unit.
	UmaaasFixedFee        int64       `json:"umaaasFixedFee"`
	UmaaasVariableFeeRate json.Number `json:"umaaasVariableFeeRate"`
	// UmaaasVariableFeeAmount is in the receiving currency's smallest unit.
	UmaaasVariableFeeAmount int64 `json:"umaaasVariableFeeAmount"`
}

// OutgoingTransaction is a payment from one of the platform's users.
type OutgoingTransaction struct {
	Transaction
	SentAmount     CurrencyAmount  `json:"sentAmount"`
	ReceivedAmount *CurrencyAmount `json:"receivedAmount,omitempty"`
	// ExchangeRate is sending-currency units per receiving-currency unit.
	ExchangeRate json.Number `json:"exchangeRate,omitempty"`
	// Fees is in the sending currency's smallest unit; nil when not reported.
	Fees                       *int64               `json:"fees,omitempty"`
	QuoteID                    string               `json:"quoteId,omitempty"`
	OriginalTransactionID      string               `json:"originalTransactionId,omitempty"`
	PaymentInstructions        PaymentInstructions  `json:"paymentInstructions"`
	Refund                     *Refund              `json:"refund,omitempty"`
	RateDetails                *OutgoingRateDetails `json:"rateDetails,omitempty"`
	FailureReason              string               `json:"failureReason,omitempty"`
	CounterpartyDeliveryStatus string               `json:"counterpartyDeliveryStatus,omitempty"`
}

// Why an outgoing transaction failed: the specification's
// OutgoingTransactionFailureReason enum, the only values failureReason
// takes on an OutgoingTransaction.
const (
	OutgoingFailureQuoteExpired             = "QUOTE_EXPIRED"
	OutgoingFailureQuoteExecutionFailed     = "QUOTE_EXECUTION_FAILED"
	OutgoingFailureLightningPaymentFailed   = "LIGHTNING_PAYMENT_FAILED"
	OutgoingFailureFundingAmountMismatch    = "FUNDING_AMOUNT_MISMATCH"
	OutgoingFailureCounterpartyPostTxFailed = "COUNTERPARTY_POST_TX_FAILED"
	OutgoingFailureTimeout                  = "TIMEOUT"
	OutgoingFailureManualRefund             = "MANUAL_REFUND"
)

// OutgoingFailureReasons lists the OutgoingFailure values.
var OutgoingFailureReasons = []string{OutgoingFailureQuoteExpired, OutgoingFailureQuoteExecutionFailed,
	OutgoingFailureLightningPaymentFailed, OutgoingFailureFundingAmountMismatch,
	OutgoingFailureCounterpartyPostTxFailed, OutgoingFailureTimeout, OutgoingFailureManualRefund}

// PaymentInstructions say how the platform funds an outgoing payment.
type PaymentInstructions struct {
	Reference         string             `json:"reference"`
	InstructionsNotes string             `json:"instructionsNotes,omitempty"`
	BankAccountInfo   PaymentAccountInfo `json:"bankAccountInfo"`
}

// PaymentAccountInfo is the specification's oneOf of account kinds,
// flattened: AccountType (CLABE, US_ACCOUNT, PIX, IBAN, FBO, UPI) says which
// of the other fields are set.
type PaymentAccountInfo struct {
	AccountType       string `json:"accountType"`
	ClabeNumber       string `json:"clabeNumber,omitempty"`
	AccountNumber     string `json:"accountNumber,omitempty"`
	RoutingNumber     string `json:"routingNumber,omitempty"`
	AccountCategory   string `json:"accountCategory,omitempty"`
	PixKey            string `json:"pixKey,omitempty"`
	PixKeyType        string `json:"pixKeyType,omitempty"`
	IBAN              string `json:"iban,omitempty"`
	SwiftBic          string `json:"swiftBic,omitempty"`
	VPA               string `json:"vpa,omitempty"`
	BankName          string `json:"bankName,omitempty"`
	AccountHolderName string `json:"accountHolderName,omitempty"`
	PaymentURL        string `json:"paymentUrl,omitempty"`
	PaymentMethod     string `json:"paymentMethod,omitempty"`
}

// Refund describes the refund of a failed outgoing payment.
type Refund struct {
	Reference   string    `json:"reference"`
	InitiatedAt time.Time `json:"initiatedAt"`
	SettledAt   time.Time `json:"settledAt,omitzero"`
}

// OutgoingRateDetails explains the conversion of an outgoing payment.
type OutgoingRateDetails struct {
	// CounterpartyMultiplier converts millisatoshis to the receiving currency.
	CounterpartyMultiplier json.Number `json:"counterpartyMultiplier"`
	// CounterpartyFixedFee is in the receiving currency's smallest unit.
	CounterpartyFixedFee int64 `json:"counterpartyFixedFee"`
	// UmaaasMultiplier converts the sending currency to millisatoshis.
	UmaaasMultiplier json.Number `json:"umaaasMultiplier"`
	// UmaaasFixedFee is in the sending currency's smallest unit.
	UmaaasFixedFee        int64       `json:"umaaasFixedFee"`
	UmaaasVariableFeeRate json.Number `json:"umaaasVariableFeeRate"`
	// UmaaasVariableFeeAmount is in the sending currency's smallest unit.
	UmaaasVariableFeeAmount int64 `json:"umaaasVariableFeeAmount"`
}

// CounterpartyFieldDefinition names a piece of user information and
// whether it is mandatory.
type CounterpartyFieldDefinition struct {
	Name      string `json:"name"`
	Mandatory bool   `json:"mandatory"`
}

// UserInfoFieldName values (the specification's UserInfoFieldName enum).
const (
	FieldFullName                   = "FULL_NAME"
	FieldBirthDate                  = "BIRTH_DATE"
	FieldNationality                = "NATIONALITY"
	FieldPhoneNumber                = "PHONE_NUMBER"
	FieldEmail                      = "EMAIL"
	FieldPostalAddress              = "POSTAL_ADDRESS"
	FieldTaxID                      = "TAX_ID"
	FieldRegistrationNumber         = "REGISTRATION_NUMBER"
	FieldUserType                   = "USER_TYPE"
	FieldCountryOfResidence         = "COUNTRY_OF_RESIDENCE"
	FieldAccountIdentifier          = "ACCOUNT_IDENTIFIER"
	FieldFILegalEntityName          = "FI_LEGAL_ENTITY_NAME"
	FieldFIAddress                  = "FI_ADDRESS"
	FieldPurposeOfPayment           = "PURPOSE_OF_PAYMENT"
	FieldUltimateInstitutionCountry = "ULTIMATE_INSTITUTION_COUNTRY"
	FieldIdentifier                 = "IDENTIFIER"
	FieldBusinessType               = "BUSINESS_TYPE"
)

// BulkUserImportJob is the state of a CSV user import.
type BulkUserImportJob struct {
	JobID    string `json:"jobId"`
	Status   string `json:"status"` // PENDING, PROCESSING, COMPLETED, FAILED
	Progress struct {
		Total      int64 `json:"total"`
		Processed  int64 `json:"processed"`
		Successful int64 `json:"successful"`
		Failed     int64 `json:"failed"`
	} `json:"progress"`
	Errors      []BulkImportError `json:"errors,omitempty"`
	CompletedAt time.Time         `json:"completedAt,omitzero"`
}

// BulkImportError is one failed row of a bulk import.
type BulkImportError struct {
	// CorrelationID is the platform user id or the row ("row_1").
	CorrelationID string   `json:"correlationId"`
	Error         APIError `json:"error"`
}

// APIError is the specification's Error object, as found inside payloads
// and in webhook replies.
type APIError struct {
	Status  int            `json:"status,omitempty"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// UmaInvitation is an invitation to open an UMA account.
type UmaInvitation struct {
	Code       string    `json:"code"`
	CreatedAt  time.Time `json:"createdAt"`
	ClaimedAt  time.Time `json:"claimedAt,omitzero"`
	URL        string    `json:"url"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	InviterUma string    `json:"inviterUma"`
	InviteeUma string    `json:"inviteeUma,omitempty"`
	Status     string    `json:"status"` // PENDING, CLAIMED, EXPIRED, CANCELLED
	FirstName  string    `json:"firstName,omitempty"`
	// AmountToSend, in the inviter's currency, is what the inviter's
	// platform should pay the invitee once the invitation is claimed.
	AmountToSend       *CurrencyAmount `json:"amountToSend,omitempty"`
	InviteeCountryCode string          `json:"inviteeCountryCode,omitempty"`
}
