package embedded_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestCapRefusalIsFinal: a payment refused because the payee cannot hold
// that much (its balance would pass 21M BTC) is final: the payer took its
// money back, so a delivery of the same payment arriving later — another
// attempt of the payer's, from another process — is refused too, even once
// the payee has room again; it must not credit the payee a second time.
func TestCapRefusalIsFinal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		ctx := testCtx(t)
		if err := alice.SetBalance(ctx, bolt11.MaxAmountMsat-1000); err != nil {
			t.Fatal(err)
		}
		inv := newInvoice(t, alice, 1001)
		p := payFinal(t, bob, inv.PaymentRequest)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("paying past 21M BTC: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
		}
		if err := alice.SetBalance(ctx, 0); err != nil { // alice has room again
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"payment_request":%q,"amount_msat":1001,"payer":%q}`, inv.PaymentRequest, bob.PubKey())
		resp := devnetPost(t, c.srv[0].URL, body)
		var out struct{ Result, FailureReason string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Result != "FAILED" {
			t.Fatalf("a later delivery of the refused payment: HTTP %d %+v %v, want FAILED", resp.StatusCode, out, err)
		}
		if got := balance(t, alice); got != 0 {
			t.Fatalf("payee credited %d for a payment its payer took back", got)
		}
		if got, err := alice.LookupInvoice(ctx, inv.PaymentHash); err != nil || got.State != lightning.InvoiceCanceled {
			t.Fatalf("refused invoice: %s, %v; want CANCELED", got.State, err)
		}
	})
}

// TestRefundNeverPast21M: what a node has in flight counts against what
// it can receive, so a refund can never take its balance past 21M BTC —
// a balance no int64 sum of them could hold.
func TestRefundNeverPast21M(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		ctx := testCtx(t)
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address

		// alice, near 21M BTC, pays bob; the payment is held in flight,
		// its money reserved.
		if err := alice.SetBalance(ctx, bolt11.MaxAmountMsat-10_000); err != nil {
			t.Fatal(err)
		}
		alice.SetFaults(embedded.Faults{HoldInFlight: true})
		held := newInvoice(t, bob, 5000)
		if p := payWithin(t, alice, held.PaymentRequest, 100*time.Millisecond); p.Status != lightning.StatusInFlight {
			t.Fatalf("held payment %s", p.Status)
		}
		const reserved = 5000 + 1 + 5 // amount + fee (base 1, 1000 ppm)

		// bob pays alice up to 21M BTC, as if nothing were in flight: she
		// cannot take it, her reserved money may come back.
		room := bolt11.MaxAmountMsat - balance(t, alice)
		if u, err := alice.UTXOs(ctx, lightning.Hash{}); err != nil || len(u) != 1 || u[0].InboundMsat != room-reserved {
			t.Fatalf("alice's channel %+v, %v: want %d msat inbound", u, err, room-reserved)
		}
		inv := newInvoice(t, alice, room)
		if p := payFinal(t, bob, inv.PaymentRequest); p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("paying alice past 21M BTC with what she has in flight: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
		}
		if err := alice.SetBalance(ctx, bolt11.MaxAmountMsat-reserved+1); err == nil {
			t.Fatal("SetBalance to more than 21M BTC less what alice has in flight")
		}
		if err := alice.SetBalance(ctx, bolt11.MaxAmountMsat-reserved); err != nil {
			t.Fatalf("SetBalance to 21M BTC less what alice has in flight: %v", err)
		}

		// bob's invoice expires: alice's payment is refused, her money
		// comes back.
		c.clock.Advance(2 * time.Hour)
		alice.SetFaults(embedded.Faults{})
		if p := track(t, alice, held.PaymentHash); p.Status != lightning.StatusFailed {
			t.Fatalf("payment of an expired invoice: %s", p.Status)
		}
		if got := balance(t, alice); got != bolt11.MaxAmountMsat {
			t.Fatalf("alice's balance %d after the refund, want 21M BTC", got)
		}
		// Full, alice still pays herself: the credit is her own debit back.
		if p := payFinal(t, alice, newInvoice(t, alice, 7000).PaymentRequest); p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying herself at 21M BTC: %s (%s)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != bolt11.MaxAmountMsat {
			t.Fatalf("alice's balance %d after paying herself, want 21M BTC", got)
		}
	})
}
