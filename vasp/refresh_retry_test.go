package vasp_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A refresh of a retry once another retry of the same payment paid it is
// refused before any payreq, 409 QUOTE_ALREADY_EXECUTED, as a retry then
// is: it made a new quote, sending the receiver a payreq (and its
// platform an approval webhook) for a quote no execute would ever pay.
func TestRefreshOfRetryOfPaidPaymentRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
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
		payreqs := r.payreqs.Load()
		nq, err := r.s.RefreshQuote(t.Context(), first.ID)
		if err == nil {
			_, xerr := r.s.ExecuteQuote(t.Context(), nq.ID, "")
			t.Errorf("refresh of a retry of a paid payment made quote %s (its execute: %v)", nq.ID, xerr)
		}
		if n := r.payreqs.Load() - payreqs; n != 0 {
			t.Errorf("%d payreqs sent for it", n)
		}
		r.paidOnce(t, 100_000, q.ID, first.ID, second.ID, nq.ID)
		wantStatus(t, err, http.StatusConflict, vaspd.CodeQuoteAlreadyExecuted)
	})
}
