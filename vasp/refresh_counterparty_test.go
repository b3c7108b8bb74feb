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

// A receiver that hangs on every refresh, with more quotes due than the
// process runs refreshes at once, holds only its share of them: another
// receiver's quote, due after all of its, is refreshed meanwhile. Its
// quotes, first by expiry, took every attempt, and held them as long as
// it hung (each call up to counterparty-timeout), starving every other
// receiver's quotes, which could expire unrefreshed.
func TestAutoRefreshHangingReceiverLeavesOthersRoom(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, func(o *vasp.Options) {
			// Real passes 20 ms apart; the hanging answers are held far
			// longer than the test waits (no timeout frees them).
			o.QuoteRefreshEvery, o.CounterpartyTimeout = 20*time.Millisecond, time.Minute
		})
		r.fund(t, 1_000_000)
		var hang atomic.Bool
		var hung atomic.Int64
		release := make(chan struct{})
		honest := r.payreq
		r.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			if hang.Load() {
				hung.Add(1)
				<-release
				rw.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			honest(rw, pr)
		}
		healthy := hostileIn(t, r.w)
		healthy.payreq = r.answer(t, healthy)

		r.life.Store(int64(20 * time.Second)) // quotes expire 19 s on
		const hanging = 20                    // more than a process refreshes at once
		for range hanging {
			r.autoQuote(t, 700)
		}
		r.w.clock.Advance(2 * time.Second) // the other receiver's quote expires after all of them
		l, err := r.s.LookupReceiver(t.Context(), r.w.alice.UserID, "$bob@"+healthy.domain)
		if err != nil {
			t.Fatal(err)
		}
		other, err := r.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD",
			ReceivingCurrency: "EUR", LockedSide: vasp.LockedReceiving, Amount: 900, AutoRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		hang.Store(true)
		r.w.clock.Advance(10 * time.Second) // all due: under half their life left

		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { defer close(stopped); r.s.RefreshQuotes(ctx) }()
		t.Cleanup(func() { cancel(); close(release); <-stopped })

		for deadline := time.Now().Add(5 * time.Second); r.get(t, other.ID).RefreshCount != 1; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the other receiver's quote not refreshed within 5 s; the hanging receiver holds %d refreshes", hung.Load())
			}
		}
		time.Sleep(100 * time.Millisecond) // passes more
		if n := hung.Load(); n == 0 || n > 4 {
			t.Fatalf("the hanging receiver holds %d refreshes, want 1 to 4 of the 16", n)
		}
	})
}
