package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A payment the reconciler cannot read (details that do not parse, a
// payment hash that is none: a bug's or a hand's edit) is a finding of
// its own, UNREADABLE_RECORD, and the run goes on to the payments after
// it and completes. It stopped the run: the first page's read failed, and
// with it the whole reconciliation.
func TestReconcileUnreadableRowIsAFinding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		badDetails := r.incoming(t, false)
		badHash := r.incoming(t, false)
		fine := r.incoming(t, false)
		r.exec(t, `UPDATE uma_transactions SET details = 'not json' WHERE id = $1`, badDetails.ID)
		r.exec(t, `UPDATE uma_transactions SET payment_hash = 'zz' WHERE id = $1`, badHash.ID)
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{badDetails.ID: vasp.MismatchUnreadable, badHash.ID: vasp.MismatchUnreadable})
		if rep.Transactions != 3 || rep.InFlight.IncomingPending != 1 {
			t.Fatalf("report %+v: want 3 payments read, %s pending", rep, fine.ID)
		}
	})
}

// So for a row whose columns do not scan (SQLite keeps what it is given:
// text in an integer column, by a hand's edit): a finding, and the run
// goes on past it, where it failed the whole page, and with it every run.
// PostgreSQL's columns hold only their type's values.
func TestReconcileUnscannableRowIsAFinding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Driver().Name() != "sqlite" {
			t.Skip("PostgreSQL's columns hold only their type's values")
		}
		r := newReconciler(t, db)
		bad := r.incoming(t, false)
		fine := r.incoming(t, false)
		// An outgoing payment PROCESSING whose row does not scan tells no
		// age: it is a finding at once, the resolver unable to read it
		// either (it would be in flight for good).
		out := r.execute(t, vasp.StatusCompleted)
		r.exec(t, `UPDATE uma_transactions SET msats = 'lots' WHERE id = $1`, bad.ID)
		r.exec(t, `UPDATE uma_transactions SET msats = 'lots', status = 'PROCESSING' WHERE id = $1`, out.ID)
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{bad.ID: vasp.MismatchUnreadable, out.ID: vasp.MismatchUnreadable})
		if !rep.Complete || rep.Transactions != 3 || rep.InFlight.IncomingPending != 1 || rep.InFlight.OutgoingProcessing != 0 {
			t.Fatalf("report %+v: want complete, 3 payments read, %s pending, none processing", rep, fine.ID)
		}
		for _, m := range rep.Mismatches {
			want := map[string]vasp.Transaction{bad.ID: bad, out.ID: {Direction: vasp.Outgoing, PaymentHash: out.PaymentHash, Status: vasp.StatusProcessing}}[m.TransactionID]
			if m.Direction != want.Direction || m.PaymentHash != want.PaymentHash || m.Ours.Status != want.Status {
				t.Fatalf("the finding says %+v; want what of the record reads", m)
			}
		}
	})
}
