// Package lightning is the one interface vaspd needs from a Lightning node,
// and nothing more. Implementations: lightning/embedded (the default: a node
// key that signs real BOLT11 on a test network, paying across a loopback
// "devnet") and lightning/lnd (lnd's REST API, for production).
//
// The payment hash is the idempotency key throughout: paying the same invoice
// twice never moves money twice, and a payment in flight when the process
// died is found again by TrackPayment.
package lightning

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Node is a Lightning node as the VASP uses it.
type Node interface {
	// Info returns the node's identity.
	Info(ctx context.Context) (NodeInfo, error)

	// CreateInvoice issues a BOLT11 invoice for amountMsat with the given
	// description hash (LUD-18: sha256 of metadata+payerData) and expiry.
	CreateInvoice(ctx context.Context, req InvoiceRequest) (Invoice, error)

	// LookupInvoice returns an invoice this node issued, by payment hash.
	// ErrNotFound if unknown.
	LookupInvoice(ctx context.Context, paymentHash Hash) (Invoice, error)

	// SubscribeSettled streams invoices settled after the cursor
	// afterSettleIndex (0 = from the beginning), in settle-index order, until
	// ctx ends. The caller persists the last SettleIndex it has processed and
	// resumes from it after a restart, so no settlement is missed or
	// processed twice by a well-behaved caller. The channel is closed when the
	// subscription ends; the error function then reports why (nil on ctx end).
	SubscribeSettled(ctx context.Context, afterSettleIndex uint64) (<-chan Invoice, func() error, error)

	// Pay pays a BOLT11 invoice. It returns when the payment is final or
	// when req.Timeout passes (then Status is StatusInFlight and the caller
	// tracks it). Paying an invoice this node already paid or is paying
	// returns that payment (no second movement of money); paying one whose
	// payment FAILED tries again. An invoice other than the one this node
	// paid, is paying or tried to pay under the same payment hash is
	// refused (ErrInvalidInvoice; see SameInvoice). An error wrapping
	// ErrInvalidInvoice, ErrWrongNetwork, ErrInvoiceExpired,
	// ErrAmountMismatch, ErrMainnetNotAllowed, ErrInsufficientFunds or
	// ErrNoRoute means nothing was sent; after any other error the outcome
	// is unknown and TrackPayment tells. (ErrAlreadyPaid is not one of
	// them: "already paid" may be this node's own earlier payment, whose
	// record was lost.)
	Pay(ctx context.Context, req PayRequest) (Payment, error)

	// TrackPayment returns the current state of an outgoing payment by
	// payment hash (ErrNotFound if this node never tried to pay it). Used to
	// resolve payments that were in flight when vaspd stopped.
	TrackPayment(ctx context.Context, paymentHash Hash) (Payment, error)

	// UTXOs returns the channel outpoints and amounts a payment used, or,
	// for the zero hash, the node's channels available for pre-screening.
	// May be empty where the backend cannot tell.
	UTXOs(ctx context.Context, paymentHash Hash) ([]UTXO, error)
}

// InvoiceCanceler is a Node that can cancel an invoice it issued, so that
// no one can pay it any more. vaspd cancels the node's invoice of a payment
// it made by its books alone (NodeInfo.PaysOwnInvoices): the payee is
// credited, and the invoice, still open, would take a second payment that
// nothing waits for.
type InvoiceCanceler interface {
	// CancelInvoice cancels the open invoice with paymentHash: it can no
	// longer be paid, and LookupInvoice reports it InvoiceCanceled.
	// Canceling a canceled invoice does nothing. ErrNotFound if this node
	// did not issue it; ErrAlreadyPaid if it was settled (it stays
	// settled). An error wrapping errors.ErrUnsupported says the node
	// cannot cancel invoices at all (lnd built without its invoices
	// sub-server), now or on any later call.
	CancelInvoice(ctx context.Context, paymentHash Hash) error
}

// Hash is a 32-byte payment hash or preimage.
type Hash [32]byte

// String is the lowercase hex form.
func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// ParseHash parses a hash written as 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("lightning: %q is not a 32-byte hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}

// SameInvoice reports whether a and b are the same BOLT11 payment request,
// however written: case, surrounding space and a "lightning:" scheme aside.
//
// The payment hash identifies an invoice. Two different invoices with one
// hash are not a retry but a payee's trick (or mistake), so a node refuses
// to pay an invoice under a hash it has already recorded with another.
func SameInvoice(a, b string) bool {
	return NormalizeInvoice(a) == NormalizeInvoice(b)
}

// NormalizeInvoice is a BOLT11 payment request as vaspd reads it: without
// surrounding space, lower case (bech32 strings may be all upper case, as
// in QR codes) and without a "lightning:" URI scheme. bolt11 decodes what
// it returns; SameInvoice compares it.
func NormalizeInvoice(s string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "lightning:")
}

// IsZero reports whether h is all zeroes.
func (h Hash) IsZero() bool { return h == Hash{} }

// NodeInfo identifies a node.
type NodeInfo struct {
	PubKey  string // 33-byte compressed public key, hex
	Network string // "regtest", "testnet", "signet", "simnet" or "mainnet"
	Alias   string
	// PaysOwnInvoices reports whether Pay can pay an invoice this node
	// issued, as a payment from one of the VASP's users to another is:
	// the embedded node settles it itself; lnd refuses self-payments
	// (vaspd does not ask it for one: a circular route through its own
	// channels, routing fees paid to move money between two of its own
	// users), failing the payment with FailureNoRoute. vaspd then pays
	// such a payment by its books alone, never asking the node, and gives
	// the payer the preimage LookupInvoice tells as its proof of payment:
	// a node that does not pay its own invoices must tell theirs.
	PaysOwnInvoices bool
}

// MaxAmountMsat is 21 million bitcoin in millisatoshi. No amount a backend
// accepts — of an invoice it issues or pays, or given for a zero-amount
// invoice — may exceed it, so no int64 arithmetic on amounts can overflow.
const MaxAmountMsat = 21_000_000 * 100_000_000 * 1000

// MaxInvoiceExpiry is the longest expiry an invoice may carry, issued or
// paid, on every backend. BOLT11 allows any 64-bit number of seconds, which
// overflows time.Duration; a year is far beyond anything a VASP issues or
// should pay. (bolt11.MaxExpiry is this.)
const MaxInvoiceExpiry = 365 * 24 * time.Hour

// InvoiceRequest asks for a new invoice.
type InvoiceRequest struct {
	AmountMsat      int64         // 0 (any amount) to MaxAmountMsat
	DescriptionHash Hash          // BOLT11 'h' tag; required by UMA (LUD-18): a zero hash is refused
	Expiry          time.Duration // 0: the backend's default
}

// InvoiceState mirrors lnd's invoice states.
type InvoiceState string

const (
	InvoiceOpen     InvoiceState = "OPEN"
	InvoiceSettled  InvoiceState = "SETTLED"
	InvoiceCanceled InvoiceState = "CANCELED"
)

// Invoice is an invoice this node issued.
type Invoice struct {
	PaymentHash     Hash
	PaymentRequest  string // BOLT11
	AmountMsat      int64
	AmountPaidMsat  int64
	DescriptionHash Hash
	State           InvoiceState
	CreatedAt       time.Time
	ExpiresAt       time.Time
	SettledAt       time.Time
	SettleIndex     uint64 // 0 until settled; strictly increasing per node
	Preimage        Hash   // known to the issuer; zero on backends that hide it
}

// PayRequest asks the node to pay an invoice.
type PayRequest struct {
	Invoice    string        // BOLT11
	AmountMsat int64         // only for zero-amount invoices; must be 0 otherwise
	MaxFeeMsat int64         // upper bound on routing fees
	Timeout    time.Duration // how long Pay may wait for a final result
}

// PaymentStatus mirrors lnd's payment states.
type PaymentStatus string

const (
	StatusInFlight  PaymentStatus = "IN_FLIGHT"
	StatusSucceeded PaymentStatus = "SUCCEEDED"
	StatusFailed    PaymentStatus = "FAILED"
)

// Payment is an outgoing payment.
type Payment struct {
	PaymentHash    Hash
	PaymentRequest string
	Destination    string // payee pubkey, hex
	AmountMsat     int64
	FeeMsat        int64
	Status         PaymentStatus
	Preimage       Hash          // proof of payment when Status is SUCCEEDED
	FailureReason  FailureReason // when Status is FAILED
	CreatedAt      time.Time
	ResolvedAt     time.Time
}

// FailureReason says why a payment failed. The values follow lnd's
// PaymentFailureReason so both backends report the same words.
type FailureReason string

const (
	FailureNone                FailureReason = ""
	FailureTimeout             FailureReason = "TIMEOUT"
	FailureNoRoute             FailureReason = "NO_ROUTE"
	FailureError               FailureReason = "ERROR"
	FailureIncorrectDetails    FailureReason = "INCORRECT_PAYMENT_DETAILS"
	FailureInsufficientBalance FailureReason = "INSUFFICIENT_BALANCE"
	FailureCanceled            FailureReason = "CANCELED"
)

// UTXO is a channel outpoint with an amount, for UMA compliance (utxos list
// and post-transaction callbacks).
type UTXO struct {
	Outpoint   string // "txid:index"
	AmountMsat int64
	// InboundMsat is, for a channel UTXOs lists for the zero hash, about
	// what the node can receive over it: the remote side's balance (before
	// its reserve). 0 for a payment's UTXOs. Incoming payments fail at the
	// payer, where vaspd never hears of them, once it runs out: the node
	// gauges report it (vaspd_lightning_inbound_msats).
	InboundMsat int64
}

// Errors a caller can switch on with errors.Is.
var (
	ErrNotFound          = errors.New("lightning: not found")
	ErrInvalidInvoice    = errors.New("lightning: invalid invoice")
	ErrWrongNetwork      = errors.New("lightning: invoice is for another network")
	ErrInvoiceExpired    = errors.New("lightning: invoice expired")
	ErrAlreadyPaid       = errors.New("lightning: invoice already paid")
	ErrInsufficientFunds = errors.New("lightning: insufficient balance")
	ErrNoRoute           = errors.New("lightning: no route to destination")
	ErrAmountMismatch    = errors.New("lightning: amount does not match invoice")
	ErrUnavailable       = errors.New("lightning: node unavailable")
	ErrMainnetNotAllowed = errors.New("lightning: mainnet invoices are refused by this backend")
)
