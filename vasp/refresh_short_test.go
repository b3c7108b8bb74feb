package vasp_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A quote whose terms live less than two of the refresher's passes (a
// receiver issuing invoices of a few seconds) is due for less than one
// pass by the half-life rule alone: here 7 s of life, due in its last
// 3.5 s, which a pass 2.5 s after the quote and the next, 5 s later and
// past its expiry, both missed, the quote expiring unrefreshed. It is
// due once it has a pass (5 s) or less left, whatever its life: the
// first pass to come in its last 5 s refreshes it.
func TestAutoRefreshShortLivedQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		r.fund(t, 100_000)
		r.life.Store(int64(8 * time.Second))
		q := r.autoQuote(t, 900)
		if life := q.ExpiresAt.Sub(r.w.clock.Now()); life < 6*time.Second || life > 8*time.Second {
			t.Fatalf("the quote lives %v, want about 7 s", life)
		}
		r.w.clock.Set(q.ExpiresAt.Add(-4500 * time.Millisecond)) // a pass with 4.5 s left
		if n := r.round(t, r.s); n != 1 {
			t.Fatalf("refreshed %d with 4.5 s left, want 1: the next pass comes after the quote expired", n)
		}
		if got := r.get(t, q.ID); got.RefreshCount != 1 || got.PaymentHash == q.PaymentHash {
			t.Fatalf("refreshCount %d, same invoice %v", got.RefreshCount, got.PaymentHash == q.PaymentHash)
		}
	})
}
