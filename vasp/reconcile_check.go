package vasp

import (
	"context"
	"errors"
	"fmt"

	"github.com/vaspd/vaspd/lightning"
)

// The rules of Reconcile, one payment at a time (reconcile.go says them).

// checked is one payment's outcome: the check it passed or failed
// (mismatch), pending for a payment still on its way (an incoming one's
// settlement within the grace, an outgoing one the node still pays or
// does not know), or err when the node could not be asked.
type checked struct {
	check    string
	pending  bool
	mismatch *Mismatch
	err      error
}

// provablyUnsent are the failure reasons vaspd books when the node refused
// the invoice before anything was sent (execute.go's refused, reasonOf):
// a node that does not know such a payment is right not to.
var provablyUnsent = map[string]bool{string(reasonPaymentRefused): true, string(reasonInvoiceExpired): true}

// paymentAuditor is a node whose TrackPayment answers a payment recorded
// as final from its record rather than the node (lightning/lnd), and that
// can ask the node itself: the reconciliation asks that.
type paymentAuditor interface {
	AuditPayment(ctx context.Context, paymentHash lightning.Hash) (lightning.Payment, error)
}

func (s *Service) reconcileOne(ctx context.Context, row reconcileRow) checked {
	hash, err := lightning.ParseHash(row.hash)
	if err != nil {
		// Asking again cannot help: a finding, not a failed lookup.
		s.log.WarnContext(ctx, "reconciliation: a payment's record cannot be read; not checked against the node (a mismatch UNREADABLE_RECORD)",
			"transaction", row.id, "why", "payment hash: "+err.Error())
		return checked{mismatch: unreadableMismatch(row)}
	}
	ctx, cancel := context.WithTimeout(ctx, reconcileLookupTimeout)
	defer cancel()
	if row.direction == Incoming {
		inv, err := s.opt.Node.LookupInvoice(ctx, hash)
		if err != nil && !errors.Is(err, lightning.ErrNotFound) {
			return checked{err: err}
		}
		return s.checkIncoming(row, inv, err == nil)
	}
	track := s.opt.Node.TrackPayment
	if a, ok := s.opt.Node.(paymentAuditor); ok {
		track = a.AuditPayment
	}
	p, err := track(ctx, hash)
	if err != nil && !errors.Is(err, lightning.ErrNotFound) {
		return checked{err: err}
	}
	return checkOutgoing(row, p, err == nil)
}

// booked is what vaspd booked as moved on the node, fees apart: what the
// node reported paid if it differed from the invoice's amount, else the
// invoice's amount (settle.go's credit and failUnmatched for an incoming
// payment, execute.go's finish for an outgoing one).
func (row reconcileRow) booked() int64 {
	if row.details.AmountPaidMsats != 0 {
		return row.details.AmountPaidMsats
	}
	return row.msats
}

func (s *Service) checkIncoming(row reconcileRow, inv lightning.Invoice, found bool) checked {
	ours := OurSide{Status: row.status, Msats: row.booked(), InvoiceMsats: row.msats}
	if row.ledger.Valid {
		ours.LedgerMsats = -row.ledger.Int64 // the node's account is debited by what it received
	}
	node := NodeSide{State: nodeNotFound}
	settled := found && inv.State == lightning.InvoiceSettled
	if found {
		node.State = string(inv.State)
		// A backend that tells no amount paid: the invoice's, as credit does.
		node.Msats = inv.AmountPaidMsat
		if node.Msats == 0 && settled {
			node.Msats = inv.AmountMsat
		}
	}
	mismatch := func(kind string) *Mismatch {
		return &Mismatch{TransactionID: row.id, PaymentHash: row.hash, Direction: row.direction, Kind: kind, Ours: ours, Node: node}
	}
	// An underpaid payment and one settled for a deleted user are
	// booked too, to system:unmatched (failUnmatched).
	booksIn := row.status == StatusCompleted ||
		(row.status == StatusFailed && (row.reason == reasonUnderpaid || row.reason == reasonUserDeleted))
	if booksIn {
		check := CheckIncomingCompleted
		if row.status == StatusFailed {
			check = CheckIncomingUnderpaid
		}
		switch {
		case row.details.BookTransfer && settled:
			// Paid by our books alone (payHere), its invoice left open:
			// the node received money for it all the same, which no
			// one was credited.
			return checked{check: check, mismatch: mismatch(MismatchSettledNotCredited)}
		case row.details.BookTransfer:
			if ours.LedgerMsats != ours.Msats {
				return checked{check: check, mismatch: mismatch(MismatchIncomingAmount)}
			}
			return checked{check: check}
		case !settled:
			return checked{check: check, mismatch: mismatch(MismatchNotSettledOnNode)}
		case node.Msats != ours.Msats || ours.LedgerMsats != ours.Msats:
			return checked{check: check, mismatch: mismatch(MismatchIncomingAmount)}
		}
		return checked{check: check}
	}
	// Not credited: PENDING, EXPIRED, REJECTED (or FAILED otherwise).
	if settled {
		// The grace runs to when the status was read, not to the
		// lookup's answer: a settlement after the read (or just before
		// it) may have been credited since, the status read being
		// older than the node's answer.
		if !inv.SettledAt.IsZero() && row.read.Sub(inv.SettledAt) < reconcileGrace {
			return checked{pending: true} // the settlement stream may not have got there yet
		}
		return checked{check: CheckIncomingNotPaid, mismatch: mismatch(MismatchSettledNotCredited)}
	}
	if row.status == StatusPending {
		return checked{pending: true}
	}
	return checked{check: CheckIncomingNotPaid}
}

func checkOutgoing(row reconcileRow, p lightning.Payment, found bool) checked {
	// What was booked paid, the node's word when it was not the
	// invoice's amount: the report shows it beside the invoice's.
	ours := OurSide{Status: row.status, Msats: row.booked(), InvoiceMsats: row.msats, FeeMsats: row.details.RoutingFeeMsats}
	if row.ledger.Valid {
		ours.LedgerMsats = row.ledger.Int64 // the node's account is credited by what it sent, fee included
	}
	node := NodeSide{State: nodeNotFound}
	if found {
		node = NodeSide{State: string(p.Status), Msats: p.AmountMsat, FeeMsats: p.FeeMsat}
	}
	mismatch := func(kind string) *Mismatch {
		return &Mismatch{TransactionID: row.id, PaymentHash: row.hash, Direction: row.direction, Kind: kind, Ours: ours, Node: node}
	}
	succeeded := found && p.Status == lightning.StatusSucceeded
	switch row.status {
	case StatusCompleted:
		switch {
		// Paid by our books alone (payHere): the node sent nothing, and
		// system:node was credited the invoice's amount, no fee (and
		// debited as much by the payee's credit). A node that paid it
		// all the same paid out what the books say it kept.
		case row.details.BookTransfer && (succeeded || ours.LedgerMsats != row.msats || ours.Msats != row.msats):
			return checked{check: CheckOutgoingCompleted, mismatch: mismatch(MismatchOutgoingAmount)}
		case row.details.BookTransfer:
			return checked{check: CheckOutgoingCompleted}
		case !succeeded:
			return checked{check: CheckOutgoingCompleted, mismatch: mismatch(MismatchNotSentOnNode)}
		// A node paying another amount than the invoice asked is a
		// finding even once booked as it paid (execute.go's finish logs
		// it at ERROR): nothing does, but a node that is wrong.
		case p.AmountMsat != ours.Msats || ours.Msats != row.msats || p.FeeMsat != ours.FeeMsats ||
			ours.LedgerMsats != p.AmountMsat+p.FeeMsat:
			return checked{check: CheckOutgoingCompleted, mismatch: mismatch(MismatchOutgoingAmount)}
		}
		return checked{check: CheckOutgoingCompleted}
	case StatusFailed:
		switch {
		case succeeded:
			return checked{check: CheckOutgoingFailed, mismatch: mismatch(MismatchRefundedButSent)}
		case found && p.Status == lightning.StatusInFlight:
			return checked{check: CheckOutgoingFailed, mismatch: mismatch(MismatchRefundedInFlight)}
		case !found && !provablyUnsent[row.reason]:
			return checked{check: CheckOutgoingFailed, mismatch: mismatch(MismatchRefundedUnknown)}
		}
		return checked{check: CheckOutgoingFailed}
	case StatusProcessing:
		// Overdue for the resolver (reconcilePage looks up no other).
		if found && (p.Status == lightning.StatusSucceeded || p.Status == lightning.StatusFailed) {
			return checked{check: CheckOutgoingProcessing, mismatch: mismatch(MismatchFinalOnNodeNotBooked)}
		}
		// IN_FLIGHT, or unknown (the resolver sends it): still the
		// resolver's.
		return checked{pending: true}
	}
	// No other status is an outgoing payment's.
	return checked{err: fmt.Errorf("transaction %s: outgoing payment in status %q", row.id, row.status)}
}
