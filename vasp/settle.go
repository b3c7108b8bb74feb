package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// The ledger movements of a Lightning payment are named by its payment
// hash: receiveMovement+hash books an incoming payment's settlement (or
// what arrived for an underpaid invoice), settleMovement+hash an outgoing
// payment's result. The reconciliation finds them so.
const (
	receiveMovement = "receive/"
	settleMovement  = "settle/"
)

// Crediting incoming payments. The node's stream of settled invoices is
// read from a cursor kept in the database (the last settle index
// processed), so a restart resumes where it stopped and several processes
// can follow the same node: crediting is one transaction that moves the
// payment PENDING -> COMPLETED, posts the ledger movement (its id is the
// payment hash, so it can happen once) and enqueues the COMPLETED webhook.
// A credit the payee's balance cap refuses does not hold up the stream: it
// waits PENDING for the sweep (creditLater). Nor does an invoice reported
// settled for less than its amount: its payment fails, what arrived is
// booked to system:unmatched (failUnmatched).
// A slower sweep looks up PENDING payments directly as a safety net and
// expires those whose invoice expired unpaid (or that the node no longer
// knows, well after their invoice's expiry), and ends those left CREATED
// (never given an invoice) after their approval deadline (sweepCreated).
// Each end enqueues its INCOMING_PAYMENT webhook in the transaction that
// ends the payment (endIncoming), so the platform that was asked about a
// payment hears of its end. An EXPIRED payment stays creditable: a
// settlement that turns up late completes it all the same (and the
// platform then gets COMPLETED after EXPIRED).

const settleCursorKey = "vasp.settle_index"

func (s *Service) settleCursor(ctx context.Context) (uint64, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, settleCursorKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

// advanceCursor never moves the cursor back (another process may be ahead).
// Values are zero-padded so that text comparison is numeric comparison.
func advanceCursor(ctx context.Context, tx *store.Tx, idx uint64, now time.Time) error {
	v := fmt.Sprintf("%020d", idx)
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
		WHERE settings.value < excluded.value`, settleCursorKey, v, store.Micros(now))
	return err
}

func (s *Service) watchSettlements(ctx context.Context) {
	sweep := time.NewTicker(15 * time.Second)
	defer sweep.Stop()
	for ctx.Err() == nil {
		cursor, err := s.settleCursor(ctx)
		if err != nil {
			s.log.Warn("read settle cursor", "err", err)
			vaspd.Sleep(ctx, time.Second)
			continue
		}
		ch, wait, err := s.opt.Node.SubscribeSettled(ctx, cursor)
		if err != nil {
			s.log.Warn("subscribe to settled invoices", "err", err)
			vaspd.Sleep(ctx, time.Second)
			continue
		}
	stream:
		for {
			select {
			case inv, ok := <-ch:
				if !ok {
					break stream
				}
				for ctx.Err() == nil {
					err := s.credit(ctx, inv, true)
					if errors.Is(err, ledger.ErrOverflow) {
						err = s.creditLater(ctx, inv, err)
					}
					if err != nil {
						s.log.Error("credit incoming payment; retrying", "payment_hash", inv.PaymentHash.String(), "err", err)
						vaspd.Sleep(ctx, time.Second)
						continue
					}
					break
				}
			case <-sweep.C:
				s.sweepPending(ctx)
				s.sweepCreated(ctx)
			}
		}
		if err := wait(); err != nil && ctx.Err() == nil {
			s.log.Warn("settled-invoice stream ended; resubscribing", "err", err)
		}
		vaspd.Sleep(ctx, 500*time.Millisecond)
	}
}

// creditLater handles a settled invoice whose credit the ledger refused
// for the payee's balance cap (ledger.MaxBalance): payments each within
// the cap when priced (checkBalanceRoom) can together exceed it, or the
// balance grew meanwhile. Retrying it here would stall every settlement
// after it until the payee spends. The cursor moves past it alone; the
// payment stays PENDING, its money on our node and booked to no one
// (nothing half-booked: its credit rolled back whole), and sweepPending
// credits it once the payee's balance has room. A payment the sweep had
// expired (its invoice unknown to the node, or expired by our clock) and
// that was paid after all goes back to PENDING with it: the sweep retries
// PENDING payments only, and the settled invoice says it did not expire.
func (s *Service) creditLater(ctx context.Context, inv lightning.Invoice, cause error) error {
	s.noteCapped(ctx, inv.PaymentHash.String(), cause)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE uma_transactions SET status = $1, failure_reason = '', updated_at = $2
			WHERE direction = $3 AND payment_hash = $4 AND status = $5`,
			StatusPending, store.Micros(now), Incoming, inv.PaymentHash.String(), StatusExpired); err != nil {
			return err
		}
		return advanceCursor(ctx, tx, inv.SettleIndex, now)
	})
}

// cappedLogEvery is how often a payment the balance cap keeps PENDING is
// logged as an error. The sweep retries it every 15 s, for as long as the
// payee's balance has no room (days, maybe): logging each retry would
// bury everything else; the retries in between are logged at debug level.
const cappedLogEvery = time.Hour

// noteCapped logs that the credit of the settled payment with payment hash
// h was refused for the payee's balance cap: as an error the first time
// this process sees it and once every cappedLogEvery after, at debug level
// otherwise.
func (s *Service) noteCapped(ctx context.Context, h string, cause error) {
	level := slog.LevelDebug
	if s.capped.due(h, s.clock.Now(), cappedLogEvery) {
		level = slog.LevelError
	}
	s.log.Log(ctx, level, "incoming payment settled but its credit would exceed the payee's balance cap; left PENDING and retried by the sweep until the payee's balance has room",
		"payment_hash", h, "err", cause)
}

// reasonUnderpaid is the stored failure reason of an incoming payment
// whose invoice was reported settled for less than its amount (the
// webhook says QUOTE_EXECUTION_FAILED: incomingFailureReason).
const reasonUnderpaid = "UNDERPAID"

// reasonUserDeleted is the stored failure reason of an incoming payment
// whose invoice was paid once its user was deleted (the webhook says
// QUOTE_EXECUTION_FAILED: incomingFailureReason).
const reasonUserDeleted = "USER_DELETED"

// credit books one settled invoice, once. One reported settled for less
// than its amount fails its payment instead (failUnmatched): it must not
// be retried, which would hold up every settlement behind it for good.
func (s *Service) credit(ctx context.Context, inv lightning.Invoice, advance bool) error {
	now := s.stamp()
	var c creditOutcome
	err := s.db.InTx(ctx, func(tx *store.Tx) (err error) {
		if advance {
			if err := advanceCursor(ctx, tx, inv.SettleIndex, now); err != nil {
				return err
			}
		}
		c, err = s.creditIn(ctx, tx, inv, now, false)
		return err
	})
	if err == nil {
		s.credited(ctx, c)
	}
	return err
}

// creditOutcome is what creditIn did: credited done (pastMax its payment
// request, when done took it past maxNumPayments), or failed it, for
// having been underpaid, or orphaned it, its user deleted. All nil: the
// invoice is no UMA payment of ours, or was booked already.
type creditOutcome struct {
	done, failed, orphaned *Transaction
	pastMax                *requestCount
}

// errNotCreditedHere is creditIn's answer, for a payment settled by our
// books alone (book), that it cannot credit: its payment is not waiting
// for its money (paid, expired, refused), or its user was deleted. The
// caller rolls back and refuses the payment paying it (payHere).
var errNotCreditedHere = errors.New("the incoming payment cannot be credited")

// creditIn books inside tx the settled invoice inv of an incoming payment,
// once (credit). book says its payer is one of our users, paid by our
// books alone (payHere): then what cannot be credited (see
// errNotCreditedHere) is an error, for the payer not to pay it, instead
// of money that arrived and is booked to system:unmatched.
func (s *Service) creditIn(ctx context.Context, tx *store.Tx, inv lightning.Invoice, now time.Time, book bool) (creditOutcome, error) {
	var out creditOutcome
	t, err := scanTransaction(tx.QueryRowContext(ctx, `SELECT `+txColumns+` FROM uma_transactions
		WHERE direction = $1 AND payment_hash = $2`, Incoming, inv.PaymentHash.String()))
	if errors.Is(err, sql.ErrNoRows) {
		if book {
			return out, fmt.Errorf("%w: no incoming payment has its invoice", errNotCreditedHere)
		}
		return out, nil // not an UMA payment of ours
	}
	if err != nil {
		return out, err
	}
	// The travel-rule data left encrypted by the payreq is decrypted
	// now and stored with the settlement, so every paid payment
	// keeps it in the clear (and the compliance hook and webhook
	// below see it).
	details := ""
	revealed, err := s.revealTravelRule(&t)
	if err != nil {
		s.log.Warn("travel-rule info does not decrypt; kept as received", "transaction", t.ID, "err", err)
	}
	// An overpaid or underpaid invoice: what the node received is
	// kept with the payment, beside Msats (what the user's amount
	// was priced for).
	paid := t.Msats // a backend that tells no amount paid: the invoice's
	if inv.AmountPaidMsat > 0 {
		paid = inv.AmountPaidMsat
	}
	underpaid := paid < t.Msats
	if paid != t.Msats {
		t.Details.AmountPaidMsats = paid
	}
	if book {
		t.Details.BookTransfer = true
	}
	if revealed || paid != t.Msats || book {
		b, err := json.Marshal(t.Details)
		if err != nil {
			return out, fmt.Errorf("encode details: %w", err)
		}
		details = string(b)
	}
	if underpaid {
		if book {
			return out, fmt.Errorf("%w: paid %d msats of its %d", errNotCreditedHere, paid, t.Msats)
		}
		ok, err := s.failUnmatched(ctx, tx, &t, reasonUnderpaid, t.Details.AmountPaidMsats, details, now)
		if ok {
			out.failed = &t
		}
		return out, err
	}
	// A user deleted since the invoice was issued (before deletes
	// waited for open invoices: BeforeUserDelete; or an invoice paid
	// past its expiry) is credited nothing: no API reaches a deleted
	// user, and a balance there would be money nobody can move.
	// What arrived goes to system:unmatched for the operator to
	// refund, logged below. The check share-locks the user's row, so
	// a delete concurrent with this credit either waits and then
	// sees the balance (and is refused), or is seen here.
	if err := s.checkLive(ctx, tx, t.UserID, ""); err != nil {
		if vaspd.AsError(err).Status != http.StatusNotFound {
			return out, err
		}
		if book {
			return out, fmt.Errorf("%w: its user was deleted", errNotCreditedHere)
		}
		ok, err := s.failUnmatched(ctx, tx, &t, reasonUserDeleted, paid, details, now)
		if ok {
			out.orphaned = &t
		}
		return out, err
	}
	// A payment expired (INVOICE_EXPIRED) and paid after all is
	// completed: the reason of its failure goes with it.
	res, err := tx.ExecContext(ctx, `UPDATE uma_transactions SET status = $1, settled_at = $2, updated_at = $2,
		failure_reason = '', details = CASE WHEN $6 = '' THEN details ELSE $6 END, register_state = $7
		WHERE id = $3 AND status IN ($4, $5)`, StatusCompleted, store.Micros(now), t.ID, StatusPending, StatusExpired, details,
		s.registerState())
	if err != nil {
		return out, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if book {
			return out, fmt.Errorf("%w: it is %s", errNotCreditedHere, t.Status)
		}
		return out, nil // credited already (by us or another process)
	}
	// An error rolls everything back; the conditional UPDATE above
	// keeps a concurrent credit of t out: no savepoint needed. The
	// user gets the quoted Amount whatever was paid (the rate was
	// locked for the invoice amount); an overpayment's excess goes
	// to system:overpaid in the same movement, so system:node moves
	// by what the node received.
	if _, err := s.opt.Ledger.TransferNoSavepoint(ctx, tx, ledger.Receive{
		ID: receiveMovement + t.PaymentHash, Reference: t.ID, UserID: t.UserID,
		Msats: t.Msats, PaidMsats: paid, FeeMsats: t.Fee, Currency: t.Currency, Amount: t.Amount,
	}.Movement()); err != nil {
		return out, fmt.Errorf("post receive: %w", err)
	}
	t.Status, t.FailureReason, t.SettledAt, t.UpdatedAt = StatusCompleted, "", now, now
	s.payments.endedIn(tx, t)
	if err := s.announce(ctx, tx, t); err != nil {
		return out, err
	}
	if out.pastMax, err = paidPastMax(ctx, tx, t); err != nil {
		return out, err
	}
	out.done = &t
	return out, nil
}

// credited logs, and wakes the webhooks and callbacks for, what a
// committed creditIn did.
func (s *Service) credited(ctx context.Context, c creditOutcome) {
	if done := c.done; done != nil {
		s.log.Info("incoming payment completed", "transaction", done.ID, "user", done.UserID,
			"amount", done.Amount, "currency", done.Currency, "msats", done.Msats)
		if paid := done.Details.AmountPaidMsats; paid > done.Msats {
			s.log.Info("incoming payment overpaid: the user was credited the quoted amount, the excess is booked to "+string(ledger.Overpaid),
				"transaction", done.ID, "payment_hash", done.PaymentHash, "invoice_msats", done.Msats,
				"paid_msats", paid, "excess_msats", paid-done.Msats)
		}
		if pastMax := c.pastMax; pastMax != nil {
			s.payments.requestPastMax.Inc()
			s.log.Warn("payment request paid past its maxNumPayments: the payment is credited (the money arrived), the request's paymentCount exceeds its limit",
				"transaction", done.ID, "paymentRequest", done.PaymentRequestID, "paymentCount", pastMax.count,
				"maxNumPayments", pastMax.max, "counterparty", logDomain(done.Counterparty))
		}
		s.opt.Webhooks.Wake()
		s.registerCompleted(ctx, *done)
		s.wakeCallbacks()
	}
	if orphaned := c.orphaned; orphaned != nil {
		s.log.Error("incoming payment settled for a deleted user: FAILED, nobody credited, what the node received booked to "+string(ledger.Unmatched)+" (for the operator to refund the sender)",
			"transaction", orphaned.ID, "user", orphaned.UserID, "payment_hash", orphaned.PaymentHash,
			"amount", orphaned.Amount, "currency", orphaned.Currency, "paid_msats", max(orphaned.Msats, orphaned.Details.AmountPaidMsats))
		s.opt.Webhooks.Wake()
	}
	if failed := c.failed; failed != nil {
		s.log.Error("incoming payment settled for less than its invoice amount: FAILED, the user credited nothing, what the node received booked to "+string(ledger.Unmatched)+" (for the platform to refund)",
			"transaction", failed.ID, "user", failed.UserID, "payment_hash", failed.PaymentHash,
			"invoice_msats", failed.Msats, "paid_msats", failed.Details.AmountPaidMsats,
			"shortfall_msats", failed.Msats-failed.Details.AmountPaidMsats)
		s.opt.Webhooks.Wake()
	}
}

// failUnmatched ends, inside tx, the settled incoming payment t that
// credits nobody, for reason, reporting whether it did: reasonUnderpaid,
// its invoice reported settled for paid msats, less than its amount, or
// reasonUserDeleted, its user deleted.
//
// An underpayment: Lightning payers cannot underpay an invoice (a final
// node refuses less than its amount), but a backend can report one (lnd
// settles AMP and keysend payments for what arrived; a bug or a
// compromised proxy may report anything in range), and retrying it
// cannot help. The user is credited nothing: t.Amount was priced for the
// whole invoice, and part of it at the locked rate would be a rate for an
// amount nobody quoted.
//
// Either way the node did receive the money, so it is booked
// system:node → system:unmatched, under the movement id a credit would
// have had (one of the two, ever), and the payment ends FAILED with its
// INCOMING_PAYMENT webhook, in the same transaction. The conditional
// UPDATE makes it once across the stream, the sweep and processes, as a
// credit is. details is the encoded t.Details ("" to keep them).
func (s *Service) failUnmatched(ctx context.Context, tx *store.Tx, t *Transaction, reason string, paid int64, details string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE uma_transactions SET status = $1, failure_reason = $2, updated_at = $3,
		details = CASE WHEN $4 = '' THEN details ELSE $4 END
		WHERE id = $5 AND status IN ($6, $7)`, StatusFailed, reason, store.Micros(now), details, t.ID, StatusPending, StatusExpired)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil // ended already (by us or another process)
	}
	if _, err := s.opt.Ledger.TransferNoSavepoint(ctx, tx,
		ledger.ReceiveUnmatched(receiveMovement+t.PaymentHash, t.ID, paid)); err != nil {
		return false, fmt.Errorf("post unmatched receive: %w", err)
	}
	t.Status, t.FailureReason, t.UpdatedAt = StatusFailed, reason, now
	s.payments.endedIn(tx, *t)
	if err := s.announce(ctx, tx, *t); err != nil {
		return false, err
	}
	return true, nil
}

// sweepBatch is how many pending payments one sweep looks up.
const sweepBatch = 200

// lostInvoiceMargin is how long past its invoice's expiry a PENDING
// payment whose invoice the node does not know (a node replaced, or its
// data lost) waits before it is expired. No payment can arrive for an
// expired invoice; the margin is for clocks, and a settlement that still
// turns up credits the EXPIRED payment (credit).
const lostInvoiceMargin = time.Hour

// sweepPending looks up incoming payments still PENDING: it credits those
// whose invoice settled (should the stream have missed one) and expires
// those whose invoice expired unpaid, or whose invoice the node does not
// know and expired more than lostInvoiceMargin ago.
//
// Sweeps walk the payments by id, a batch each, and start over after the
// last: payments the sweep cannot end (an invoice the node cannot look
// up, a credit that keeps failing) must not keep it from those behind
// them, as a batch always taken from the first would.
//
// A sweep stops at the first lookup that finds the node unreachable
// (lightning.ErrUnavailable): every lookup after it would fail alike,
// each maybe only after the node client's timeout (lnd's 30 s), and the
// sweep runs in the settlement loop, which would be held up that long
// again and again (200 times per batch) after the node came back. The
// next sweep resumes at the payment whose lookup failed, so none behind
// it is skipped. Unless the node is unreachable for that payment alone:
// sweeps that keep stopping at it probe past it, and pass it over if the
// node answers the next (see walk). A sweep also stops at its time limit
// (walkLimit), to resume there.
//
// Sweeps are exclusive (sweepMu): one started during another waits for it
// and goes on from where it stopped, rather than taking the same batch
// and racing it for the cursor.
func (s *Service) sweepPending(ctx context.Context) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	cutoff := store.Micros(s.clock.Now().Add(-10 * time.Second))
	rows, err := s.db.QueryContext(ctx, `SELECT id, payment_hash, invoice FROM uma_transactions
		WHERE direction = $1 AND status = $2 AND updated_at < $3 AND id > $4 ORDER BY id LIMIT $5`,
		Incoming, StatusPending, cutoff, s.sweepAfter, sweepBatch)
	if err != nil {
		s.noteFindFailures(ctx, &s.sweepFind, sweepFinding, []findFailure{{"sweep pending payments", err}})
		return
	}
	var findFailed []findFailure
	type pending struct{ id, hash, invoice string }
	var todo []pending
	n, last := 0, ""
	for rows.Next() {
		n++
		var p pending
		if err := rows.Scan(&p.id, &p.hash, &p.invoice); err != nil {
			findFailed = append(findFailed, findFailure{"sweep pending payments: read row", err})
			continue
		}
		todo, last = append(todo, p), p.id
	}
	// A read that broke off: the rows read are handled all the same (each
	// update re-checks its row), and the next sweep starts from the first.
	rerr := rows.Err()
	if rerr != nil {
		findFailed = append(findFailed, findFailure{"sweep pending payments: read", rerr})
	}
	s.noteFindFailures(ctx, &s.sweepFind, sweepFinding, findFailed)
	rows.Close()
	// Where the next sweep starts: after this batch if it was full, from
	// the first if it was the last; a sweep that stops early sets it to
	// resume at the payment it stopped at (stop).
	next := ""
	if n == sweepBatch && last != "" && rerr == nil {
		next = last
	}
	stop := func(i int) {
		if i > 0 {
			s.sweepAfter = todo[i-1].id
		} // else as it was: this sweep dealt with none
	}
	ids := make([]string, len(todo))
	for i, p := range todo {
		ids[i] = p.id
	}
	w := s.newWalk(ctx, &s.sweepLookups, ids)
	defer w.end(ctx, sweepLookupLines, "sweep pending payments")
	for i, p := range todo {
		if at, ok := w.due(i); !ok {
			stop(at)
			return
		}
		h := p.hash
		hash, err := lightning.ParseHash(h)
		if err != nil {
			w.failed = append(w.failed, lookupFailure{id: p.id, hash: h, err: err})
			continue
		}
		inv, err := s.opt.Node.LookupInvoice(w.ctx, hash)
		if err != nil && ctx.Err() != nil {
			stop(w.resume(i))
			return // stopping: the lookup was cut, not refused
		}
		if err, down := w.unreachable(err); down {
			if at := w.unavailable(i, lookupFailure{id: p.id, hash: h, err: err, unreachable: true}); at >= 0 {
				stop(at)
				return
			}
			continue
		}
		w.answered(i)
		if errors.Is(err, lightning.ErrNotFound) {
			// Only a definite "unknown": a node that cannot be
			// reached says nothing about the invoice.
			s.expireLost(ctx, hash, p.invoice)
			continue
		}
		if err != nil {
			w.failed = append(w.failed, lookupFailure{id: p.id, hash: h, err: err})
			continue
		}
		switch {
		case inv.State == lightning.InvoiceSettled:
			if err := s.credit(ctx, inv, false); errors.Is(err, ledger.ErrOverflow) {
				s.noteCapped(ctx, h, err)
			} else if err != nil {
				s.log.Warn("credit from sweep", "payment_hash", h, "err", err)
			}
		case inv.State == lightning.InvoiceCanceled || (!inv.ExpiresAt.IsZero() && s.clock.Now().After(inv.ExpiresAt.Add(time.Minute))):
			s.expire(ctx, h)
		}
	}
	w.finish()
	s.sweepAfter = next
}

// expireLost expires the PENDING payment whose invoice the node does not
// know, once that invoice (as we recorded it) expired lostInvoiceMargin
// ago. An invoice that does not decode, or is not the payment's, tells no
// expiry: the payment is left as it is.
func (s *Service) expireLost(ctx context.Context, hash lightning.Hash, invoice string) {
	inv, err := bolt11.Decode(invoice, "")
	if err != nil || inv.PaymentHash != hash {
		return
	}
	if !s.clock.Now().After(inv.ExpiresAt().Add(lostInvoiceMargin)) {
		return
	}
	if s.expire(ctx, hash.String()) {
		s.log.Warn("incoming payment expired: the node does not know its invoice, which expired unpaid as far as we know",
			"payment_hash", hash.String(), "invoice_expired_at", inv.ExpiresAt())
	}
}

// expire moves the PENDING incoming payment with payment hash h to
// EXPIRED and enqueues its INCOMING_PAYMENT webhook (QUOTE_EXPIRED) with
// the move, reporting whether it did: the platform approved the payment,
// and hears of its end as it would of its credit. A payment already moved
// (credited, or expired by another process) is left to that move.
func (s *Service) expire(ctx context.Context, h string) bool {
	ended, err := s.endIncoming(ctx, true, `UPDATE uma_transactions SET status = $1, failure_reason = 'INVOICE_EXPIRED', updated_at = $2
		WHERE direction = $3 AND payment_hash = $4 AND status = $5`,
		StatusExpired, store.Micros(s.clock.Now()), Incoming, h, StatusPending)
	if err != nil {
		s.log.Warn("expire payment", "payment_hash", h, "err", err)
		return false
	}
	return ended
}
