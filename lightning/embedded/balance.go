package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
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
// is not real. Payments in flight keep their debits.
func (n *Node) SetBalance(ctx context.Context, msat int64) error {
	if msat < 0 || msat > bolt11.MaxAmountMsat {
		return fmt.Errorf("embedded: balance %d msat out of range", msat)
	}
	_, err := n.db.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = $2 WHERE pubkey = $1`, n.pubkey, msat)
	return err
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
		b, err := n.Balance(ctx)
		if err != nil {
			return nil, err
		}
		// The devnet bounds what the node receives only by the balance's
		// ceiling (settle.go), so that is its inbound capacity.
		return []lightning.UTXO{{Outpoint: n.ChannelOutpoint(), AmountMsat: b, InboundMsat: bolt11.MaxAmountMsat - b}}, nil
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
