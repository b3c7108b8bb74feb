package lnd_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// The grace rule fails a payment recorded in flight only when lnd itself
// says it never heard of it. A 404 that carries no gRPC status — a reverse
// proxy without the route, or pointing at the wrong backend, a web server
// in lnd's place — is not lnd's answer: the payment lnd holds must stay in
// flight, not be marked FAILED (and its money released) while lnd pays it.
func TestTrackNotFoundPageIsNotLnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		clock := vaspd.NewFakeClock(time.Now())
		n := f.node(t, db, func(o *lnd.Options) { o.Clock = clock })
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}}, true // lnd has it, HTLC in flight
		}
		pr, hash, preimage := f.payReq(10_000, time.Hour)
		p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 50 * time.Millisecond})
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("pay: %s, %v; want IN_FLIGHT", p.Status, err)
		}
		f.mu.Lock()
		f.trackNotFoundPage = true
		f.mu.Unlock()
		clock.Advance(time.Hour) // far past the grace
		if p, err := n.TrackPayment(fctx(t), hash); err == nil && p.Status != lightning.StatusInFlight {
			t.Fatalf("tracked through a 404 page: %s/%s; want IN_FLIGHT or an error, not a final state", p.Status, p.FailureReason)
		}
		// lnd is reachable again and the payment succeeded.
		f.mu.Lock()
		f.trackNotFoundPage = false
		f.mu.Unlock()
		f.resolvePayment(hash, "SUCCEEDED", "")
		if p, err := n.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("tracked once lnd answers: %s, %v; want SUCCEEDED with its preimage", p.Status, err)
		}
	})
}
