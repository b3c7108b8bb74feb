package lnd

import (
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
)

// issuedSlack is how far the payment request's timestamp and expiry may
// lie from lnd's record of the invoice (creation_date, expiry). lnd writes
// both from one time, to the second; a store that keeps finer times may
// round it into the next second. A minute more or less of an invoice's
// life is no one's loss; an hour would be a payment at a stale price.
const issuedSlack = time.Minute

// checkIssued holds the payment request of an invoice lnd issued (inv, as
// lnd stored it) to what vaspd asked (req, with expiry in whole seconds,
// 0 for lnd's default) of this node (info). The payer pays what the
// payment request says, not lnd's record: decoded (lightning/bolt11, over
// lnd's zpay32), it must be signed by this node's key, on its network,
// for the payment hash lnd answered with (a payment to another hash
// credits no one), for the amount asked (none when none was asked: the
// payer's choice) and the description hash asked (LUD-18: UMA's payer
// checks it), with the expiry asked, issued when lnd's record says.
// Anything else is an error naming payment_request, never an invoice
// handed out.
func checkIssued(inv lightning.Invoice, req lightning.InvoiceRequest, expiry int64, info lightning.NodeInfo) error {
	dec, err := bolt11.Decode(inv.PaymentRequest, info.Network)
	if err != nil {
		// %v: the sentinels speak of an invoice a payer gave; this is
		// the node's fault, not the caller's.
		return fmt.Errorf("lnd: field payment_request: %.100q does not decode for this node: %v", inv.PaymentRequest, err)
	}
	var wrong string
	switch {
	case !strings.EqualFold(dec.Destination, info.PubKey):
		wrong = fmt.Sprintf("pays node %s, not this node %s", dec.Destination, info.PubKey)
	case dec.PaymentHash != inv.PaymentHash:
		wrong = fmt.Sprintf("is for payment hash %s, not r_hash %s", dec.PaymentHash, inv.PaymentHash)
	case dec.AmountMsat != req.AmountMsat:
		wrong = fmt.Sprintf("asks %d msat, not the %d msat asked (0: any amount)", dec.AmountMsat, req.AmountMsat)
	case dec.Description != "":
		wrong = fmt.Sprintf("has a description, not the description hash %s asked", req.DescriptionHash)
	case dec.DescriptionHash != req.DescriptionHash:
		wrong = fmt.Sprintf("has description hash %s, not the %s asked", dec.DescriptionHash, req.DescriptionHash)
	case expiry > 0 && dec.Expiry != time.Duration(expiry)*time.Second:
		wrong = fmt.Sprintf("expires after %s, not the %ds asked", dec.Expiry, expiry)
	case far(dec.Timestamp, inv.CreatedAt) || far(dec.ExpiresAt(), inv.ExpiresAt):
		wrong = fmt.Sprintf("was issued at %s to expire at %s; lnd's record says %s and %s",
			dec.Timestamp.Format(time.RFC3339), dec.ExpiresAt().Format(time.RFC3339),
			inv.CreatedAt.Format(time.RFC3339), inv.ExpiresAt.Format(time.RFC3339))
	default:
		return nil
	}
	return fmt.Errorf("lnd: field payment_request: the invoice lnd issued %s", wrong)
}

// far reports whether a and b are more than issuedSlack apart.
func far(a, b time.Time) bool {
	d := a.Sub(b)
	return d > issuedSlack || d < -issuedSlack
}
