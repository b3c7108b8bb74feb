package vasp_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/vasp"
)

// An invoice paid once its user was deleted (a user deleted before deletes
// waited for open invoices) credits nobody: what arrived is booked to
// system:unmatched for the operator, the payment ends FAILED, and an error
// names the transaction and the user.
func TestSettlementForDeletedUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDeleting(t, db)
		u := d.user(t, "carol")
		resp, err := d.payreq(t, "carol")
		if err != nil {
			t.Fatal(err)
		}
		// Deleted as before the check: by a Service without it.
		old := users.New(db, d.w.clock)
		if err := db.InTx(t.Context(), func(tx *store.Tx) error { _, err := old.Delete(t.Context(), tx, u.ID); return err }); err != nil {
			t.Fatal(err)
		}
		var id string
		var msats int64
		if err := db.QueryRowContext(t.Context(), `SELECT id, msats FROM uma_transactions WHERE invoice = $1`, resp.PR).Scan(&id, &msats); err != nil {
			t.Fatal(err)
		}
		if p, err := d.w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		d.w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		d.s.SweepPending(t.Context())
		got, err := d.s.GetTransaction(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vasp.StatusFailed || got.FailureReason != "USER_DELETED" {
			t.Fatalf("payment to the deleted user is %s/%q, want FAILED/USER_DELETED", got.Status, got.FailureReason)
		}
		l := ledger.New(db, nil)
		if b, err := l.Balance(t.Context(), db, ledger.UserAccount(u.ID), "EUR"); err != nil || b != 0 {
			t.Errorf("deleted user credited %d EUR (%v), want nothing", b, err)
		}
		if b, err := l.Balance(t.Context(), db, ledger.SystemAccount("unmatched"), ledger.BTC); err != nil || b != msats {
			t.Errorf("system:unmatched holds %d msats (%v), want %d", b, err, msats)
		}
		if err := l.Check(t.Context(), db); err != nil {
			t.Errorf("ledger audit: %v", err)
		}
		wantEndHooks(t, db, id, "FAILED/QUOTE_EXECUTION_FAILED")
		// The reconciliation knows the payment booked (to system:unmatched),
		// past the grace given a fresh settlement.
		d.w.clock.Advance(5 * time.Minute)
		now := d.w.clock.Now()
		rep, err := d.s.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Mismatches) != 0 || rep.Checked[vasp.CheckIncomingUnderpaid] != 1 {
			t.Errorf("reconciliation: checked %v, mismatches %+v; want it checked as booked to system:unmatched", rep.Checked, rep.Mismatches)
		}
		if n := d.logs.count(t, slog.LevelError, id); n != 1 || d.logs.count(t, slog.LevelError, u.ID) != 1 {
			t.Errorf("the stranded payment was logged %d times at error level with its transaction, want once with it and the user", n)
		}
	})
}
