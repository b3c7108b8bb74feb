package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// Balance is the node's spendable balance: what it was given, plus what it
// received, minus what it paid or has in flight (amounts and fees).
func (n *Node) Balance(ctx context.Context) (int64, error) {
	var b int64
	if err := n.db.QueryRowContext(ctx, `SELECT balance_msat FROM ln_embedded_nodes WHERE pubkey = $1`, n.pubkey).Scan(&b); err != nil {
		return 0, fmt.Errorf("embedded: read balance: %w", err)
	}
	return b, nil
}

// SetBalance sets the node's balance: a faucet for the devnet, whose money
// is not real. Payments in flight keep their debits, which may come back:
// the balance may be at most 21M BTC less what is in flight.
func (n *Node) SetBalance(ctx context.Context, msat int64) error {
	if msat < 0 || msat > bolt11.MaxAmountMsat {
		return fmt.Errorf("embedded: balance %d msat out of range", msat)
	}
	return n.db.InTx(ctx, func(tx *store.Tx) error {
		h, err := n.lockHoldings(ctx, tx)
		if err != nil {
			return fmt.Errorf("embedded: set balance: %w", err)
		}
		if msat > bolt11.MaxAmountMsat-h.inFlight {
			return fmt.Errorf("embedded: balance %d msat with %d msat in flight would exceed 21M BTC", msat, h.inFlight)
		}
		_, err = tx.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = $2 WHERE pubkey = $1`, n.pubkey, msat)
		return err
	})
}

// inFlightQuery is what node $1 has in flight, $2 being
// lightning.StatusInFlight: the amounts and fees of its payments not yet
// resolved, debited from its balance and given back if they fail. It is
// the one definition of money in flight (lockHoldings, UTXOs).
const inFlightQuery = `SELECT CAST(COALESCE(SUM(amount_msat + fee_msat), 0) AS BIGINT) FROM ln_embedded_payments
	WHERE node_pubkey = $1 AND status = $2`

// holdings is the node's side of its channel: its balance and what it has
// in flight.
type holdings struct{ balance, inFlight int64 }

// room is how much more the node can hold: 21M BTC less its balance and
// what it has in flight (which a failure gives back).
func (h holdings) room() int64 { return bolt11.MaxAmountMsat - h.balance - h.inFlight }

// lockHoldings reads the node's holdings in tx. It locks the node row
// first, in a statement of its own, so that what is in flight is read
// after every debit and refund committed before (they update that row in
// the transaction that records them; on PostgreSQL a later statement sees
// what committed while this one waited for the lock, the same statement
// would not), and none commits until tx ends.
func (n *Node) lockHoldings(ctx context.Context, tx *store.Tx) (holdings, error) {
	var h holdings
	if err := tx.QueryRowContext(ctx, `SELECT balance_msat FROM ln_embedded_nodes WHERE pubkey = $1 `+tx.Driver().ForUpdate(),
		n.pubkey).Scan(&h.balance); err != nil {
		return h, fmt.Errorf("read balance: %w", err)
	}
	if err := tx.QueryRowContext(ctx, inFlightQuery, n.pubkey, string(lightning.StatusInFlight)).Scan(&h.inFlight); err != nil {
		return h, fmt.Errorf("read payments in flight: %w", err)
	}
	return h, nil
}

// ChannelOutpoint is the node's synthetic channel outpoint. The embedded
// node has no chain and no channels; UMA compliance flows want channel
// UTXOs to screen, so each node reports one stable made-up outpoint,
// sha256("vaspd embedded channel" || pubkey):0. It is not on any chain.
func (n *Node) ChannelOutpoint() string {
	h := sha256.Sum256([]byte("vaspd embedded channel" + n.pubkey))
	return hex.EncodeToString(h[:]) + ":0"
}

// UTXOs returns, for the zero hash, the node's synthetic channel with its
// balance and what it can still receive; for an outgoing payment, that
// channel with the amount and fee it carried; for a settled incoming
// invoice, the channel with the amount received. ErrNotFound for any other
// hash.
func (n *Node) UTXOs(ctx context.Context, paymentHash lightning.Hash) ([]lightning.UTXO, error) {
	if paymentHash.IsZero() {
		// One statement, so balance and in flight are of one moment
		// (nothing is locked: a payment may resolve between two).
		var h holdings
		if err := n.db.QueryRowContext(ctx, `SELECT balance_msat, (`+inFlightQuery+`)
			FROM ln_embedded_nodes WHERE pubkey = $1`, n.pubkey, string(lightning.StatusInFlight)).Scan(&h.balance, &h.inFlight); err != nil {
			return nil, fmt.Errorf("embedded: read balance: %w", err)
		}
		// The devnet bounds what the node receives only by the ceiling of
		// its balance and what it has in flight (settle.go, holdings.room),
		// so that is its inbound capacity.
		return []lightning.UTXO{{Outpoint: n.ChannelOutpoint(), AmountMsat: h.balance, InboundMsat: h.room()}}, nil
	}
	p, err := n.loadPayment(ctx, n.db, paymentHash)
	if err == nil {
		return []lightning.UTXO{{Outpoint: n.ChannelOutpoint(), AmountMsat: p.AmountMsat + p.FeeMsat}}, nil
	}
	if !errors.Is(err, lightning.ErrNotFound) {
		return nil, err
	}
	inv, err := n.LookupInvoice(ctx, paymentHash)
	if err != nil {
		return nil, err
	}
	if inv.State != lightning.InvoiceSettled {
		return nil, nil
	}
	return []lightning.UTXO{{Outpoint: n.ChannelOutpoint(), AmountMsat: inv.AmountPaidMsat}}, nil
}
