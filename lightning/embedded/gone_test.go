package embedded_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestPayeeDevnetGoneFails: a payee whose process answers, but no longer
// serves the devnet (it restarted without it: 404), or no longer takes
// our secret (401), settled nothing: the devnet handler refuses before
// looking at the payment. The first attempt meeting it never reached the
// payee, so the payment fails (NO_ROUTE) and the payer gets its money
// back, instead of staying in flight for good.
func TestPayeeDevnetGoneFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name   string
			secret string
		}{{"devnet off (404)", ""}, {"other secret (401)", "another secret"}} {
			c := newCluster(t, db, func(i int, o *embedded.Options) { o.KeyName += "." + tc.name })
			alice, bob := c.alice(), c.bob()
			payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
			inv := newInvoice(t, bob, 2000)
			c.opts[1].DevnetSecret = tc.secret
			if tc.secret == "" {
				c.opts[1].DevnetPeers = nil
			}
			c.Restart(t, bob)
			before := balance(t, alice)
			p := payWithin(t, alice, inv.PaymentRequest, 5*time.Second)
			if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
				t.Fatalf("%s: payment %s (%s), want FAILED (NO_ROUTE)", tc.name, p.Status, p.FailureReason)
			}
			if got := balance(t, alice); got != before {
				t.Fatalf("%s: payer balance %d, want %d", tc.name, got, before)
			}
		}
	})
}

// TestOtherNodeAtPayeeAddressIsNoRefusal: the payee settled but its answer
// was lost, then another node took over the payee's address. That node's
// "the invoice is not for me" says nothing of what the payee did, so the
// payment stays in flight (failing it would give the payer its money back
// while the payee keeps the credit), and succeeds once the payee answers
// again.
func TestOtherNodeAtPayeeAddressIsNoRefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
		bobHandler := c.live[1].Load()

		// bob settles; the answer is lost on the way back.
		lost := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*bobHandler).ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		}))
		c.live[1].Store(&lost)
		inv := newInvoice(t, bob, 2000)
		if p := payWithin(t, alice, inv.PaymentRequest, 300*time.Millisecond); p.Status != lightning.StatusInFlight {
			t.Fatalf("payment whose answer was lost: %s (%s)", p.Status, p.FailureReason)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceSettled {
			t.Fatalf("bob's invoice %s, want SETTLED", got.State)
		}

		// carol now answers at bob's address.
		carol, err := embedded.Open(testCtx(t), db, embedded.Options{KeyName: "test.carol", DevnetSecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		defer carol.Close()
		carolHandler := carol.DevnetHandler()
		c.live[1].Store(&carolHandler)
		time.Sleep(500 * time.Millisecond) // alice retries every 50ms
		if p, _ := alice.TrackPayment(testCtx(t), inv.PaymentHash); p.Status != lightning.StatusInFlight {
			t.Fatalf("payment bob settled, after another node said it is not its invoice: %s (%s), want IN_FLIGHT", p.Status, p.FailureReason)
		}

		// bob is back: alice learns the preimage.
		c.live[1].Store(bobHandler)
		if p := track(t, alice, inv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("payment after bob is back: %s (%s)", p.Status, p.FailureReason)
		}
	})
}

// TestPayeeUnreachablePastExpiry: a payment whose delivery may have
// reached the payee (here the payee's process answered 503) stays in
// flight while the payee cannot be asked, even long past the invoice's
// expiry — with no chain to settle on, only the payee knows whether it
// settled, and failing the payment could give the payer its money back
// while the payee keeps the credit. It fails once the payee says it never
// settled: back after the expiry, the payee refuses the expired invoice,
// and the payer gets its money back.
func TestPayeeUnreachablePastExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
		before := balance(t, alice)
		inv := newInvoice(t, bob, 2000) // expires in an hour
		h := c.live[1].Load()
		c.live[1].Store(nil) // bob's server answers 503
		if p := payWithin(t, alice, inv.PaymentRequest, 300*time.Millisecond); p.Status != lightning.StatusInFlight {
			t.Fatalf("payment to a payee that is down: %s (%s), want IN_FLIGHT", p.Status, p.FailureReason)
		}
		c.clock.Advance(48 * time.Hour)
		time.Sleep(300 * time.Millisecond) // alice retries every 50ms
		if p, _ := alice.TrackPayment(testCtx(t), inv.PaymentHash); p.Status != lightning.StatusInFlight {
			t.Fatalf("payment to an unreachable payee, past expiry: %s (%s), want IN_FLIGHT", p.Status, p.FailureReason)
		}
		c.live[1].Store(h)
		p := track(t, alice, inv.PaymentHash)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureIncorrectDetails {
			t.Fatalf("payment once the payee refuses the expired invoice: %s (%s), want FAILED (INCORRECT_PAYMENT_DETAILS)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != before {
			t.Fatalf("payer balance %d, want %d", got, before)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State == lightning.InvoiceSettled {
			t.Fatal("bob settled an expired invoice")
		}
	})
}
