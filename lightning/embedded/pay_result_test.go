package embedded_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Pay answers with the outcome its attempt recorded, without reading it
// back: that answer must be the payment exactly as stored, whichever way
// the attempt ended.
func TestPayAnswersThePaymentAsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		check := func(name string, n *embedded.Node, p lightning.Payment, status lightning.PaymentStatus, reason lightning.FailureReason) {
			t.Helper()
			if p.Status != status || p.FailureReason != reason {
				t.Fatalf("%s: %s (%s), want %s (%s)", name, p.Status, p.FailureReason, status, reason)
			}
			stored, err := n.TrackPayment(testCtx(t), p.PaymentHash)
			if err != nil {
				t.Fatalf("%s: TrackPayment: %v", name, err)
			}
			if !reflect.DeepEqual(p, stored) {
				t.Fatalf("%s: Pay answered\n%+v\nstored\n%+v", name, p, stored)
			}
		}

		// Delivered over the devnet.
		inv := newInvoice(t, bob, 21_000)
		check("devnet", alice, payFinal(t, alice, inv.PaymentRequest), lightning.StatusSucceeded, lightning.FailureNone)

		// Recorded in the caller's transaction, then delivered by Pay.
		inv = newInvoice(t, bob, 22_000)
		req := lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second}
		record, err := alice.PreparePayment(testCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(testCtx(t), func(tx *store.Tx) error { return record(testCtx(t), tx) }); err != nil {
			t.Fatal(err)
		}
		p, err := alice.Pay(testCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		check("prepared", alice, p, lightning.StatusSucceeded, lightning.FailureNone)

		// Refused by the payee: alice's invoice, already paid by alice.
		own := newInvoice(t, alice, 23_000)
		check("self-pay", alice, payFinal(t, alice, own.PaymentRequest), lightning.StatusSucceeded, lightning.FailureNone)
		check("refused over the devnet", bob, payFinal(t, bob, own.PaymentRequest), lightning.StatusFailed, lightning.FailureIncorrectDetails)

		// Refused by itself: bob's invoice paid by alice, then by bob.
		inv = newInvoice(t, bob, 24_000)
		payFinal(t, alice, inv.PaymentRequest)
		check("refused locally", bob, payFinal(t, bob, inv.PaymentRequest), lightning.StatusFailed, lightning.FailureIncorrectDetails)

		// Failed by the first attempt before it left the process.
		inv = newInvoice(t, bob, 25_000)
		alice.SetFaults(embedded.Faults{FailReason: lightning.FailureTimeout})
		check("failed first attempt", alice, payFinal(t, alice, inv.PaymentRequest), lightning.StatusFailed, lightning.FailureTimeout)
		alice.SetFaults(embedded.Faults{})
		check("retried", alice, payFinal(t, alice, inv.PaymentRequest), lightning.StatusSucceeded, lightning.FailureNone)
	})
}

// An invoice decoded once (the node remembers it, so that PreparePayment
// and Pay verify its signature once) is still checked for expiry on every
// use.
func TestDecodedInvoiceStillExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		inv := newInvoice(t, bob, 26_000)
		req := lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second}
		if _, err := alice.PreparePayment(testCtx(t), req); err != nil {
			t.Fatal(err)
		}
		c.clock.Advance(2 * time.Hour)
		if _, err := alice.PreparePayment(testCtx(t), req); !errors.Is(err, lightning.ErrInvoiceExpired) {
			t.Fatalf("PreparePayment of an expired invoice: %v", err)
		}
		if _, err := alice.Pay(testCtx(t), req); !errors.Is(err, lightning.ErrInvoiceExpired) {
			t.Fatalf("Pay of an expired invoice: %v", err)
		}
	})
}
