package lightningtest

import (
	"crypto/sha256"
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// testOwnInvoice: a node paying an invoice it issued itself (one of the
// VASP's users paying another) does what its Info says. One that
// PaysOwnInvoices settles it, with a proof of payment, and its balance
// moves by the fee alone; one that does not fails the payment
// (FailureNoRoute), sends nothing and leaves the invoice open, and tells
// the invoice's preimage to LookupInvoice. The VASP pays such payments by
// its books alone on the strength of PaysOwnInvoices, giving the payer the
// preimage as its proof of payment, so a backend must not say it can when
// it cannot, nor the reverse.
func (s *suite) testOwnInvoice(t *testing.T) {
	alice, _ := s.h.Nodes(t)
	ctx := s.ctx(t)
	info, err := alice.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	inv := s.invoice(t, alice, s.cfg.AmountMsat)
	before, haveBalances := s.balance(t, alice)

	p, err := alice.Pay(ctx, s.payReq(inv.PaymentRequest))
	if err != nil {
		t.Fatalf("Pay of its own invoice: %v (PaysOwnInvoices %v)", err, info.PaysOwnInvoices)
	}
	p = s.final(t, alice, p)
	got, err := alice.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatalf("LookupInvoice: %v", err)
	}
	if info.PaysOwnInvoices {
		checkSucceeded(t, p)
		settled := s.waitSettled(t, alice, inv.PaymentHash)
		if settled.AmountPaidMsat != s.cfg.AmountMsat {
			t.Fatalf("own invoice settled for %d msat, want %d", settled.AmountPaidMsat, s.cfg.AmountMsat)
		}
		if haveBalances {
			if after := s.mustBalance(t, alice); after != before-p.FeeMsat {
				t.Fatalf("balance %d after paying itself, want %d - fee %d", after, before, p.FeeMsat)
			}
		}
		return
	}
	if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
		t.Fatalf("own invoice paid by a node that says it cannot: %s (%s), want FAILED (%s)",
			p.Status, p.FailureReason, lightning.FailureNoRoute)
	}
	if got.State != lightning.InvoiceOpen || got.AmountPaidMsat != 0 {
		t.Fatalf("own invoice after the refused payment: %s, %d msat paid; want open, unpaid", got.State, got.AmountPaidMsat)
	}
	if sha256.Sum256(got.Preimage[:]) != inv.PaymentHash {
		t.Fatalf("own invoice's preimage %s, as LookupInvoice tells it, does not hash to its payment hash: the books cannot pay it", got.Preimage)
	}
	if haveBalances {
		if after := s.mustBalance(t, alice); after != before {
			t.Fatalf("balance %d after a refused payment to itself, want %d", after, before)
		}
	}
}
