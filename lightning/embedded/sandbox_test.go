package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestPaySandboxInvoice: the sandbox pays one of the node's own invoices
// as a payer from outside: the invoice settles once, for its amount, the
// balance grows by it, and the settlement is streamed like any other;
// paying it again changes nothing, and another node's invoice, an
// unknown or already-paid one is refused.
func TestPaySandboxInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newCluster(t, db, nil)
		alice, bob := c.nodes[0], c.nodes[1]
		before, err := alice.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := alice.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 12_345, Expiry: time.Hour, DescriptionHash: lightning.Hash{1}})
		if err != nil {
			t.Fatal(err)
		}
		settled, _, err := alice.SubscribeSettled(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a retry is a no-op
			if err := alice.PaySandboxInvoice(ctx, inv.PaymentRequest); err != nil {
				t.Fatal(err)
			}
		}
		if after, _ := alice.Balance(ctx); after != before+12_345 {
			t.Fatalf("balance %d, want %d", after, before+12_345)
		}
		select {
		case got := <-settled:
			if got.PaymentHash != inv.PaymentHash || got.AmountPaidMsat != 12_345 {
				t.Fatalf("settled %+v", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("settlement not streamed")
		}
		// An invoice another payer paid is not paid again.
		paid, err := alice.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 2_000, Expiry: time.Hour, DescriptionHash: lightning.Hash{3}})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := bob.Pay(ctx, lightning.PayRequest{Invoice: paid.PaymentRequest, MaxFeeMsat: 1_000, Timeout: 5 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("bob pays alice: %+v %v", p, err)
		}
		if err := alice.PaySandboxInvoice(ctx, paid.PaymentRequest); err == nil {
			t.Fatal("paid an invoice already paid")
		}
		other, err := bob.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1_000, Expiry: time.Hour, DescriptionHash: lightning.Hash{2}})
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.PaySandboxInvoice(ctx, other.PaymentRequest); err == nil {
			t.Fatal("paid another node's invoice")
		}
		if err := alice.PaySandboxInvoice(ctx, "lnbcrt1nonsense"); err == nil {
			t.Fatal("paid an invoice that does not decode")
		}
	})
}
