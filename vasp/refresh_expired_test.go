package vasp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A refresh whose payreq is still out when the quote expires does not
// bring the quote back: EXPIRED is final. Its new terms were written
// whatever the time, so a quote the platform had been told was EXPIRED
// (GET, or an execute's 409 QUOTE_EXPIRED) read PENDING again, with
// other terms, and could be executed.
func TestRefreshDoesNotReviveAnExpiredQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)
		r.fee.Store(refreshFee)
		r.w.clock.Set(q.ExpiresAt.Add(-10 * time.Second)) // due
		var execErr error
		during := func() {
			r.during.Store(nil)
			r.w.clock.Set(q.ExpiresAt)
			if got := r.get(t, q.ID); got.Status != vasp.QuoteExpired {
				t.Errorf("status %s at the expiry", got.Status)
			}
			_, execErr = r.s.ExecuteQuote(t.Context(), q.ID, "")
		}
		r.during.Store(&during)
		if n := r.round(t, r.s); n != 0 {
			t.Errorf("refreshed %d expired quotes", n)
		}
		wantStatus(t, execErr, http.StatusConflict, "QUOTE_EXPIRED")
		got := r.get(t, q.ID)
		if got.Status != vasp.QuoteExpired {
			t.Fatalf("quote after the refresh: status %s, refreshCount %d", got.Status, got.RefreshCount)
		}
		sameTerms(t, got, q)
		_, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		wantStatus(t, err, http.StatusConflict, "QUOTE_EXPIRED")
	})
}
