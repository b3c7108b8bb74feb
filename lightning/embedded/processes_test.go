package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestTwoProcessesOneNode: two handles on one database and key act as one
// node, as two vaspd processes behind a load balancer would: settlements
// made by one reach the other's subscription, and a payment one process
// left in flight is finished by the other.
func TestTwoProcessesOneNode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		bob, srv := payee(t)
		opts := embedded.Options{
			DevnetSecret: testSecret, DevnetPeers: []string{srv},
			PollInterval: 50 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		}
		p1, err := embedded.Open(testCtx(t), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer p1.Close()
		p2, err := embedded.Open(testCtx(t), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer p2.Close()
		if p1.PubKey() != p2.PubKey() {
			t.Fatal("two processes on one database are two nodes")
		}

		// Process 2 issues an invoice; bob pays it; process 1's stream sees it.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ch, wait, err := p1.SubscribeSettled(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		inv := newInvoice(t, p2, 4000)
		// A third node pays it over HTTP, reaching the node through process 2.
		payer, err := embedded.Open(testCtx(t), storetest.SQLite(t), embedded.Options{
			DevnetSecret: testSecret, DevnetPeers: []string{serveNode(t, p2)},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer payer.Close()
		if p := payFinal(t, payer, inv.PaymentRequest); p.Status != lightning.StatusSucceeded {
			t.Fatalf("payment %s (%s)", p.Status, p.FailureReason)
		}
		select {
		case got := <-ch:
			if got.PaymentHash != inv.PaymentHash || got.SettleIndex != 1 {
				t.Fatalf("process 1 saw %+v", got)
			}
		case <-ctx.Done():
			t.Fatal("process 1 never saw the settlement made through process 2")
		}
		cancel()
		for range ch {
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}

		// Process 1 holds a payment in flight; process 2 finishes it.
		p1.SetFaults(embedded.Faults{HoldInFlight: true})
		binv := newInvoice(t, bob, 2500)
		// Process 1 never delivers, so the payment can only succeed through
		// process 2's retry loop (which may be done before Pay returns).
		if p := payWithin(t, p1, binv.PaymentRequest, 100*time.Millisecond); p.Status == lightning.StatusFailed {
			t.Fatalf("held payment %s (%s)", p.Status, p.FailureReason)
		}
		if p := track(t, p2, binv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("payment finished by process 2: %s (%s)", p.Status, p.FailureReason)
		}
		if p, _ := p1.TrackPayment(testCtx(t), binv.PaymentHash); p.Status != lightning.StatusSucceeded {
			t.Fatalf("process 1 sees %s", p.Status)
		}
		if got, _ := bob.LookupInvoice(testCtx(t), binv.PaymentHash); got.AmountPaidMsat != 2500 {
			t.Fatalf("bob was paid %d", got.AmountPaidMsat)
		}
	})
}
