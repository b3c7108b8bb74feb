package lightningtest

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// testRestartAndResume: invoices, payments and the settle-index cursor
// survive restarting both nodes, and a subscription resumed from a cursor
// gets exactly what settled after it.
func (s *suite) testRestartAndResume(t *testing.T) {
	alice, bob := s.h.Nodes(t)
	paid := s.invoice(t, bob, s.cfg.AmountMsat)
	open := s.invoice(t, bob, s.cfg.AmountMsat)
	p := s.pay(t, alice, paid.PaymentRequest)
	before := s.waitSettled(t, bob, paid.PaymentHash)
	aliceInfo, err := alice.Info(s.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	bobInfo, err := bob.Info(s.ctx(t))
	if err != nil {
		t.Fatal(err)
	}

	alice = s.h.Restart(t, alice)
	bob = s.h.Restart(t, bob)
	for _, c := range []struct {
		n    lightning.Node
		want lightning.NodeInfo
	}{{alice, aliceInfo}, {bob, bobInfo}} {
		got, err := c.n.Info(s.ctx(t))
		if err != nil {
			t.Fatalf("Info after restart: %v", err)
		}
		if got.PubKey != c.want.PubKey || got.Network != c.want.Network {
			t.Fatalf("identity after restart %+v, before %+v", got, c.want)
		}
	}

	// What was there is still there.
	after, err := bob.LookupInvoice(s.ctx(t), paid.PaymentHash)
	if err != nil {
		t.Fatalf("LookupInvoice after restart: %v", err)
	}
	if after.State != lightning.InvoiceSettled || after.SettleIndex != before.SettleIndex ||
		after.AmountPaidMsat != before.AmountPaidMsat || after.PaymentRequest != paid.PaymentRequest {
		t.Fatalf("settled invoice after restart %+v, before %+v", after, before)
	}
	if got, err := bob.LookupInvoice(s.ctx(t), open.PaymentHash); err != nil || got.State != lightning.InvoiceOpen {
		t.Fatalf("open invoice after restart: %+v, %v", got, err)
	}
	tracked, err := alice.TrackPayment(s.ctx(t), paid.PaymentHash)
	if err != nil {
		t.Fatalf("TrackPayment after restart: %v", err)
	}
	if tracked.Status != lightning.StatusSucceeded || tracked.Preimage != p.Preimage {
		t.Fatalf("payment after restart %+v, before %+v", tracked, p)
	}
	again, err := alice.Pay(s.ctx(t), s.payReq(paid.PaymentRequest))
	if err != nil {
		t.Fatalf("paying again after restart: %v", err)
	}
	samePayment(t, p, s.final(t, alice, again))

	// An invoice issued before the restart is paid after it, and the
	// stream resumed from the last processed cursor brings it, and only
	// what came after the cursor.
	p2 := s.pay(t, alice, open.PaymentRequest)
	settled := s.waitSettled(t, bob, open.PaymentHash)
	if settled.SettleIndex <= before.SettleIndex {
		t.Fatalf("settle index %d after a restart, not above %d", settled.SettleIndex, before.SettleIndex)
	}
	ev := s.settledEvent(t, bob, before.SettleIndex, open.PaymentHash)
	if ev.SettleIndex != settled.SettleIndex || ev.AmountPaidMsat != p2.AmountMsat {
		t.Fatalf("resumed stream gave %+v, lookup %+v", ev, settled)
	}
	// From just before the first settlement, both arrive, in order.
	s.collectSettled(t, bob, before.SettleIndex-1, []lightning.Hash{paid.PaymentHash, open.PaymentHash})
}

// testInFlightAfterRestart: a payment still in flight when its node stops
// reaches a final state after the restart, and is not paid twice.
func (s *suite) testInFlightAfterRestart(t *testing.T) {
	holder, ok := s.h.(Holder)
	if !ok {
		t.Skip("harness cannot hold payments in flight")
	}
	alice, bob := s.h.Nodes(t)
	inv := s.invoice(t, bob, s.cfg.AmountMsat)
	aliceBefore, haveBalances := s.balance(t, alice)
	bobBefore, _ := s.balance(t, bob)

	holder.Hold(t, alice)
	req := s.payReq(inv.PaymentRequest)
	req.Timeout = 300 * time.Millisecond
	p, err := alice.Pay(s.ctx(t), req)
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if p.Status != lightning.StatusInFlight || p.PaymentHash != inv.PaymentHash {
		t.Fatalf("held payment %+v, want IN_FLIGHT", p)
	}
	// Paying again while in flight returns the same payment, still in flight.
	again, err := alice.Pay(s.ctx(t), req)
	if err != nil || again.PaymentHash != p.PaymentHash || again.Status != lightning.StatusInFlight {
		t.Fatalf("second Pay of a held payment: %+v, %v", again, err)
	}
	if got, err := bob.LookupInvoice(s.ctx(t), inv.PaymentHash); err != nil || got.State != lightning.InvoiceOpen {
		t.Fatalf("invoice of a held payment: %+v, %v; want OPEN", got, err)
	}

	alice = s.h.Restart(t, alice)
	final := s.final(t, alice, lightning.Payment{PaymentHash: p.PaymentHash, Status: lightning.StatusInFlight})
	checkSucceeded(t, final)
	if settled := s.waitSettled(t, bob, inv.PaymentHash); settled.AmountPaidMsat != s.cfg.AmountMsat {
		t.Fatalf("bob was paid %d msat, want %d", settled.AmountPaidMsat, s.cfg.AmountMsat)
	}
	if haveBalances {
		if got := s.mustBalance(t, alice); got != aliceBefore-final.AmountMsat-final.FeeMsat {
			t.Fatalf("alice balance %d, want %d", got, aliceBefore-final.AmountMsat-final.FeeMsat)
		}
		if got := s.mustBalance(t, bob); got != bobBefore+final.AmountMsat {
			t.Fatalf("bob balance %d, want %d", got, bobBefore+final.AmountMsat)
		}
	}
}
