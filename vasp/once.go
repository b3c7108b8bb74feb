package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Paying once what several quotes may pay. Some quotes pay the same thing,
// which must be paid at most once whatever the number of quotes made, and
// however many of them are executed at once (a double click, a retried
// client):
//
//   - the attempts at one payment: its first quote and the retries of its
//     FAILED payment (RetryQuote), which name the first quote
//     (OriginalQuoteID);
//   - the quotes paying one UMA request (CreateQuote with UmaRequestID): an
//     invoice is a request to be paid once.
//
// Each is a payment. A payment is paid, or being paid, while one of its
// quotes is PROCESSING or COMPLETED; a FAILED one was given back to the
// user (finish releases the reservation) and does not count. ExecuteQuote
// claims a quote only after claimPayments found none of the quote's
// payments paid, under a lock on each payment's row (the first quote's, the
// UMA request's) taken in its transaction: two executes of quotes of one
// payment are checked one after the other, the second seeing the first
// PROCESSING (PostgreSQL; SQLite runs one writer). The quote making, refresh
// and retry of a payment already paid are refused before any payreq
// (refuseIfPaid), without the lock: execute's check is the one that holds.
// Either refusal is 409 QUOTE_ALREADY_EXECUTED, naming the quote that paid.

// paymentKind is a kind of payment: how its quotes are found, and the row
// that serialises their executes.
type paymentKind struct {
	noun   string // names a payment in messages, its id for %s
	lock   string // a no-op UPDATE of the row to lock; $1 is the payment's id
	quotes string // the condition on uma_quotes selecting its quotes; $1 likewise
}

var (
	// retryPayments are the attempts at one payment, named by its first
	// quote.
	retryPayments = paymentKind{noun: "the payment of quote %s",
		lock:   `UPDATE uma_quotes SET updated_at = updated_at WHERE id = $1`,
		quotes: `(id = $1 OR original_quote_id = $1)`}
	// umaRequestPayments are the quotes paying one UMA request, named by
	// it (their uma_request_id column, migration 0490).
	umaRequestPayments = paymentKind{noun: "UMA request %s",
		lock:   `UPDATE uma_requests SET amount = amount WHERE id = $1`,
		quotes: `uma_request_id = $1`}
)

// payment is one thing paid at most once.
type payment struct {
	kind paymentKind
	id   string
}

func retryOf(first string) payment        { return payment{retryPayments, first} }
func umaRequestPayment(id string) payment { return payment{umaRequestPayments, id} }

func (p payment) String() string { return fmt.Sprintf(p.kind.noun, p.id) }

// paymentsOf are the payments quote q is for, in the order execute locks
// them (always the same, so that two executes cannot wait for each other).
// A retry of a payment of an UMA request is for both.
func paymentsOf(q Quote) []payment {
	var ps []payment
	if q.Request.UmaRequestID != "" {
		ps = append(ps, umaRequestPayment(q.Request.UmaRequestID))
	}
	if q.OriginalQuoteID != "" {
		ps = append(ps, retryOf(q.OriginalQuoteID))
	}
	return ps
}

// queryRower is a *store.DB or a *store.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// paidBy names the quote of p, other than except, that is executed and
// not FAILED (PROCESSING or COMPLETED), or "".
func (p payment) paidBy(ctx context.Context, db queryRower, except string) (string, error) {
	var id string
	err := db.QueryRowContext(ctx, `SELECT id FROM uma_quotes WHERE `+p.kind.quotes+` AND id <> $2
		AND status IN ($3, $4) ORDER BY id LIMIT 1`, p.id, except, QuoteProcessing, QuoteCompleted).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find the executed quotes of %s: %w", p, err)
	}
	return id, nil
}

// refuseIfPaid refuses (409) a new quote for p once p is paid or being
// paid: the platform learns it before a payreq goes out.
func (p payment) refuseIfPaid(ctx context.Context, db queryRower) error {
	paid, err := p.paidBy(ctx, db, "")
	if err != nil {
		return err
	}
	if paid != "" {
		return vaspd.Conflict(vaspd.CodeQuoteAlreadyExecuted, "%s is already paid, or being paid, by quote %s", p, paid)
	}
	return nil
}

// claimPayments, in the transaction that claims q for execute, refuses it
// when another quote of a payment q is for is executed and not FAILED.
// Each payment's row is locked first, so that executes of two quotes of
// one payment are checked one after the other.
func claimPayments(ctx context.Context, tx *store.Tx, q Quote) error {
	for _, p := range paymentsOf(q) {
		if _, err := tx.ExecContext(ctx, p.kind.lock, p.id); err != nil {
			return fmt.Errorf("lock %s: %w", p, err)
		}
		paid, err := p.paidBy(ctx, tx, q.ID)
		if err != nil {
			return err
		}
		if paid != "" {
			return vaspd.Conflict(vaspd.CodeQuoteAlreadyExecuted, "quote %s is for %s, already paid, or being paid, by quote %s",
				q.ID, p, paid)
		}
	}
	return nil
}
