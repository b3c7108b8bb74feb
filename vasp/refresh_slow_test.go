package vasp_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver slow to answer one quote's refresh does not hold back the
// refresh of the others: the refresher's next pass refreshes a quote due
// meanwhile while the slow attempt still waits, and leaves the slow
// quote alone, although its claim ended (halfway to its expiry), as long
// as its attempt runs in this process.
func TestAutoRefreshSlowReceiverHoldsNoOtherBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, func(o *vasp.Options) {
			// Real passes 20 ms apart; the receiver's slow answer is held
			// far longer than the test waits (no timeout frees it).
			o.QuoteRefreshEvery, o.CounterpartyTimeout = 20*time.Millisecond, time.Minute
		})
		r.fund(t, 100_000)
		const slowAmount = 700 // EUR cents: the quote whose refresh hangs
		var slowPayreqs atomic.Int64
		entered, release := make(chan struct{}, 8), make(chan struct{})
		honest := r.payreq
		r.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			if pr.Amount == slowAmount && slowPayreqs.Add(1) > 1 { // its quote made at once; its refreshes hang
				entered <- struct{}{}
				<-release
				rw.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			honest(rw, pr)
		}
		r.life.Store(int64(20 * time.Second)) // quotes expire 19 s on
		slow, fast := r.autoQuote(t, slowAmount), r.autoQuote(t, 900)
		r.life.Store(int64(10 * time.Second)) // refreshed terms live 9 s
		r.w.clock.Advance(10 * time.Second)   // both due: 9 s left, under half their life

		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { defer close(stopped); r.s.RefreshQuotes(ctx) }()
		t.Cleanup(func() { cancel(); close(release); <-stopped })

		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within 5 s", what)
				}
			}
		}
		<-entered // the slow quote's refresh waits on its receiver
		waitFor("the fast quote refreshed", func() bool { return r.get(t, fast.ID).RefreshCount == 1 })
		// 5 s on: the fast quote's new terms (9 s) are past half their
		// life, due again; the slow quote's claim ended (halfway to its
		// expiry, 4.5 s after it was claimed) and it is due too, but its
		// attempt is still running here.
		r.w.clock.Advance(5 * time.Second)
		waitFor("the fast quote refreshed again while the slow one waits", func() bool { return r.get(t, fast.ID).RefreshCount == 2 })
		// The pass that claimed the fast quote left the slow one alone:
		// its claim is still the first's, and it was sent no other payreq.
		var next int64
		if err := db.QueryRowContext(t.Context(), `SELECT refresh_next_at FROM uma_quotes WHERE id = $1`, slow.ID).Scan(&next); err != nil {
			t.Fatal(err)
		}
		if first := store.Micros(slow.CreatedAt.Add(10*time.Second + (slow.ExpiresAt.Sub(slow.CreatedAt)-10*time.Second)/2)); next != first {
			t.Fatalf("slow quote claimed again while its refresh ran: refresh_next_at %d, the first claim's %d", next, first)
		}
		if n := slowPayreqs.Load(); n != 2 {
			t.Fatalf("slow receiver sent %d payreqs for its quote, want 2 (the quote and one refresh)", n)
		}
		if got := r.get(t, slow.ID); got.RefreshCount != 0 || got.PaymentHash != slow.PaymentHash {
			t.Fatalf("slow quote refreshed: %+v", got)
		}
	})
}
