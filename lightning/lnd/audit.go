package lnd

import (
	"context"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
)

// AuditPayment returns lnd's own answer for an outgoing payment, asked of
// lnd whatever this node's record of it says, and changes no record.
// TrackPayment answers a payment recorded as final from that record
// (written from lnd's answer when it became final), which is right for
// booking it once; a reconciliation of vaspd's books with the node
// (vasp/reconcile.go) must ask lnd as it is now: a payment recorded
// FAILED that lnd nevertheless paid is the very thing it looks for.
// ErrNotFound if lnd never saw the payment.
func (n *Node) AuditPayment(ctx context.Context, paymentHash lightning.Hash) (_ lightning.Payment, err error) {
	defer n.safe(&err)
	w, err := n.trackOnce(ctx, paymentHash)
	if err != nil {
		if rest.IsNotFound(err) {
			return lightning.Payment{}, fmt.Errorf("lnd payment %s: %w", paymentHash, lightning.ErrNotFound)
		}
		return lightning.Payment{}, n.wrap("track", err)
	}
	return n.convertChecked(record{Payment: lightning.Payment{PaymentHash: paymentHash}}, w)
}
