package vasp_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// An execute that read its quote unexpired but comes to claim it at or
// after its expiry (held up by the compliance hook, the user directory or
// a lock) pays nothing: 409 QUOTE_EXPIRED, as had it come a moment later.
// The expiry was checked only when the quote was read, so the claim went
// ahead and paid at a rate whose lock had ended (or an UMA request that
// had expired).
func TestExecuteExpiredAtItsClaimPaysNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
		if err != nil {
			t.Fatal(err)
		}
		r.s.SetBeforeClaim(func(string) { r.w.clock.Set(q.ExpiresAt) })
		_, err = r.s.ExecuteQuote(t.Context(), q.ID, "key-"+q.ID)
		wantStatus(t, err, http.StatusConflict, "QUOTE_EXPIRED")
		got := r.get(t, q.ID)
		if got.Status != vasp.QuoteExpired || got.TransactionID != "" {
			t.Fatalf("quote after the execute: status %s, transaction %q", got.Status, got.TransactionID)
		}
		if b := balance(t, db, ledger.UserAccount(r.w.alice.UserID), "USD"); b != 100_000 {
			t.Fatalf("alice holds %d, want 100000", b)
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE quote_id = $1`, q.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d transactions for the expired quote (%v)", n, err)
		}
	})
}
