package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning/bolt11"
)

// SandboxPayer is the payer an invoice paid by PaySandboxInvoice is
// recorded as settled by (ln_embedded_invoices.paid_by): not a node's
// pubkey, so it is never mistaken for a devnet peer's payment.
const SandboxPayer = "sandbox"

// PaySandboxInvoice pays one of this node's own open invoices from
// outside, for vaspd's sandbox (POST /sandbox/receive): as a devnet peer's
// payment arrives, through the same settlement (accept), so the invoice is
// settled once, the node's balance grows by the amount and the settlement
// is streamed to SubscribeSettled like any other. The money comes from no
// other node: the embedded node's is test money, and the sandbox is its
// faucet for one invoice (SetBalance is the node's own). Paying again an
// invoice this function settled is a no-op; anything else the payee would
// refuse (unknown, expired, already paid) is an error.
func (n *Node) PaySandboxInvoice(ctx context.Context, invoice string) error {
	inv, err := bolt11.Decode(invoice, n.opts.Network)
	if err != nil {
		return fmt.Errorf("embedded: sandbox payment: %w", err)
	}
	if inv.Destination != n.pubkey {
		return errors.New("embedded: sandbox payment: the invoice is not this node's")
	}
	if inv.AmountMsat <= 0 {
		return errors.New("embedded: sandbox payment: the invoice names no amount")
	}
	_, ref, err := n.settleIncoming(ctx, inv.PaymentHash, inv.AmountMsat, SandboxPayer)
	if err != nil {
		return fmt.Errorf("embedded: sandbox payment: %w", err)
	}
	if ref != nil {
		return fmt.Errorf("embedded: sandbox payment: %w", ref)
	}
	return nil
}
