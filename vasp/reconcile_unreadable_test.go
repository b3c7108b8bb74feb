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
