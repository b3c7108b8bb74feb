package embedded_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// track polls TrackPayment until the payment is final.
func track(t *testing.T, n *embedded.Node, hash lightning.Hash) lightning.Payment {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := n.TrackPayment(testCtx(t), hash)
		if err != nil {
			t.Fatalf("TrackPayment: %v", err)
		}
		if p.Status != lightning.StatusInFlight {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s still in flight", hash)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func payWithin(t *testing.T, n *embedded.Node, pr string, timeout time.Duration) lightning.Payment {
	t.Helper()
	p, err := n.Pay(testCtx(t), lightning.PayRequest{Invoice: pr, MaxFeeMsat: 1_000_000, Timeout: timeout})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	return p
}

func TestFaultFailReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		before := balance(t, alice)
		inv := newInvoice(t, bob, 3000)
		alice.SetFaults(embedded.Faults{FailReason: lightning.FailureTimeout})
		p := payFinal(t, alice, inv.PaymentRequest)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureTimeout {
			t.Fatalf("payment %s (%s), want FAILED (TIMEOUT)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != before {
			t.Fatalf("balance %d after a failed payment, want %d", got, before)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
			t.Fatalf("invoice %s after a failed payment, want OPEN", got.State)
		}
		alice.SetFaults(embedded.Faults{})
		if p := payFinal(t, alice, inv.PaymentRequest); p.Status != lightning.StatusSucceeded {
			t.Fatalf("retry after clearing the fault: %s (%s)", p.Status, p.FailureReason)
		}
	})
}

func TestFaultSettleDelay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		alice.SetFaults(embedded.Faults{SettleDelay: 500 * time.Millisecond})
		inv := newInvoice(t, bob, 3000)
		p := payWithin(t, alice, inv.PaymentRequest, 50*time.Millisecond)
		if p.Status != lightning.StatusInFlight {
			t.Fatalf("delayed payment returned %s before its timeout", p.Status)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
			t.Fatalf("invoice %s while the payment is delayed", got.State)
		}
		if p := track(t, alice, inv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("delayed payment ended %s (%s)", p.Status, p.FailureReason)
		}
	})
}

func TestFaultHoldInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		before := balance(t, alice)
		alice.SetFaults(embedded.Faults{HoldInFlight: true})
		inv := newInvoice(t, bob, 3000)
		p := payWithin(t, alice, inv.PaymentRequest, 100*time.Millisecond)
		if p.Status != lightning.StatusInFlight {
			t.Fatalf("held payment %s", p.Status)
		}
		time.Sleep(300 * time.Millisecond) // several retry intervals
		if p, _ := alice.TrackPayment(testCtx(t), inv.PaymentHash); p.Status != lightning.StatusInFlight {
			t.Fatalf("held payment became %s", p.Status)
		}
		// In flight, the money is reserved: debited, not yet received.
		if got := balance(t, alice); got != before-3000-4 {
			t.Fatalf("balance %d with a payment in flight, want %d", got, before-3000-4)
		}
		alice.SetFaults(embedded.Faults{})
		if p := track(t, alice, inv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("released payment ended %s (%s)", p.Status, p.FailureReason)
		}
	})
}

// TestPayeeDownStaysInFlight: when the payee's process does not answer, the
// outcome is unknown, so the payment stays in flight (money reserved) and
// completes when the payee is back.
func TestPayeeDownStaysInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
		inv := newInvoice(t, bob, 2000)
		h := c.live[1].Load()
		c.live[1].Store(nil) // bob's server answers 503
		p := payWithin(t, alice, inv.PaymentRequest, 300*time.Millisecond)
		if p.Status != lightning.StatusInFlight {
			t.Fatalf("payment to a payee that is down: %s (%s), want IN_FLIGHT", p.Status, p.FailureReason)
		}
		c.live[1].Store(h)
		if p := track(t, alice, inv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("payment after the payee came back: %s (%s)", p.Status, p.FailureReason)
		}
	})
}
