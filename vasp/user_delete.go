package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// BeforeUserDelete is the users.DeleteCheck of the payments: it runs in
// the transaction that marks userID deleted, after the mark, and refuses
// the delete (409 CONFLICT, with what is in flight and until when) while
// money may still move to or from the user:
//
//   - an incoming payment PENDING whose invoice has not expired: it can
//     still be paid, and settlement would credit a user no API reaches.
//     Once the invoice expires the delete goes through (a settlement that
//     turns up late all the same is booked to system:unmatched: credit);
//   - an outgoing payment PROCESSING: its result is not known, and a
//     failure would release the held money to the deleted user (the held
//     balance refuses the delete too; this says which payment).
//
// An incoming payment still CREATED (the platform asked, no invoice yet)
// does not hold the delete up: its invoice is issued only after a check
// that the user is live (issueInvoice), which this delete makes fail, so
// it ends REJECTED. An unexecuted quote does not either: executing it
// checks that the sender is live (Execute); an auto-refresh quote's
// refreshes stop with the delete (it says autoRefresh false).
//
// The user's payment requests still payable are cancelled with the
// delete rather than refusing it: a request is our offer, which the
// platform could cancel one by one anyway (CancelPaymentRequest), and a
// payer's payreq for a deleted user is refused USER_NOT_FOUND whatever
// the request says; cancelled, it also reads CANCELLED rather than
// PENDING until its expiry. An invoice already handed out for one is a
// PENDING incoming payment, which refuses the delete above.
//
// Race-free because everything that records a payment for a user first
// checks, in its own transaction, that the user is live with the row
// share-locked (users.Service.CheckLive on a transaction): on PostgreSQL
// under READ COMMITTED either that check waits for this delete and finds
// the user deleted, or this delete's UPDATE waits for the payment's
// commit, and the reads below (each with a fresh snapshot) see it.
func (s *Service) BeforeUserDelete(ctx context.Context, tx *store.Tx, userID string) error {
	now := s.clock.Now()
	rows, err := tx.QueryContext(ctx, `SELECT id, direction, status, invoice FROM uma_transactions
		WHERE user_id = $1 AND status IN ($2, $3) ORDER BY id`, userID, StatusPending, StatusProcessing)
	if err != nil {
		return fmt.Errorf("payments in flight: %w", err)
	}
	defer rows.Close()
	var (
		incoming, outgoing []string
		openUntil          time.Time
		unknown            bool // an invoice without an expiry we can read
	)
	for rows.Next() {
		var id, dir, status, invoice string
		if err := rows.Scan(&id, &dir, &status, &invoice); err != nil {
			return fmt.Errorf("payments in flight: %w", err)
		}
		switch {
		case dir == Outgoing && status == StatusProcessing:
			outgoing = append(outgoing, id)
		case dir == Incoming && status == StatusPending:
			// An invoice that does not decode tells no expiry: it is
			// counted as open, until an expiry sweep ends the payment.
			exp := time.Time{}
			if inv, err := bolt11.Decode(invoice, ""); err == nil {
				exp = inv.ExpiresAt()
				if !now.Before(exp) {
					continue // expired: it can no longer be paid
				}
			}
			incoming = append(incoming, id)
			unknown = unknown || exp.IsZero()
			if exp.After(openUntil) {
				openUntil = exp
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("payments in flight: %w", err)
	}
	rows.Close()
	if unknown {
		openUntil = time.Time{}
	}
	if len(incoming) > 0 || len(outgoing) > 0 {
		return inFlight(userID, incoming, outgoing, openUntil)
	}
	_, err = tx.ExecContext(ctx, `UPDATE payment_requests SET cancelled_at = $1
		WHERE user_id = $2 AND cancelled_at IS NULL AND expires_at > $1
		AND (SELECT COUNT(*) FROM uma_transactions t WHERE t.payment_request_id = payment_requests.id
			AND t.status = $3) < max_num_payments`, store.Micros(s.stamp()), userID, StatusCompleted)
	if err != nil {
		return fmt.Errorf("cancel the user's payment requests: %w", err)
	}
	// Their quotes cannot be executed any more (Execute checks the
	// sender): renewing one would only send the receiver a payreq, and
	// its platform an approval webhook, every pass until the hold ends.
	_, err = tx.ExecContext(ctx, `UPDATE uma_quotes SET auto_refresh = FALSE, auto_refresh_stopped = $4, refresh_next_at = 0, updated_at = $1
		WHERE user_id = $2 AND auto_refresh = TRUE AND status = $3 AND transaction_id IS NULL`,
		store.Micros(s.stamp()), userID, QuotePending, RefreshStoppedUserDeleted)
	if err != nil {
		return fmt.Errorf("stop the user's quote refreshes: %w", err)
	}
	return nil
}

// inFlight is BeforeUserDelete's refusal. openUntil is the latest expiry
// of the incoming payments' invoices (zero: one tells none).
func inFlight(userID string, incoming, outgoing []string, openUntil time.Time) error {
	details := map[string]any{}
	msg := fmt.Sprintf("user %s has payments in flight:", userID)
	if len(incoming) > 0 {
		details["incomingTransactionIds"] = incoming
		msg += fmt.Sprintf(" %d incoming (%s) with an invoice that can still be paid", len(incoming), incoming[0])
		if !openUntil.IsZero() {
			details["openUntil"] = openUntil.UTC().Format(time.RFC3339)
			msg += fmt.Sprintf(" until %s", openUntil.UTC().Format(time.RFC3339))
		}
		if len(outgoing) > 0 {
			msg += ";"
		}
	}
	if len(outgoing) > 0 {
		details["outgoingTransactionIds"] = outgoing
		msg += fmt.Sprintf(" %d outgoing (%s) still PROCESSING, until the Lightning payment succeeds or fails", len(outgoing), outgoing[0])
	}
	return vaspd.Conflict(vaspd.CodeConflict, "%s: delete the user once they have ended", msg).WithDetails(details)
}
