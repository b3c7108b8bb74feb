package lightningtest

import (
	"crypto/rand"
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// testCancelInvoice: a backend that is a lightning.InvoiceCanceler cancels
// an open invoice for good. The invoice reads CANCELED, and a payment of
// it fails and moves no money. Canceling it again does nothing. A settled
// invoice is not canceled (ErrAlreadyPaid) and stays settled. An unknown
// one is ErrNotFound. vaspd cancels the node's invoice of a payment it
// made by its books: a backend that only said it had would leave that
// invoice payable a second time, for money nothing waits for.
func (s *suite) testCancelInvoice(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	c, ok := bob.(lightning.InvoiceCanceler)
	if !ok {
		t.Skipf("%T cannot cancel invoices (not a lightning.InvoiceCanceler)", bob)
	}
	ctx := s.ctx(t)

	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	if err := c.CancelInvoice(ctx, inv.PaymentHash); err != nil {
		t.Fatalf("CancelInvoice of an open invoice: %v", err)
	}
	got, err := bob.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	if got.State != lightning.InvoiceCanceled {
		t.Fatalf("canceled invoice reads %s, want %s", got.State, lightning.InvoiceCanceled)
	}
	if err := c.CancelInvoice(ctx, inv.PaymentHash); err != nil {
		t.Fatalf("CancelInvoice of a canceled invoice: %v, want nil (nothing to do)", err)
	}

	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)
	p, err := alice.Pay(ctx, s.payReq(inv.PaymentRequest))
	if err == nil {
		if p = s.final(t, alice, p); p.Status != lightning.StatusFailed {
			t.Fatalf("payment of a canceled invoice: %s, want FAILED", p.Status)
		}
	}
	if got, err = bob.LookupInvoice(ctx, inv.PaymentHash); err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	if got.State != lightning.InvoiceCanceled || got.AmountPaidMsat != 0 || got.SettleIndex != 0 {
		t.Fatalf("canceled invoice after a payment of it: %s, %d msat paid, settle index %d; want canceled, unpaid",
			got.State, got.AmountPaidMsat, got.SettleIndex)
	}
	if haveBalances {
		if a, b := s.mustBalance(t, alice), s.mustBalance(t, bob); a != aliceBefore || b != bobBefore {
			t.Fatalf("balances %d, %d after paying a canceled invoice, want %d, %d", a, b, aliceBefore, bobBefore)
		}
	}

	paid := s.invoice(t, bob, s.cfg.AmountMsat)
	s.pay(t, alice, paid.PaymentRequest)
	s.waitSettled(t, bob, paid.PaymentHash)
	wantErr(t, "CancelInvoice of a settled invoice", c.CancelInvoice(ctx, paid.PaymentHash), lightning.ErrAlreadyPaid)
	if got, err := bob.LookupInvoice(ctx, paid.PaymentHash); err != nil || got.State != lightning.InvoiceSettled {
		t.Fatalf("settled invoice after a refused cancel: %s (err %v), want SETTLED", got.State, err)
	}

	var unknown lightning.Hash
	if _, err := rand.Read(unknown[:]); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CancelInvoice of an unknown invoice", c.CancelInvoice(ctx, unknown), lightning.ErrNotFound)
}
