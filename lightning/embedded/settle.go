package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// refusal is a payee's definitive "no": the payment will never settle, so
// the payer may fail it and take its money back.
type refusal struct {
	reason  lightning.FailureReason
	message string
}

func (r *refusal) Error() string { return fmt.Sprintf("payment refused: %s (%s)", r.message, r.reason) }

func refuse(msg string) *refusal {
	return &refusal{reason: lightning.FailureIncorrectDetails, message: msg}
}

// errSettleRace means another transaction settled the invoice between our
// read and our write; the caller runs the transaction again and then sees
// the settled invoice.
var errSettleRace = errors.New("embedded: concurrent settlement")

// accept is the payee's half of a payment, inside tx: it settles the open
// invoice paymentHash for amountMsat paid by payer, credits the balance and
// allocates the next settle index, and returns the preimage. It is
// idempotent per payer: an invoice already settled by payer returns the same
// preimage, so a payer that lost the answer (crash, timeout) may ask again.
// Every check runs inside the transaction, against the clock at settlement
// time, so a refusal is final: no earlier, slower request can settle later.
func (n *Node) accept(ctx context.Context, tx *store.Tx, paymentHash lightning.Hash, amountMsat int64, payer string) (lightning.Hash, *refusal, error) {
	var (
		preHex, state, paidBy string
		amount, expiresAt     int64
	)
	// The invoice row is locked before it is read (FOR UPDATE on
	// PostgreSQL; SQLite has one writer): a concurrent delivery that read
	// it first and settles it would otherwise commit after this one
	// refused it on the stale read, say as expired, and the payer take
	// back money the payee kept. Locked, this one waits and then finds
	// the settlement.
	err := tx.QueryRowContext(ctx, `SELECT preimage, state, paid_by, amount_msat, expires_at
		FROM ln_embedded_invoices WHERE node_pubkey = $1 AND payment_hash = $2 `+tx.Driver().ForUpdate(),
		n.pubkey, hexHash(paymentHash)).Scan(&preHex, &state, &paidBy, &amount, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return lightning.Hash{}, refuse("unknown invoice"), nil
	}
	if err != nil {
		return lightning.Hash{}, nil, fmt.Errorf("read invoice: %w", err)
	}
	pre, err := parseHash(preHex)
	if err != nil {
		return lightning.Hash{}, nil, err
	}
	now := n.now()
	switch {
	case state == string(lightning.InvoiceSettled) && paidBy == payer:
		return pre, nil, nil
	case state == string(lightning.InvoiceCanceled):
		return lightning.Hash{}, refuse("invoice canceled"), nil
	case state != string(lightning.InvoiceOpen):
		return lightning.Hash{}, refuse("invoice already paid"), nil
	case store.Micros(now) >= expiresAt:
		return lightning.Hash{}, refuse("invoice expired"), nil
	case amountMsat <= 0:
		return lightning.Hash{}, refuse("no amount"), nil
	case amountMsat > bolt11.MaxAmountMsat:
		// An any-amount invoice takes what the payer names: never more
		// than there can be bitcoin (nor enough to overflow the balance).
		return lightning.Hash{}, refuse("amount out of range"), nil
	case amount > 0 && (amountMsat < amount || amountMsat > 2*amount):
		// BOLT 4: a final node takes an overpayment of up to twice the
		// amount (a payer may pay more to hide the amount from
		// routers), as lnd does; it is settled, and reported as
		// AmountPaidMsat, for what was paid. 2*amount cannot overflow:
		// an invoice's amount is at most MaxAmountMsat.
		return lightning.Hash{}, refuse(fmt.Sprintf("amount %d msat is not %d msat to twice that", amountMsat, amount)), nil
	}
	// The credit never takes the balance past 21M BTC, counting what the
	// node has in flight, which may come back to it: each payment is within
	// the bound, but together they would end in a balance no int64 holds
	// (SQLite made it a float the node could no longer read; PostgreSQL
	// refused every settlement, or refund, leaving payers in flight for
	// good). Balance plus in flight is the node's side of its channel; a
	// node that cannot hold more refuses, as a channel without the capacity
	// would, and the payer fails the payment and takes its money back.
	h, err := n.lockHoldings(ctx, tx)
	if err != nil {
		return lightning.Hash{}, nil, err
	}
	room := h.room()
	if payer == n.pubkey {
		// A payment to itself (payLocal) is in flight in this transaction
		// and succeeds in it: its debit comes back as this credit, never
		// as a refund besides.
		var own int64
		err := tx.QueryRowContext(ctx, `SELECT amount_msat + fee_msat FROM ln_embedded_payments
			WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $3`,
			n.pubkey, hexHash(paymentHash), string(lightning.StatusInFlight)).Scan(&own)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return lightning.Hash{}, nil, fmt.Errorf("read own payment: %w", err)
		}
		room += own
	}
	if amountMsat > room {
		// Final, like every other refusal: the payer takes its money back
		// on it, so no later delivery (another attempt of the same payer,
		// arriving once the node has room again) may settle the invoice.
		if _, err := tx.ExecContext(ctx, `UPDATE ln_embedded_invoices SET state = $3
			WHERE node_pubkey = $1 AND payment_hash = $2 AND state = $4`,
			n.pubkey, hexHash(paymentHash), string(lightning.InvoiceCanceled), string(lightning.InvoiceOpen)); err != nil {
			return lightning.Hash{}, nil, fmt.Errorf("cancel invoice: %w", err)
		}
		return lightning.Hash{}, &refusal{reason: lightning.FailureNoRoute,
			message: "payee cannot receive that much: its balance would exceed 21M BTC"}, nil
	}
	var index int64
	err = tx.QueryRowContext(ctx, `UPDATE ln_embedded_nodes
		SET settle_index = settle_index + 1, balance_msat = balance_msat + $2
		WHERE pubkey = $1 RETURNING settle_index`, n.pubkey, amountMsat).Scan(&index)
	if err != nil {
		return lightning.Hash{}, nil, fmt.Errorf("allocate settle index: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE ln_embedded_invoices
		SET state = $3, amount_paid_msat = $4, settled_at = $5, settle_index = $6, paid_by = $7
		WHERE node_pubkey = $1 AND payment_hash = $2 AND state = $8`,
		n.pubkey, hexHash(paymentHash), string(lightning.InvoiceSettled), amountMsat, store.Micros(now), index, payer,
		string(lightning.InvoiceOpen))
	if err != nil {
		return lightning.Hash{}, nil, fmt.Errorf("settle invoice: %w", err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return lightning.Hash{}, nil, err
	} else if k != 1 {
		return lightning.Hash{}, nil, errSettleRace
	}
	tx.AfterCommit(n.wake.notify)
	return pre, nil, nil
}

// settleIncoming runs accept in its own transaction (the devnet handler's
// path), again after a lost race.
func (n *Node) settleIncoming(ctx context.Context, paymentHash lightning.Hash, amountMsat int64, payer string) (lightning.Hash, *refusal, error) {
	for i := 0; ; i++ {
		var (
			pre lightning.Hash
			ref *refusal
		)
		err := n.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			pre, ref, err = n.accept(ctx, tx, paymentHash, amountMsat, payer)
			return err
		})
		if errors.Is(err, errSettleRace) && i < 3 {
			continue
		}
		return pre, ref, err
	}
}
