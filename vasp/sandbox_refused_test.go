package vasp_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A simulated transfer whose execute is refused deposits nothing: the
// deposit was committed before the execute's checks, and a refused
// execute left its money on the user's balance, created by a request
// that was refused.

// Refused at the claim: the quote expired while the execute checked it.
func TestSandboxSendExpiredAtClaimDepositsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		q := r.plainQuote(t)
		r.s.SetBeforeClaim(func(string) { r.w.clock.Set(q.ExpiresAt) })
		_, err := r.s.SandboxSend(t.Context(), q.ID, q.SendingCurrency, q.SendingAmount, "")
		if got := balance(t, db, ledger.UserAccount(r.w.alice.UserID), q.SendingCurrency); got != 0 {
			t.Errorf("alice holds %d after a refused send", got)
		}
		wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteExpired)
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}

// Refused by the payment it retries: another retry of it paid.
func TestSandboxSendOfRetryOfPaidPaymentDepositsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 2_000)
		q := r.plainQuote(t)
		r.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		r.w.node.SetFaults(embedded.Faults{})
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute with no route: %+v %v, want FAILED", tr, err)
		}
		first, err := r.s.RetryQuote(t.Context(), q.ID, r.lookup(t).ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		second, err := r.s.RetryQuote(t.Context(), q.ID, r.lookup(t).ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.ExecuteQuote(t.Context(), second.ID, ""); err != nil {
			t.Fatal(err)
		}
		_, err = r.s.SandboxSend(t.Context(), first.ID, first.SendingCurrency, first.SendingAmount, "")
		if got := balance(t, db, ledger.UserAccount(r.w.alice.UserID), "USD"); got != 2_000-second.SendingAmount {
			t.Errorf("alice holds %d after a refused send, want %d", got, 2_000-second.SendingAmount)
		}
		wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteAlreadyExecuted)
	})
}
