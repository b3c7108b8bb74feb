package lnd

import (
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
)

// feeAboveLimit is lnd reporting a payment's fee above the fee_limit_msat
// vaspd sent it with. lnd pays no more than that, so the answer is not
// booked: the payment stays in flight, and every track of it fails the
// same way until someone looks. That is a payment (SUCCEEDED, perhaps:
// the money gone) no retry will settle, so convert says so at ERROR, once
// per payment and process, naming it, rather than only in an error its
// callers retry on (the daemon's start-up resolver logs that every minute,
// without the hash; vasp's resolver once an hour).
type feeAboveLimit struct {
	hash       lightning.Hash
	status     lightning.PaymentStatus
	fee, limit int64
}

func (e *feeAboveLimit) Error() string {
	return fmt.Sprintf("lnd: payment %s: field fee_msat: %d msat above the limit of %d msat the payment was sent with", e.hash, e.fee, e.limit)
}

// noteFeeAboveLimit logs err at ERROR if it is a feeAboveLimit not yet
// logged for its payment by this Node. Only the hash, status and amounts
// are logged: nothing of the invoice or preimage.
func (n *Node) noteFeeAboveLimit(err error) {
	var e *feeAboveLimit
	if !errors.As(err, &e) {
		return
	}
	n.mu.Lock()
	logged := n.feeLogged[e.hash]
	n.feeLogged[e.hash] = true
	n.mu.Unlock()
	if logged {
		return
	}
	n.log.Error("lnd: payment reported with a fee above the limit it was sent with; not booked, left in flight: someone must look at it in lnd",
		"payment_hash", e.hash.String(), "status", string(e.status), "fee_msat", e.fee, "max_fee_msat", e.limit)
}
