package embedded

import (
	"fmt"

	"github.com/lightningnetwork/lnd/lnwire"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
)

// supportedFeatures are the invoice feature bits the node knows how to pay
// with: var_onion_optin, payment_secret and basic_mpp, the ones it puts on
// its own invoices (bolt11.InvoiceFeatures), each as the pair of its
// required (even) and optional (odd) bit.
var supportedFeatures = map[int]bool{
	int(lnwire.TLVOnionPayloadRequired): true, int(lnwire.TLVOnionPayloadOptional): true,
	int(lnwire.PaymentAddrRequired): true, int(lnwire.PaymentAddrOptional): true,
	int(lnwire.MPPRequired): true, int(lnwire.MPPOptional): true,
}

// checkFeatures refuses an invoice that requires a feature the node does
// not support. BOLT11: a payer MUST NOT attempt a payment whose invoice
// sets an unknown even ("it's OK to be odd") feature bit — the payee needs
// something the payer cannot give — and ignores unknown odd bits.
func checkFeatures(inv bolt11.Invoice) error {
	for _, bit := range inv.Features {
		if bit%2 == 0 && !supportedFeatures[bit] {
			return fmt.Errorf("embedded: %w: invoice requires feature bit %d, which this node does not support", lightning.ErrInvalidInvoice, bit)
		}
	}
	return nil
}
