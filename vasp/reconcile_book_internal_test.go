package vasp

import (
	"database/sql"
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// A payment between two of our users paid by the books alone (payHere)
// has nothing on the node: the reconciliation finds it right as long as
// system:node moved by its invoice's amount and the node did not pay or
// settle it after all.
func TestReconcileBookTransfer(t *testing.T) {
	const msats = 123_000
	booked := func(direction string, ledger int64) reconcileRow {
		return reconcileRow{id: "tx_1", direction: direction, status: StatusCompleted, msats: msats,
			details: Details{BookTransfer: true}, ledger: sql.NullInt64{Int64: ledger, Valid: true}}
	}
	var s *Service
	for _, tc := range []struct {
		name     string
		got      checked
		mismatch string
	}{
		{"incoming, invoice left open", s.checkIncoming(booked(Incoming, -msats), lightning.Invoice{State: lightning.InvoiceOpen, AmountMsat: msats}, true), ""},
		{"incoming, invoice gone", s.checkIncoming(booked(Incoming, -msats), lightning.Invoice{}, false), ""},
		{"incoming, invoice settled by someone else", s.checkIncoming(booked(Incoming, -msats),
			lightning.Invoice{State: lightning.InvoiceSettled, AmountMsat: msats, AmountPaidMsat: msats}, true), MismatchSettledNotCredited},
		{"incoming, booked another amount", s.checkIncoming(booked(Incoming, -msats+1), lightning.Invoice{}, false), MismatchIncomingAmount},
		{"outgoing, unknown to the node", checkOutgoing(booked(Outgoing, msats), lightning.Payment{}, false), ""},
		{"outgoing, refused by the node", checkOutgoing(booked(Outgoing, msats), lightning.Payment{Status: lightning.StatusFailed}, true), ""},
		{"outgoing, paid by the node too", checkOutgoing(booked(Outgoing, msats),
			lightning.Payment{Status: lightning.StatusSucceeded, AmountMsat: msats}, true), MismatchOutgoingAmount},
		{"outgoing, booked with a fee", checkOutgoing(booked(Outgoing, msats+1), lightning.Payment{}, false), MismatchOutgoingAmount},
	} {
		got := ""
		if tc.got.mismatch != nil {
			got = tc.got.mismatch.Kind
		}
		if got != tc.mismatch || tc.got.pending || tc.got.err != nil || tc.got.check == "" {
			t.Errorf("%s: %+v (mismatch %q); want checked, mismatch %q", tc.name, tc.got, got, tc.mismatch)
		}
	}
}
