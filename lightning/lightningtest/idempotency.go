package lightningtest

import (
	"sync"
	"testing"

	"github.com/vaspd/vaspd/lightning"
)

// testDoublePay: paying a paid invoice again returns the first payment and
// moves no money.
func (s *suite) testDoublePay(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	first := s.pay(t, alice, inv.PaymentRequest)
	settled := s.waitSettled(t, bob, inv.PaymentHash)
	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)

	for i := 0; i < 2; i++ {
		again, err := alice.Pay(s.ctx(t), s.payReq(inv.PaymentRequest))
		if err != nil {
			t.Fatalf("paying again: %v; want the first payment back", err)
		}
		samePayment(t, first, s.final(t, alice, again))
	}
	after, err := bob.LookupInvoice(s.ctx(t), inv.PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	if after.AmountPaidMsat != settled.AmountPaidMsat || after.SettleIndex != settled.SettleIndex {
		t.Fatalf("invoice changed by a second payment: %+v, was %+v", after, settled)
	}
	if haveBalances {
		if a, b := s.mustBalance(t, alice), s.mustBalance(t, bob); a != aliceBefore || b != bobBefore {
			t.Fatalf("balances moved on a second payment: alice %d→%d, bob %d→%d", aliceBefore, a, bobBefore, b)
		}
	}
}

func samePayment(t *testing.T, want, got lightning.Payment) {
	t.Helper()
	checkSucceeded(t, got)
	if got.PaymentHash != want.PaymentHash || got.Preimage != want.Preimage || got.AmountMsat != want.AmountMsat ||
		got.FeeMsat != want.FeeMsat {
		t.Fatalf("second payment %+v differs from the first %+v", got, want)
	}
}

// testConcurrentDoublePay: many concurrent payments of one invoice all get
// the same payment back, and the money moves once.
func (s *suite) testConcurrentDoublePay(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)

	results := make([]lightning.Payment, s.cfg.Concurrency)
	errs := make([]error, s.cfg.Concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = alice.Pay(s.ctx(t), s.payReq(inv.PaymentRequest))
		}()
	}
	close(start)
	wg.Wait()
	var first lightning.Payment
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Pay %d: %v", i, err)
		}
		p := s.final(t, alice, results[i])
		if i == 0 {
			checkSucceeded(t, p)
			first = p
			continue
		}
		samePayment(t, first, p)
	}
	settled := s.waitSettled(t, bob, inv.PaymentHash)
	if settled.AmountPaidMsat != s.cfg.AmountMsat {
		t.Fatalf("bob was paid %d msat for a %d msat invoice", settled.AmountPaidMsat, s.cfg.AmountMsat)
	}
	if haveBalances {
		if got := s.mustBalance(t, alice); got != aliceBefore-first.AmountMsat-first.FeeMsat {
			t.Fatalf("alice balance %d, want %d: money moved more than once", got, aliceBefore-first.AmountMsat-first.FeeMsat)
		}
		if got := s.mustBalance(t, bob); got != bobBefore+first.AmountMsat {
			t.Fatalf("bob balance %d, want %d: money moved more than once", got, bobBefore+first.AmountMsat)
		}
	}
}
