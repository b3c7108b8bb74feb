package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// A payreq naming one of our payment requests (its invoiceUUID): the
// checks before it is priced, and again where the payment is recorded.

// checkPaymentRequest checks a payreq for our user r naming invoiceUUID
// before anything is priced or recorded: the invoice must be one we issued
// for r, payable (not cancelled, expired or paid up) and the payreq
// receiving-currency-locked to its amount and currency. It returns the
// request; claimPaymentRequest checks it again where the payment is
// recorded. An invoiceUUID we never issued is INVALID_INVOICE: the payer
// believes it pays an invoice, and the payment would prove nothing.
func (s *Service) checkPaymentRequest(ctx context.Context, r Recipient, req *uma.PayRequest) (PaymentRequest, error) {
	invalid := func(format string, args ...any) (PaymentRequest, error) {
		return PaymentRequest{}, uma.Errorf(uma.CodeInvalidInvoice, format, args...)
	}
	id := vaspd.Truncate(vaspd.Storable(req.InvoiceUUID), 40)
	// We issue UUIDs (uuid.NewString): anything else, perhaps no text
	// at all (the payer's bytes), is not looked up in a database that
	// stores only UTF-8.
	if err := uuid.Validate(req.InvoiceUUID); err != nil || len(req.InvoiceUUID) != 36 {
		return invalid("invoice %s was not issued by %s", id, s.opt.Domain)
	}
	p, err := scanPaymentRequest(s.db.QueryRowContext(ctx, paymentRequestByInvoiceQuery, req.InvoiceUUID, store.Micros(s.clock.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return invalid("invoice %s was not issued by %s", id, s.opt.Domain)
	}
	if err != nil {
		return PaymentRequest{}, fmt.Errorf("read payment request: %w", err)
	}
	if p.UserID != r.UserID {
		// Not whose it is: that would tell which of our users asked.
		return invalid("invoice %s is not one of %s", id, s.address(r.Local))
	}
	if !req.IsUMA() {
		// The invoice's requiredPayerData marks the payer's identifier
		// and compliance data mandatory (UMADataOptions): an unsigned
		// payer has neither, and could otherwise hold every payment a
		// request allows with invoices it never pays (each counted
		// until it expires).
		return PaymentRequest{}, uma.Errorf(uma.CodeMissingMandatoryPayerData,
			"invoice %s requires the payer's identifier and compliance data (requiredPayerData): pay it with a signed UMA payreq", id)
	}
	switch p.Status {
	case PaymentRequestCancelled:
		return invalid("invoice %s was cancelled", id)
	case PaymentRequestExpired, PaymentRequestProcessing:
		return PaymentRequest{}, uma.Errorf(uma.CodeInvoiceExpired, "invoice %s expired at %s", id, p.ExpiresAt.Format(time.RFC3339))
	case PaymentRequestPaid:
		return invalid("invoice %s is paid (maxNumPayments %d)", id, p.MaxNumPayments)
	}
	if p.SenderUMA != "" && !payerIs(req, p.SenderUMA) {
		// Addressed to one payer (UMAD-09 senderUma): another's payment
		// would read as that payer's, paying it.
		return invalid("invoice %s is addressed to another payer", id)
	}
	if req.SendingCurrency != p.Currency || req.ReceivingCurrency != p.Currency || req.Amount != p.Amount {
		return invalid("invoice %s asks %d %s (smallest unit), receiving-currency-locked: amount=%d.%s&convert=%s",
			id, p.Amount, p.Currency, p.Amount, p.Currency, p.Currency)
	}
	if p.CommentCharsAllowed > 0 {
		if n := utf8.RuneCountInString(req.Comment); n > p.CommentCharsAllowed {
			return PaymentRequest{}, uma.Errorf(uma.CodeInvalidInput, "comment is %d characters; the invoice allows %d", n, p.CommentCharsAllowed)
		}
	}
	// Read without the lock here, so that a payreq the claim would refuse
	// (its VASP's payment waiting for approval, or no slot left) is
	// refused before it is priced, taking no writer's lock; the claim
	// reads them again under the lock.
	if err := takeSlot(ctx, s.db, p.ID, p.InvoiceUUID, p.MaxNumPayments, req.PayerData.Identifier); err != nil {
		return PaymentRequest{}, err
	}
	return p, nil
}

// payerIs reports whether the payreq req, verified, is from the UMA
// address want. A plain LNURL payer (no UMA payer data) is no one.
func payerIs(req *uma.PayRequest, want string) bool {
	if !req.IsUMA() {
		return false
	}
	got, err := uma.ParseUMAAddress(req.PayerData.Identifier)
	return err == nil && strings.EqualFold(got.String(), want)
}

// completedQuery counts the COMPLETED payments of payment request $1, and
// holdersQuery reads the payers of its unsettled ones (waiting for
// approval, or invoiced), each once however many it holds (takeSlot).
const (
	completedQuery = `SELECT COUNT(*) FROM uma_transactions WHERE payment_request_id = $1 AND status = '` + StatusCompleted + `'`
	holdersQuery   = `SELECT DISTINCT counterparty FROM uma_transactions WHERE payment_request_id = $1
		AND status IN ('` + StatusCreated + `', '` + StatusPending + `')`
)

// paymentRequestByInvoiceQuery reads the payment request of invoice $1 at
// time $2 (checkPaymentRequest).
var paymentRequestByInvoiceQuery = selectPaymentRequests(2) + ` WHERE invoice_uuid = $1`

// claimPaymentRequest, in the transaction that records the incoming
// payment t of payment request t.PaymentRequestID at now, locks the
// request's row and refuses the payment when the request is cancelled,
// expired, or has no slot left for it (takeSlot). The lock (FOR UPDATE on
// PostgreSQL; SQLite has one writer) makes two concurrent payreqs count
// one after the other, and a cancellation wait for, or be seen by, a
// claim.
func claimPaymentRequest(ctx context.Context, tx *store.Tx, t Transaction, now time.Time) error {
	id := t.PaymentRequestID
	var maxPayments int
	var exp int64
	var cancelled sql.NullInt64
	var uuid string
	err := tx.QueryRowContext(ctx, `SELECT max_num_payments, expires_at, cancelled_at, invoice_uuid FROM payment_requests
		WHERE id = $1 `+tx.Driver().ForUpdate(), id).Scan(&maxPayments, &exp, &cancelled, &uuid)
	if err != nil {
		return fmt.Errorf("lock payment request %s: %w", id, err)
	}
	if err := stillPayable(uuid, exp, cancelled, now); err != nil {
		return err
	}
	return takeSlot(ctx, tx, id, uuid, maxPayments, t.Counterparty)
}

// takeSlot refuses a payment by payer of payment request id (of invoice
// uuid, allowing maxPayments) unless a slot is left for it. A request's
// slots are taken by its COMPLETED payments, one each, and by the VASPs
// holding unsettled ones (waiting for approval, or invoiced and not yet
// paid), one each however many it holds: a VASP is the domain of its
// payer's verified identifier, however spelt (payerDomain), of any of its
// users. So one VASP sending payreqs it never pays holds one slot, not
// all of them, keeping others out no longer than its invoices live.
//
// A payer whose VASP holds a slot takes no other: its payment (a quote
// refreshed, or a payreq retried whose answer was lost, while the earlier
// invoice is out or the earlier payment awaits approval) is answered,
// unless the slots are over-taken (payments settled past maxNumPayments).
// A payment waiting for approval is no reason to refuse: one left so by a
// process that stopped while asking, or by a payer that hung up after the
// approval, stays CREATED until sweepCreated ends it, a minute after its
// deadline, and its VASP's re-quotes would be refused as long (the payment
// crash test's second quote of an UMA request was, until its run gave up).
// A VASP that pays two of its invoices is credited both (credit books
// every settled invoice, whatever the request's count; paidPastMax tells
// it), the request's paymentCount then perhaps past maxNumPayments. A VASP
// at many domains holds one slot at each (README). A request naming its
// payer is counted alike: only that payer may pay it
// (checkPaymentRequest), and its re-quote (vaspd's POST
// /quotes/{id}/refresh of a quote paying an UMA request) is answered.
//
// A VASP that paid one payment and holds another invoice out holds two
// slots: the paid one, and the invoice, which may still be paid. Its next
// payreq takes no third: the invoice out and the new one are its one next
// payment (the invoice out most likely the quote it made twice and paid
// once), and refusing the new one would hold its next payment back until
// that invoice expires. Paying both is paying two of its invoices, above.
//
// It runs under the request's row lock in every claim, so its cost is
// bounded by what decides: the COMPLETED payments are counted in SQL (at
// most maxPayments, MaxPaymentRequestPayments, and the few paid past it),
// the unsettled ones read once a payer, and the read stops as soon as the
// slots taken pass maxPayments. A domain is not stored: it is the payer's
// identifier as parsed and normalized (payerDomain), which the SQL of
// both SQLite and PostgreSQL cannot portably repeat.
func takeSlot(ctx context.Context, q store.Querier, id, uuid string, maxPayments int, payer string) error {
	domain, uuid := payerDomain(payer), vaspd.Truncate(uuid, 40)
	refuse := func() error {
		return uma.Errorf(uma.CodeInvalidInvoice, "invoice %s is paid, or being paid (maxNumPayments %d)", uuid, maxPayments)
	}
	var completed int
	if err := q.QueryRowContext(ctx, completedQuery, id).Scan(&completed); err != nil {
		return fmt.Errorf("count the payments of payment request %s: %w", id, err)
	}
	// The payer's VASP takes a slot, its own or the one it holds: the
	// slots taken are the COMPLETED payments and the VASPs holding
	// unsettled ones, the payer's among them.
	taken := completed + 1
	if taken > maxPayments {
		return refuse()
	}
	rows, err := q.QueryContext(ctx, holdersQuery, id)
	if err != nil {
		return fmt.Errorf("read the payments of payment request %s: %w", id, err)
	}
	defer rows.Close()
	holders := map[string]bool{domain: true}
	for rows.Next() {
		var other string
		if err := rows.Scan(&other); err != nil {
			return fmt.Errorf("read the payments of payment request %s: %w", id, err)
		}
		if d := payerDomain(other); !holders[d] {
			holders[d] = true
			if taken++; taken > maxPayments {
				return refuse()
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the payments of payment request %s: %w", id, err)
	}
	return nil
}

// payerDomain is the VASP of a payment's payer, as stored (counterparty):
// its address's domain, normalized (uma.Address.Normal); "" for a payer
// that is no address (none pays a payment request: checkPaymentRequest),
// all such payers counted as one.
func payerDomain(counterparty string) string {
	a, err := uma.ParseAddress(counterparty)
	if err != nil {
		return ""
	}
	return a.Normal().Domain
}

// stillPayable refuses a payment, at now, of the payment request of
// invoice uuid expiring at exp (Micros) and cancelled at cancelled, if
// ever: as a payreq for it then would be.
func stillPayable(uuid string, exp int64, cancelled sql.NullInt64, now time.Time) error {
	uuid = vaspd.Truncate(uuid, 40)
	if cancelled.Valid {
		return uma.Errorf(uma.CodeInvalidInvoice, "invoice %s was cancelled", uuid)
	}
	if !now.Before(store.Time(exp)) {
		return uma.Errorf(uma.CodeInvoiceExpired, "invoice %s expired at %s", uuid, store.Time(exp).Format(time.RFC3339))
	}
	return nil
}

// requestStillPayable, in the transaction that makes the approved
// incoming payment id payable (issueInvoice), locks the row of the payment
// request it pays, if any, and refuses the payment when the request was
// cancelled, or expired, by now. CancelPaymentRequest updates the same row:
// one of the two waits for the other (FOR UPDATE on PostgreSQL; SQLite has
// one writer), so an invoice is never issued after a cancellation commits.
func requestStillPayable(ctx context.Context, tx *store.Tx, id string, now time.Time) error {
	var exp int64
	var cancelled sql.NullInt64
	var uuid string
	err := tx.QueryRowContext(ctx, `SELECT r.expires_at, r.cancelled_at, r.invoice_uuid FROM payment_requests r
		WHERE r.id = (SELECT payment_request_id FROM uma_transactions WHERE id = $1) `+tx.Driver().ForUpdate(), id).
		Scan(&exp, &cancelled, &uuid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not a payment of a payment request
	}
	if err != nil {
		return fmt.Errorf("lock the payment request of %s: %w", id, err)
	}
	return stillPayable(uuid, exp, cancelled, now)
}

// approvedForRequest checks again, once the platform approved the
// incoming payment id of payment request reqID, that the request can
// still be paid. Asking the platform takes up to approval-timeout, and a
// cancellation or the request's expiry meanwhile must not be followed by
// an invoice (the claim counted the payment before): the payment ends
// REJECTED (PAY_REQUEST_FAILED) without one, announced to the platform it
// asked, and the payreq is refused as one made now would be. It returns
// expiry cut to the request's time left, so that the invoice, issued now,
// does not outlive it.
func (s *Service) approvedForRequest(ctx context.Context, id, reqID string, expiry time.Duration) (time.Duration, error) {
	var exp int64
	var cancelled sql.NullInt64
	var uuid string
	if err := s.db.QueryRowContext(ctx, `SELECT expires_at, cancelled_at, invoice_uuid FROM payment_requests WHERE id = $1`,
		reqID).Scan(&exp, &cancelled, &uuid); err != nil {
		return 0, fmt.Errorf("read payment request %s: %w", reqID, err)
	}
	now := s.clock.Now()
	if refused := stillPayable(uuid, exp, cancelled, now); refused != nil {
		if err := s.failIncoming(context.WithoutCancel(ctx), id, "PAY_REQUEST_FAILED"); err != nil {
			return 0, fmt.Errorf("end payment %s of a payment request no longer payable: %w", id, err)
		}
		return 0, refused
	}
	if left := store.Time(exp).Sub(now); left < expiry {
		expiry = max(left.Round(time.Second), time.Second)
	}
	return expiry, nil
}

// requestCount is a payment request's COMPLETED payments and its limit.
type requestCount struct{ count, max int }

// paidPastMax, in the transaction that credits the incoming payment t,
// reads t's payment request, if any, and returns its count when t took it
// past maxNumPayments (nil otherwise). Such a payment is credited all the
// same, the money having arrived (a VASP paying two of its invoices, one
// re-quoted: takeSlot; an invoice paid after its request expired or was
// cancelled); this read is so that it is told (a warning, a metric), the
// request's paymentCount above its limit being all that said it before.
// The count, in the credit's transaction, includes t; the request's row
// is locked first (FOR UPDATE on PostgreSQL; SQLite has one writer) and
// counted by the next statement, so two credits of one request count one
// after the other: the second sees the first, and each payment past the
// limit is told once.
func paidPastMax(ctx context.Context, tx *store.Tx, t Transaction) (*requestCount, error) {
	if t.PaymentRequestID == "" {
		return nil, nil
	}
	var c requestCount
	err := tx.QueryRowContext(ctx, `SELECT max_num_payments FROM payment_requests WHERE id = $1 `+tx.Driver().ForUpdate(),
		t.PaymentRequestID).Scan(&c.max)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock payment request %s: %w", t.PaymentRequestID, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM uma_transactions WHERE payment_request_id = $1 AND status = $2`,
		t.PaymentRequestID, StatusCompleted).Scan(&c.count); err != nil {
		return nil, fmt.Errorf("count the payments of payment request %s: %w", t.PaymentRequestID, err)
	}
	if c.count <= c.max {
		return nil, nil
	}
	return &c, nil
}
