package embedded_test

import (
	"context"
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
		recordIn(t, db, alice, req)
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

// PaySuccessInto leaves the record of a success to the caller's
// transaction: the node's payment is SUCCEEDED when that transaction
// commits, exactly as answered. If it rolls back, the payment is still in
// flight and resolved as such: the payee is asked again, answers with the
// same preimage, and is paid once.
func TestPaySuccessInto(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// No background retries: an attempt started between the answer and
		// the caller's commit would record the success itself, a moment
		// later than answered. (TrackPayment below starts one, as vasp's
		// resolver does, only once the caller has rolled back.)
		c := newCluster(t, db, func(_ int, o *embedded.Options) { o.RetryInterval = time.Hour })
		alice, bob := c.alice(), c.bob()
		pay := func(amount int64) (lightning.Invoice, lightning.Payment, func(context.Context, *store.Tx) error) {
			t.Helper()
			inv := newInvoice(t, bob, amount)
			p, record, err := alice.PaySuccessInto(testCtx(t), lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded || record == nil {
				t.Fatalf("PaySuccessInto: %+v, record %v, %v", p, record != nil, err)
			}
			// Read as stored (TrackPayment would start an attempt).
			var status string
			if err := db.QueryRowContext(testCtx(t), `SELECT status FROM ln_embedded_payments WHERE node_pubkey = $1 AND payment_hash = $2`,
				alice.PubKey(), p.PaymentHash.String()).Scan(&status); err != nil || status != string(lightning.StatusInFlight) {
				t.Fatalf("before the caller's commit: %s, %v", status, err)
			}
			return inv, p, record
		}
		a0, b0 := balance(t, alice), balance(t, bob)

		// Committed with the caller's transaction.
		_, p, record := pay(31_000)
		if err := db.InTx(testCtx(t), func(tx *store.Tx) error { return record(testCtx(t), tx) }); err != nil {
			t.Fatal(err)
		}
		stored, err := alice.TrackPayment(testCtx(t), p.PaymentHash)
		if err != nil || !reflect.DeepEqual(p, stored) {
			t.Fatalf("answered\n%+v\nstored\n%+v (%v)", p, stored, err)
		}
		// Recording again is a no-op.
		if err := db.InTx(testCtx(t), func(tx *store.Tx) error { return record(testCtx(t), tx) }); err != nil {
			t.Fatal(err)
		}

		// Rolled back with the caller's transaction: resolved anyway.
		inv, q, record := pay(32_000)
		errRollback := errors.New("roll back")
		if err := db.InTx(testCtx(t), func(tx *store.Tx) error {
			if err := record(testCtx(t), tx); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := alice.TrackPayment(testCtx(t), q.PaymentHash)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == lightning.StatusSucceeded {
				if got.Preimage != q.Preimage {
					t.Fatalf("resolved with preimage %s, answered %s", got.Preimage, q.Preimage)
				}
				break
			}
			if got.Status != lightning.StatusInFlight || time.Now().After(deadline) {
				t.Fatalf("after the rollback: %+v", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceSettled || got.AmountPaidMsat != 32_000 {
			t.Fatalf("invoice %+v", got)
		}
		if got := balance(t, bob) - b0; got != 31_000+32_000 {
			t.Fatalf("bob received %d", got)
		}
		if got := a0 - balance(t, alice); got != 31_000+32_000+p.FeeMsat+q.FeeMsat {
			t.Fatalf("alice paid %d", got)
		}

		// A payment to itself is recorded by the node: nothing to record.
		own := newInvoice(t, alice, 33_000)
		s, record, err := alice.PaySuccessInto(testCtx(t), lightning.PayRequest{Invoice: own.PaymentRequest, Timeout: 20 * time.Second})
		if err != nil || s.Status != lightning.StatusSucceeded || record != nil {
			t.Fatalf("self-payment: %+v, record %v, %v", s, record != nil, err)
		}
	})
}

// Pay starts from the row PreparePayment's transaction just committed
// instead of reading it. Should another process have claimed an attempt in
// between, that row is stale: the payment is still delivered, once.
func TestPayAfterAStaleRecordedRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		b0 := balance(t, bob)
		inv := newInvoice(t, bob, 41_000)
		req := lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second}
		recordIn(t, db, alice, req)
		// Another process claims an attempt (and has not finished it).
		if _, err := db.ExecContext(testCtx(t), `UPDATE ln_embedded_payments SET attempts = attempts + 1 WHERE node_pubkey = $1`, alice.PubKey()); err != nil {
			t.Fatal(err)
		}
		check := func(p lightning.Payment) {
			t.Helper()
			stored, err := alice.TrackPayment(testCtx(t), p.PaymentHash)
			if err != nil || p.Status != lightning.StatusSucceeded || !reflect.DeepEqual(p, stored) {
				t.Fatalf("Pay answered\n%+v\nstored\n%+v (%v)", p, stored, err)
			}
		}
		check(payFinal(t, alice, inv.PaymentRequest))
		check(payFinal(t, alice, inv.PaymentRequest))
		if got := balance(t, bob) - b0; got != 41_000 {
			t.Fatalf("bob received %d", got)
		}
	})
}

// recordIn records req's payment by n in a transaction of the caller's, as
// vasp's execute does (PreparePayment), and commits it.
func recordIn(t *testing.T, db *store.DB, n *embedded.Node, req lightning.PayRequest) {
	t.Helper()
	record, err := n.PreparePayment(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(testCtx(t), func(tx *store.Tx) error { return record(testCtx(t), tx) }); err != nil {
		t.Fatal(err)
	}
}
