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

// kick starts an attempt to resolve the in-flight payment hash, unless one
// is already running in this process, and returns a channel closed when that
// attempt ends. After Close it returns a closed channel.
func (n *Node) kick(hash lightning.Hash) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.inflight[hash]; ok {
		return ch
	}
	ch := make(chan struct{})
	if n.closed {
		close(ch)
		return ch
	}
	n.inflight[hash] = ch
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.attempt(n.ctx, hash); err != nil && n.ctx.Err() == nil {
			n.log.Warn("payment attempt", "payment_hash", hash.String(), "err", err)
		}
		n.mu.Lock()
		delete(n.inflight, hash)
		n.mu.Unlock()
		close(ch)
	}()
	return ch
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
		n.kick(h)
	}
	return nil
}

// attempt makes one delivery attempt for an in-flight payment and records
// the outcome if it is final.
//
// Crash safety rests on two rules. The payee's answer is idempotent per
// payer, so any number of attempts, by any process, settle at most once and
// all learn the same preimage. And the payer fails a payment without the
// payee's refusal only when no attempt can have reached the payee: the
// attempt is the first (attempts moved 0→1 under our conditional UPDATE)
// and it never left this process.
func (n *Node) attempt(ctx context.Context, hash lightning.Hash) error {
	p, err := n.loadPaymentRow(ctx, n.db, hash)
	if err != nil || p.Status != lightning.StatusInFlight {
		return err
	}
	faults := n.faults.Load()
	if faults.HoldInFlight {
		return nil
	}
	res, err := n.db.ExecContext(ctx, `UPDATE ln_embedded_payments SET attempts = attempts + 1
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $3 AND attempts = $4`,
		n.pubkey, hexHash(hash), string(lightning.StatusInFlight), p.attempts)
	if err != nil {
		return fmt.Errorf("claim attempt: %w", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return nil // another attempt (maybe another process) went first
	}
	first := p.attempts == 0
	claimed := p.attempts + 1
	if d := faults.SettleDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if first && faults.FailReason != lightning.FailureNone {
		return n.fail(ctx, hash, faults.FailReason, claimed)
	}

	if p.Destination == n.pubkey {
		return n.payLocal(ctx, p.Payment, claimed)
	}
	peer, ok := n.peers.lookup(ctx, p.Destination)
	if !ok {
		if first {
			return n.fail(ctx, hash, lightning.FailureNoRoute, claimed)
		}
		return fmt.Errorf("no devnet peer for %s", p.Destination)
	}
	pre, ref, err := n.peers.pay(ctx, peer, devnetPayRequest{
		PaymentRequest: p.PaymentRequest, AmountMsat: p.AmountMsat, Payer: n.pubkey,
	})
	switch {
	case err != nil && first && notDelivered(err):
		return n.fail(ctx, hash, lightning.FailureNoRoute, claimed)
	case err != nil:
		return err // outcome unknown: stays in flight, retried later
	case ref != nil:
		return n.fail(ctx, hash, ref.reason, -1)
	case sha256.Sum256(pre[:]) != hash:
		// Without the preimage there is no proof of payment, and in
		// Lightning the HTLC would time out back to the payer.
		n.log.Error("devnet payee returned a wrong preimage", "payee", p.Destination, "payment_hash", hash.String())
		return n.fail(ctx, hash, lightning.FailureError, -1)
	}
	return n.db.InTx(ctx, func(tx *store.Tx) error { return n.succeed(ctx, tx, hash, pre) })
}

// payLocal pays an invoice of this node: payee and payer halves in one
// transaction, so there is nothing in between to crash in.
func (n *Node) payLocal(ctx context.Context, p lightning.Payment, claimed int64) error {
	for i := 0; ; i++ {
		err := n.db.InTx(ctx, func(tx *store.Tx) error {
			pre, ref, err := n.accept(ctx, tx, p.PaymentHash, p.AmountMsat, n.pubkey)
			if err != nil {
				return err
			}
			if ref != nil {
				return n.failTx(ctx, tx, p.PaymentHash, ref.reason, -1)
			}
			return n.succeed(ctx, tx, p.PaymentHash, pre)
		})
		if errors.Is(err, errSettleRace) && i < 3 {
			continue
		}
		return err
	}
}

func (n *Node) succeed(ctx context.Context, tx *store.Tx, hash lightning.Hash, pre lightning.Hash) error {
	_, err := tx.ExecContext(ctx, `UPDATE ln_embedded_payments SET status = $3, preimage = $4, resolved_at = $5
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $6`,
		n.pubkey, hexHash(hash), string(lightning.StatusSucceeded), hexHash(pre), store.Micros(n.now()),
		string(lightning.StatusInFlight))
	if err != nil {
		return fmt.Errorf("record success: %w", err)
	}
	return nil
}

// fail marks the payment FAILED and returns its debit. With onlyAttempt ≥ 0
// it does so only if no later attempt has been claimed meanwhile.
func (n *Node) fail(ctx context.Context, hash lightning.Hash, reason lightning.FailureReason, onlyAttempt int64) error {
	return n.db.InTx(ctx, func(tx *store.Tx) error { return n.failTx(ctx, tx, hash, reason, onlyAttempt) })
}

func (n *Node) failTx(ctx context.Context, tx *store.Tx, hash lightning.Hash, reason lightning.FailureReason, onlyAttempt int64) error {
	var amount, fee int64
	err := tx.QueryRowContext(ctx, `UPDATE ln_embedded_payments SET status = $3, failure_reason = $4, resolved_at = $5
		WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $6 AND (CAST($7 AS BIGINT) < 0 OR attempts = CAST($7 AS BIGINT))
		RETURNING amount_msat, fee_msat`,
		n.pubkey, hexHash(hash), string(lightning.StatusFailed), string(reason), store.Micros(n.now()),
		string(lightning.StatusInFlight), onlyAttempt).Scan(&amount, &fee)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // already resolved, or a newer attempt is under way
	}
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = balance_msat + $2 WHERE pubkey = $1`,
		n.pubkey, amount+fee); err != nil {
		return fmt.Errorf("refund: %w", err)
	}
	return nil
}
