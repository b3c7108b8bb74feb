package lightningtest

import (
	"sync"
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// testInsufficientBalance: a payment alice cannot afford fails with
// INSUFFICIENT_BALANCE, moves nothing, and leaves the invoice payable.
func (s *suite) testInsufficientBalance(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	bal, haveBalances := s.h.(Balances)
	amount := s.cfg.UnaffordableMsat
	var restore int64
	switch {
	case haveBalances:
		amount = s.cfg.AmountMsat
		restore = bal.Balance(t, alice)
		bal.SetBalance(t, alice, amount/2)
		t.Cleanup(func() { bal.SetBalance(t, alice, restore) })
	case amount == 0:
		t.Skip("harness neither sets balances nor names an unaffordable amount")
	}
	inv := s.invoice(t, bob, amount)
	bobBefore, _ := s.balance(t, bob)

	p, err := alice.Pay(s.ctx(t), s.payReq(inv.PaymentRequest))
	if err != nil {
		t.Fatalf("Pay: %v; want a FAILED payment", err)
	}
	p = s.final(t, alice, p)
	if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureInsufficientBalance {
		t.Fatalf("payment %s (%s), want FAILED (INSUFFICIENT_BALANCE)", p.Status, p.FailureReason)
	}
	if got, err := bob.LookupInvoice(s.ctx(t), inv.PaymentHash); err != nil || got.State != lightning.InvoiceOpen || got.AmountPaidMsat != 0 {
		t.Fatalf("invoice after a failed payment: %+v, %v; want OPEN and unpaid", got, err)
	}
	if !haveBalances {
		return
	}
	if got := bal.Balance(t, alice); got != amount/2 {
		t.Fatalf("alice balance %d after a failed payment, want %d", got, amount/2)
	}
	if got := bal.Balance(t, bob); got != bobBefore {
		t.Fatalf("bob balance %d after a failed payment, want %d", got, bobBefore)
	}
	// Funded again, the same invoice is paid: a FAILED payment may be retried.
	bal.SetBalance(t, alice, restore)
	p = s.pay(t, alice, inv.PaymentRequest)
	restore -= p.AmountMsat + p.FeeMsat
	if got := bal.Balance(t, alice); got != restore {
		t.Fatalf("alice balance %d after the retry, want %d", got, restore)
	}
}

// testConcurrentPayments: many payments at once all succeed and arrive on
// bob's settled stream, each once, in settle-index order.
func (s *suite) testConcurrentPayments(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	invs := make([]lightning.Invoice, s.cfg.Concurrency)
	for i := range invs {
		invs[i] = s.invoice(t, bob, s.cfg.AmountMsat+int64(i))
	}
	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)

	pays := s.payAll(t, alice, invs)
	var spent, received int64
	minIndex := uint64(0)
	for i := range pays {
		p := s.final(t, alice, pays[i])
		checkSucceeded(t, p)
		if p.PaymentHash != invs[i].PaymentHash || p.AmountMsat != invs[i].AmountMsat {
			t.Fatalf("payment %d: %+v for invoice %+v", i, p, invs[i])
		}
		spent += p.AmountMsat + p.FeeMsat
		received += p.AmountMsat
		settled := s.waitSettled(t, bob, p.PaymentHash)
		if minIndex == 0 || settled.SettleIndex < minIndex {
			minIndex = settled.SettleIndex
		}
	}

	// The stream from just before the first of them brings every one,
	// each once (settledEvent's checks: strictly increasing past the cursor).
	want := make([]lightning.Hash, len(invs))
	for i, inv := range invs {
		want[i] = inv.PaymentHash
	}
	s.collectSettled(t, bob, minIndex-1, want)
	if haveBalances {
		if got := s.mustBalance(t, alice); got != aliceBefore-spent {
			t.Fatalf("alice balance %d, want %d", got, aliceBefore-spent)
		}
		if got := s.mustBalance(t, bob); got != bobBefore+received {
			t.Fatalf("bob balance %d, want %d", got, bobBefore+received)
		}
	}
}

// testNoOverdraw: concurrent payments worth more than the balance pay as
// many as it covers, fail the rest with INSUFFICIENT_BALANCE, and never
// take the balance below zero.
func (s *suite) testNoOverdraw(t *testing.T) {
	bal, ok := s.h.(Balances)
	if !ok {
		t.Skip("harness does not set balances")
	}
	alice, bob := s.h.Nodes(t)
	restore := bal.Balance(t, alice)
	t.Cleanup(func() { bal.SetBalance(t, alice, restore) })

	// Learn the fee for this amount from one payment.
	probe := s.pay(t, alice, s.invoice(t, bob, s.cfg.AmountMsat).PaymentRequest)
	cost := probe.AmountMsat + probe.FeeMsat
	affordable := max(1, s.cfg.Concurrency/2-1)
	start := int64(affordable)*cost + cost/2
	bal.SetBalance(t, alice, start)
	bobBefore := bal.Balance(t, bob)

	invs := make([]lightning.Invoice, s.cfg.Concurrency)
	for i := range invs {
		invs[i] = s.invoice(t, bob, s.cfg.AmountMsat)
	}
	pays := s.payAll(t, alice, invs)
	succeeded := 0
	for i := range pays {
		p := s.final(t, alice, pays[i])
		switch {
		case p.Status == lightning.StatusSucceeded:
			checkSucceeded(t, p)
			succeeded++
		case p.Status == lightning.StatusFailed && p.FailureReason == lightning.FailureInsufficientBalance:
		default:
			t.Fatalf("payment %d: %s (%s), want SUCCEEDED or FAILED (INSUFFICIENT_BALANCE)", i, p.Status, p.FailureReason)
		}
	}
	if succeeded != affordable {
		t.Fatalf("%d of %d payments succeeded with a balance for %d", succeeded, len(invs), affordable)
	}
	if got, want := bal.Balance(t, alice), start-int64(affordable)*cost; got != want {
		t.Fatalf("alice balance %d, want %d", got, want)
	}
	if got, want := bal.Balance(t, bob), bobBefore+int64(affordable)*s.cfg.AmountMsat; got != want {
		t.Fatalf("bob balance %d, want %d", got, want)
	}
}

// payAll has from pay every invoice at once and returns the payments in
// the order of invs; a Pay that errs fails the test.
func (s *suite) payAll(t *testing.T, from lightning.Node, invs []lightning.Invoice) []lightning.Payment {
	t.Helper()
	pays := make([]lightning.Payment, len(invs))
	var wg sync.WaitGroup
	for i := range invs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := from.Pay(s.ctx(t), s.payReq(invs[i].PaymentRequest))
			if err != nil {
				t.Errorf("Pay %d: %v", i, err)
				return
			}
			pays[i] = p
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return pays
}
