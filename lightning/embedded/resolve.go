package embedded

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// run is one delivery attempt running in this process. done is closed when
// it ends; if the attempt itself recorded the payment's final outcome,
// final holds the payment as recorded (ok is true) and waiters need not
// read it back.
//
// A waiter that books the payment in a transaction of its own on the
// node's database (PaySuccessInto) registers as a taker; an attempt that
// learns the preimage while the run has takers hands the success to them
// (handed) instead of recording it.
type run struct {
	done  chan struct{}
	final lightning.Payment
	ok    bool

	takers int  // guarded by Node.mu
	handed bool // guarded by Node.mu; set before done is closed
}

// kick starts an attempt to resolve the in-flight payment hash, unless one
// is already running in this process, and returns that attempt; its done
// channel is closed when it ends. known, if not nil, is the payment's row
// as the caller has just read it: the attempt starts from it instead of
// reading it again (a stale row only makes the attempt's conditional claim
// find nothing to do). After Close it returns an attempt already done.
func (n *Node) kick(hash lightning.Hash, known *paymentRow) *run {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.inflight[hash]; ok {
		return r
	}
	r := &run{done: make(chan struct{})}
	if n.closed {
		close(r.done)
		return r
	}
	n.inflight[hash] = r
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		final, ok, err := n.attempt(n.ctx, hash, known, r)
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("payment attempt", "payment_hash", hash.String(), "err", err)
		}
		n.mu.Lock()
		delete(n.inflight, hash)
		n.mu.Unlock()
		r.final, r.ok = final, ok && err == nil
		close(r.done)
	}()
	return r
}

// retryLoop resolves payments left in flight: by an earlier process that
// stopped, by a payee that did not answer, or by held payments.
func (n *Node) retryLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.RetryInterval)
	defer t.Stop()
	for {
		if err := n.retryInFlight(n.ctx); err != nil && n.ctx.Err() == nil {
			n.log.Warn("retry in-flight payments", "err", err)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) retryInFlight(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT payment_hash FROM ln_embedded_payments
		WHERE node_pubkey = $1 AND status = $2`, n.pubkey, string(lightning.StatusInFlight))
	if err != nil {
		return err
	}
	var hashes []lightning.Hash
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		h, err := parseHash(s)
		if err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hashes {
		n.kick(h, nil)
	}
	return nil
}

// attempt makes one delivery attempt for an in-flight payment and records
// the outcome if it is final. It starts from known, the payment's row as
// just read, when the caller has one. When it recorded the final outcome
// itself it returns the payment as recorded and true.
//
// Crash safety rests on two rules. The payee's answer is idempotent per
// payer, so any number of attempts, by any process, settle at most once and
// all learn the same preimage. And the payer fails a payment without the
// payee's refusal only when no attempt can have reached the payee: no
// other attempt's request may have left this process (sent_attempt, which
// each attempt commits before its request leaves, is 0 or this attempt),
// and this one settled nothing (it found no route, or notDelivered: the
// connection was never made, or the payee's devnet refused it unread). An
// attempt claimed but never sent (a process stopping in between) thus no
// longer keeps a payment in flight when the payee is gone.
func (n *Node) attempt(ctx context.Context, hash lightning.Hash, known *paymentRow, r *run) (lightning.Payment, bool, error) {
	var p paymentRow
	if known != nil {
		p = *known
	} else {
		var err error
		if p, err = n.loadPaymentRow(ctx, n.db, hash); err != nil {
			return lightning.Payment{}, false, err
		}
	}
	if p.Status != lightning.StatusInFlight {
		return lightning.Payment{}, false, nil
	}
	faults := n.faults.Load()
	if faults.HoldInFlight {
		return lightning.Payment{}, false, nil
	}
	// On the hot path (another node, a known peer, no faults) the request
	// is sent right after the claim, so the claim itself records it as
	// about to leave: no statement more than before. Otherwise the claim
	// records nothing, and markSent does, just before the request.
	remote := p.Destination != n.pubkey
	var (
		peer   string
		found  bool
		looked bool
	)
	if remote && faults.SettleDelay <= 0 && faults.FailReason == lightning.FailureNone {
		peer, found = n.peers.lookup(ctx, p.Destination)
		looked = true
	}
	claimed, sent, ok, err := n.claim(ctx, hash, p.attempts, looked && found)
	if err != nil || !ok {
		return lightning.Payment{}, false, err // !ok: another attempt (maybe another process) went first
	}
	// unsent: no attempt but maybe this one may have reached the payee.
	unsent := sent == 0 || sent == claimed
	if d := faults.SettleDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return lightning.Payment{}, false, ctx.Err()
		}
	}
	if claimed == 1 && faults.FailReason != lightning.FailureNone {
		return n.fail(ctx, p.Payment, faults.FailReason, claimed)
	}

	if !remote {
		return n.payLocal(ctx, p.Payment, claimed)
	}
	if !looked {
		peer, found = n.peers.lookup(ctx, p.Destination)
	}
	if !found {
		if unsent {
			return n.fail(ctx, p.Payment, lightning.FailureNoRoute, claimed)
		}
		return lightning.Payment{}, false, fmt.Errorf("no devnet peer for %s", p.Destination)
	}
	if sent == 0 {
		if ok, err := n.markSent(ctx, hash, claimed); err != nil || !ok {
			return lightning.Payment{}, false, err // !ok: resolved, or a newer attempt claimed: send nothing
		}
	}
	pre, ref, err := n.peers.pay(ctx, peer, p.Destination, devnetPayRequest{
		PaymentRequest: p.PaymentRequest, AmountMsat: p.AmountMsat, Payer: n.pubkey,
	})
	switch {
	case err != nil && unsent && notDelivered(err):
		return n.fail(ctx, p.Payment, lightning.FailureNoRoute, claimed)
	case err != nil:
		return lightning.Payment{}, false, err // outcome unknown: stays in flight, retried later
	case ref != nil:
		return n.fail(ctx, p.Payment, ref.reason, -1)
	case sha256.Sum256(pre[:]) != hash:
		// Without the preimage there is no proof of payment, and in
		// Lightning the HTLC would time out back to the payer.
		n.log.Error("devnet payee returned a wrong preimage", "payee", p.Destination, "payment_hash", hash.String())
		return n.fail(ctx, p.Payment, lightning.FailureError, -1)
	}
	resolved := store.Micros(n.now())
	n.mu.Lock()
	if r.takers > 0 {
		// A waiter records the success in its own transaction.
		r.handed = true
		n.mu.Unlock()
		return succeeded(p.Payment, pre, resolved), true, nil
	}
	n.mu.Unlock()
	return n.resolveTx(ctx, func(tx *store.Tx) (lightning.Payment, bool, error) {
		return n.succeed(ctx, tx, p.Payment, pre, resolved)
	})
}

// claim claims the attempt after the attempts one seen in the payment's
// row, if the payment is still in flight and no other attempt claimed it
// first (ok). With send, it also records the request as about to leave
// (sent_attempt), when no earlier attempt's may have. It returns the
// attempt claimed and the payment's sent_attempt as it now is: 0, none
// may have left; claimed, only this attempt's; else an earlier one's may
// have.
func (n *Node) claim(ctx context.Context, hash lightning.Hash, attempts int64, send bool) (claimed, sent int64, ok bool, err error) {
	flag := 0
	if send {
		flag = 1
	}
	err = n.db.QueryRowContext(ctx, `UPDATE ln_embedded_payments SET attempts = attempts + 1,
		sent_attempt = CASE WHEN CAST($5 AS BIGINT) = 1 AND sent_attempt = 0 THEN attempts + 1 ELSE sent_attempt END
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $3 AND attempts = CAST($4 AS BIGINT)
		RETURNING attempts, sent_attempt`,
		n.pubkey, hexHash(hash), string(lightning.StatusInFlight), attempts, flag).Scan(&claimed, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("claim attempt: %w", err)
	}
	return claimed, sent, true, nil
}

// markSent records, in a commit of its own, that the request of attempt
// claimed is about to leave, the first of the payment's that may. It must
// commit before the request is sent: a crash after the commit looks like
// a request that may have reached the payee, which only keeps the payment
// in flight; the other order could fail a payment the payee settled. It
// records nothing (false) once the payment is resolved or a newer attempt
// is claimed, and then the request must not be sent: the payment may
// already have failed on the strength of no request having left.
func (n *Node) markSent(ctx context.Context, hash lightning.Hash, claimed int64) (bool, error) {
	res, err := n.db.ExecContext(ctx, `UPDATE ln_embedded_payments SET sent_attempt = CAST($4 AS BIGINT)
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $3 AND attempts = CAST($4 AS BIGINT) AND sent_attempt = 0`,
		n.pubkey, hexHash(hash), string(lightning.StatusInFlight), claimed)
	if err != nil {
		return false, fmt.Errorf("record attempt sent: %w", err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}

// resolveTx runs record, which records a payment's outcome, in a
// transaction of its own, and returns the payment as recorded and true
// only if record recorded it and the transaction committed.
func (n *Node) resolveTx(ctx context.Context, record func(tx *store.Tx) (lightning.Payment, bool, error)) (lightning.Payment, bool, error) {
	var (
		final lightning.Payment
		done  bool
	)
	err := n.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		final, done, err = record(tx)
		return err
	})
	return final, done && err == nil, err
}

// payLocal pays an invoice of this node: payee and payer halves in one
// transaction, so there is nothing in between to crash in.
func (n *Node) payLocal(ctx context.Context, p lightning.Payment, claimed int64) (lightning.Payment, bool, error) {
	for i := 0; ; i++ {
		final, done, err := n.resolveTx(ctx, func(tx *store.Tx) (lightning.Payment, bool, error) {
			pre, ref, err := n.accept(ctx, tx, p.PaymentHash, p.AmountMsat, n.pubkey)
			if err != nil {
				return lightning.Payment{}, false, err
			}
			if ref != nil {
				return n.failTx(ctx, tx, p, ref.reason, -1)
			}
			return n.succeed(ctx, tx, p, pre, store.Micros(n.now()))
		})
		if errors.Is(err, errSettleRace) && i < 3 {
			continue
		}
		return final, done, err
	}
}

// succeed records in-flight payment p SUCCEEDED with preimage pre,
// resolved at resolved (micros). It returns the payment as recorded and
// true, or false if p was no longer in flight (resolved by another attempt).
func (n *Node) succeed(ctx context.Context, tx *store.Tx, p lightning.Payment, pre lightning.Hash, resolved int64) (lightning.Payment, bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE ln_embedded_payments SET status = $3, preimage = $4, resolved_at = $5
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $6`,
		n.pubkey, hexHash(p.PaymentHash), string(lightning.StatusSucceeded), hexHash(pre), resolved,
		string(lightning.StatusInFlight))
	if err != nil {
		return lightning.Payment{}, false, fmt.Errorf("record success: %w", err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return lightning.Payment{}, false, err
	}
	return succeeded(p, pre, resolved), true, nil
}

// succeeded is in-flight payment p as succeed records it.
func succeeded(p lightning.Payment, pre lightning.Hash, resolved int64) lightning.Payment {
	p.Status, p.Preimage, p.ResolvedAt = lightning.StatusSucceeded, pre, store.Time(resolved)
	return p
}

// fail marks in-flight payment p FAILED and returns its debit. With
// onlyAttempt ≥ 0 (a failure without the payee's refusal) it does so only
// if no later attempt has been claimed meanwhile and no attempt but
// onlyAttempt may have sent its request (sent_attempt). It returns the payment as recorded and true, or false if it
// recorded nothing.
func (n *Node) fail(ctx context.Context, p lightning.Payment, reason lightning.FailureReason, onlyAttempt int64) (lightning.Payment, bool, error) {
	return n.resolveTx(ctx, func(tx *store.Tx) (lightning.Payment, bool, error) {
		return n.failTx(ctx, tx, p, reason, onlyAttempt)
	})
}

func (n *Node) failTx(ctx context.Context, tx *store.Tx, p lightning.Payment, reason lightning.FailureReason, onlyAttempt int64) (lightning.Payment, bool, error) {
	var amount, fee int64
	now := store.Micros(n.now())
	err := tx.QueryRowContext(ctx, `UPDATE ln_embedded_payments SET status = $3, failure_reason = $4, resolved_at = $5
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $6 AND (CAST($7 AS BIGINT) < 0 OR (attempts = CAST($7 AS BIGINT) AND sent_attempt IN (0, CAST($7 AS BIGINT))))
		RETURNING amount_msat, fee_msat`,
		n.pubkey, hexHash(p.PaymentHash), string(lightning.StatusFailed), string(reason), now,
		string(lightning.StatusInFlight), onlyAttempt).Scan(&amount, &fee)
	if errors.Is(err, sql.ErrNoRows) {
		return lightning.Payment{}, false, nil // already resolved, or a newer attempt is under way
	}
	if err != nil {
		return lightning.Payment{}, false, fmt.Errorf("record failure: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = balance_msat + $2 WHERE pubkey = $1`,
		n.pubkey, amount+fee); err != nil {
		return lightning.Payment{}, false, fmt.Errorf("refund: %w", err)
	}
	p.Status, p.FailureReason, p.ResolvedAt = lightning.StatusFailed, reason, store.Time(now)
	p.AmountMsat, p.FeeMsat = amount, fee
	return p, true, nil
}
