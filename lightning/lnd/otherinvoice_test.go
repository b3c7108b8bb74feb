package lnd_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A payment hash identifies one invoice. After a payment FAILED, paying
// another invoice with the same hash (another payee) must not retry the
// recorded one — which would pay the old request while the caller asked for
// the new — nor replace it: it is refused, before and after the recorded
// payment succeeds. The recorded invoice itself, however written, is
// retried.
func TestPayOtherInvoiceSameHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		pr, hash, preimage := f.payReq(50_000, time.Hour)
		other, upper := "lnbcrt500n1fakeotherpayee", strings.ToUpper(pr)
		f.mu.Lock()
		dec := maps.Clone(f.payReqs[pr])
		dec["destination"] = "02" + strings.Repeat("ef", 32)
		f.payReqs[other], f.payReqs[upper] = dec, f.payReqs[pr]
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}}, false
		}
		f.mu.Unlock()
		if p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("first attempt: %+v, %v; want FAILED", p, err)
		}
		f.mu.Lock()
		f.onSend = nil
		f.mu.Unlock()

		refused := func(when string) {
			t.Helper()
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: other, Timeout: 5 * time.Second})
			if !errors.Is(err, lightning.ErrInvalidInvoice) {
				t.Fatalf("%s: pay another invoice with the same hash: %+v, %v; want ErrInvalidInvoice", when, p, err)
			}
			tr, err := n.TrackPayment(ctx, hash)
			if err != nil || tr.PaymentRequest != pr || tr.Destination != "03"+strings.Repeat("cd", 32) {
				t.Fatalf("%s: record after the refusal: %+v, %v; want the first invoice's", when, tr, err)
			}
		}
		refused("after a failure")
		if got := f.sendCount(); got != 1 {
			t.Fatalf("%d sends, want 1: the other invoice reached lnd", got)
		}

		p, err := n.Pay(ctx, lightning.PayRequest{Invoice: upper, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("retry of the same invoice in upper case: %+v, %v", p, err)
		}
		f.mu.Lock()
		sent := f.sends[len(f.sends)-1]["payment_request"]
		f.mu.Unlock()
		if sent != pr {
			t.Fatalf("retry sent %v, want the recorded %s", sent, pr)
		}
		refused("after the success")
		if got := f.sendCount(); got != 2 {
			t.Fatalf("%d sends, want 2", got)
		}
	})
}
