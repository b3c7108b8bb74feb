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

// devnetGone restarts bob without the devnet: his process answers 404 to
// every devnet request, a refusal that proves the request was not read.
func devnetGone(t *testing.T, c *cluster) {
	t.Helper()
	c.opts[1].DevnetSecret, c.opts[1].DevnetPeers = "", nil
	c.Restart(t, c.bob())
}

// TestCrashBeforeSendPayeeGoneFails: alice's process stops after claiming
// a payment's first attempt and before its request left (here during a
// SettleDelay), and bob is then gone: his devnet off (404), or his server
// closed (connection refused). The claimed attempt never reached bob, and
// alice recorded none as sent, so the next attempt's request, refused
// unread or never connected, proves bob settled nothing: the payment fails
// (NO_ROUTE) and alice gets her money back, instead of staying in flight
// for good because its attempt counter had moved.
func TestCrashBeforeSendPayeeGoneFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name string
			gone func(t *testing.T, c *cluster)
		}{
			{"devnet off", devnetGone},
			{"server closed", func(t *testing.T, c *cluster) { c.srv[1].Close() }},
		} {
			t.Run(tc.name, func(t *testing.T) { crashBeforeSend(t, db, tc.name, tc.gone) })
		}
	})
}

// crashBeforeSend is one case of TestCrashBeforeSendPayeeGoneFails.
func crashBeforeSend(t *testing.T, db *store.DB, name string, gone func(t *testing.T, c *cluster)) {
	c := newCluster(t, db, func(i int, o *embedded.Options) { o.KeyName += "." + name })
	alice, bob := c.alice(), c.bob()
	payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
	before := balance(t, alice)
	inv := newInvoice(t, bob, 2000)
	alice.SetFaults(embedded.Faults{SettleDelay: time.Hour})
	if p := payWithin(t, alice, inv.PaymentRequest, 100*time.Millisecond); p.Status != lightning.StatusInFlight {
		t.Fatalf("delayed payment %s (%s), want IN_FLIGHT", p.Status, p.FailureReason)
	}
	gone(t, c)
	alice = c.Restart(t, alice).(*embedded.Node) // the claimed attempt stops unsent
	p := payWithin(t, alice, inv.PaymentRequest, 5*time.Second)
	if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
		t.Fatalf("payment claimed but never sent, payee gone: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
	}
	if got := balance(t, alice); got != before {
		t.Fatalf("payer balance %d, want %d", got, before)
	}
	if got, _ := c.bob().LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
		t.Fatalf("bob's invoice %s, want OPEN", got.State)
	}
}

// TestSentThenPayeeGoneStaysInFlight: an attempt's request left and bob
// settled it, but his answer was lost; alice's process restarts and bob's
// devnet is then gone (404). The 404 proves only that the later attempt
// was not read, not that bob settled nothing, so the payment stays in
// flight, money held, and succeeds once bob answers again. With a
// SettleDelay the attempt records its request as sent in a statement of
// its own after the delay; without, in the statement that claims it.
func TestSentThenPayeeGoneStaysInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
			c := newCluster(t, db, func(i int, o *embedded.Options) { o.KeyName += delay.String() })
			alice, bob := c.alice(), c.bob()
			payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
			before := balance(t, alice)
			bobHandler := c.live[1].Load()
			lost := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				(*bobHandler).ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
			}))
			c.live[1].Store(&lost)
			alice.SetFaults(embedded.Faults{SettleDelay: delay})
			inv := newInvoice(t, bob, 2000)
			if p := payWithin(t, alice, inv.PaymentRequest, 300*time.Millisecond); p.Status != lightning.StatusInFlight {
				t.Fatalf("delay %s: payment whose answer was lost: %s (%s)", delay, p.Status, p.FailureReason)
			}
			if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceSettled {
				t.Fatalf("delay %s: bob's invoice %s, want SETTLED", delay, got.State)
			}
			devnetGone(t, c)
			alice = c.Restart(t, alice).(*embedded.Node)
			if p := payWithin(t, alice, inv.PaymentRequest, 500*time.Millisecond); p.Status != lightning.StatusInFlight {
				t.Fatalf("delay %s: payment bob settled, his devnet gone: %s (%s), want IN_FLIGHT", delay, p.Status, p.FailureReason)
			}
			if got := balance(t, alice); got != before-2000-3 {
				t.Fatalf("delay %s: payer balance %d with the payment in flight, want %d", delay, got, before-2000-3)
			}
			c.opts[1].DevnetSecret, c.opts[1].DevnetPeers = testSecret, []string{c.srv[0].URL}
			c.Restart(t, c.bob())
			if p := track(t, alice, inv.PaymentHash); p.Status != lightning.StatusSucceeded {
				t.Fatalf("delay %s: payment once bob is back: %s (%s)", delay, p.Status, p.FailureReason)
			}
		}
	})
}
