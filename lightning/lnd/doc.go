// Package lnd is the production Lightning backend: a lightning.Node over
// lnd's REST API, on net/http and encoding/json only. It imports nothing
// of lnd's RPC — lnrpc would force a protobuf replace and an old grpc on
// the whole module (docs/lightning-lnd.md); the invoices lnd issues are
// decoded with lightning/bolt11, over lnd's zpay32.
//
// # Connection
//
// The TLS connection trusts exactly the node's tls.cert (no system roots),
// and every request carries a macaroon in the Grpc-Metadata-macaroon header.
// The macaroon should carry only what the backend uses:
//
//	lncli bakemacaroon --save_to=vaspd.macaroon \
//	    info:read invoices:read invoices:write offchain:read offchain:write
//
// The node must be on Options.Network (vaspd's lightning-network): Info
// refuses one on another network (ErrOtherNetwork), and with it every call
// that creates, pays or records anything.
//
// Unary calls are bounded by Options.RequestTimeout, connecting by
// Options.DialTimeout; streams by their context. Transport failures,
// lnd's "unavailable" answers and its answers while it is not ready
// (wallet locked or not created, RPC server starting) wrap
// lightning.ErrUnavailable; a refused macaroon or a certificate that does
// not match the pin are permanent.
//
// # Incoming payments
//
// CreateInvoice is AddInvoice (description hash, expiry, amount in msat),
// then LookupInvoice; the payment request lnd issued, what the payer pays,
// is decoded and must be this node's, on its network, for the invoice's
// payment hash, amount, description hash and expiry as asked (checkIssued).
// SubscribeSettled follows SubscribeInvoices from a settle index the caller
// persisted: when the stream breaks it reconnects with capped back-off and
// resumes from the last invoice it delivered, so nothing is skipped or
// repeated. From settle index 0, which lnd cannot replay from, it finds
// the first settlement with ListInvoices, a page at a time, and resumes
// the stream after it (listBacklog). As a safety net the invoices this
// process created are also looked up every Options.PollInterval; a
// settlement the stream has not delivered forces a resubscription, which
// replays it in order.
//
// # Outgoing payments
//
// The payment hash is the idempotency key. Pay records the payment as
// IN_FLIGHT in vaspd's database (table lnd_payments, migration 0150) before
// it calls SendPaymentV2; a second Pay of the same invoice — concurrent, in
// another process, or after a restart — finds the record and follows that
// payment instead of sending again (lnd itself also refuses a second payment
// to a hash). Only a FAILED payment may be attempted again. Final states
// come from lnd (SendPaymentV2 / TrackPaymentV2) and are stored once.
//
// After a restart, ResolveInFlight tracks every payment still recorded as in
// flight. A record lnd has never heard of after Options.UnknownPaymentGrace
// means the process died between recording and sending: it is marked
// FAILED, so it can be paid again safely. So does a retry of a FAILED
// payment for which lnd shows only the earlier attempt, FAILED (lnd
// replaces an attempt only once it registers the retry): until the grace
// has passed, that answer is not the retry's result.
//
// A failed payment is a result, not an error: Pay returns it with Status
// FAILED, a nil error, and lnd's PaymentFailureReason mapped onto
// lightning.FailureReason (NO_ROUTE, TIMEOUT, INSUFFICIENT_BALANCE,
// INCORRECT_PAYMENT_DETAILS, CANCELED, ERROR; ERROR too where lnd gives
// none). An invoice that cannot be
// paid as given — undecodable or badly signed, for another network,
// expired, or an amount that contradicts it — is an error
// (lightning.ErrInvalidInvoice, ErrWrongNetwork, ErrInvoiceExpired,
// ErrAmountMismatch) and leaves no record.
//
// # Canceling invoices
//
// CancelInvoice (lightning.InvoiceCanceler) is the invoices sub-server's,
// in an lnd built with the invoicesrpc tag, as its release binaries are;
// without it the call is refused as errors.ErrUnsupported. CreateInvoice
// cancels an invoice lnd issued other than asked, and vaspd the invoice of
// a payment it made by its books (docs/lightning-lnd.md).
//
// # Tests
//
// Unit tests drive the backend against an httptest server speaking lnd's
// JSON. The regtest tests (TestRegtest, TestRegtestContract) run the real
// thing: btcd and two lnd nodes started by lightning/regtest, with the
// shared contract suite lightning/lightningtest. They need the binaries
// built by scripts/ci/lnd.sh and skip with one line without them.
package lnd
