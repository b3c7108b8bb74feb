package vasp_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A settled payment whose credit would take the payee past
// ledger.MaxBalance (the balance grew after it was priced) neither stalls
// the settlements after it nor is lost: it stays PENDING, booked to no
// one, and is credited whole once the payee's balance has room.
func TestSettlementPastBalanceCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		l := ledger.New(db, nil)
		status := func(invoice string) string {
			t.Helper()
			var st string
			if err := db.QueryRowContext(t.Context(), `SELECT status FROM uma_transactions WHERE invoice = $1`, invoice).Scan(&st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		pay := func(invoice string) {
			t.Helper()
			if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: invoice, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", p, err)
			}
		}
		balance := func(r vasp.Recipient, currency string) int64 {
			t.Helper()
			b, err := l.Balance(t.Context(), db, ledger.UserAccount(r.UserID), currency)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}

		prA := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()) // 5.00 EUR to bob
		a, err := s.PayRequest(t.Context(), "bob", prA)
		wantCode(t, err, "")
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/cap", w.bob.UserID, "EUR", ledger.MaxBalance-100, "test")); err != nil {
			t.Fatal(err)
		}
		pay(a.PR)

		prB := payRequest(t, sender.Signing, "$carol@vasp1.example", w.clock.Now())
		prB.SendingCurrency, prB.ReceivingCurrency = "USD", "USD"
		if err := prB.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		b, err := s.PayRequest(t.Context(), "alice", prB)
		wantCode(t, err, "")
		pay(b.PR)
		for deadline := time.Now().Add(15 * time.Second); status(b.PR) != vasp.StatusCompleted; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("a payment settled after one past the payee's cap was never credited")
			}
		}
		if st, bal := status(a.PR), balance(w.bob, "EUR"); st != vasp.StatusPending || bal != ledger.MaxBalance-100 {
			t.Fatalf("the payment past the cap is %s, bob has %d; want PENDING and nothing booked", st, bal)
		}

		// Bob spends: the sweep credits the payment.
		if _, err := l.Post(t.Context(), ledger.Withdrawal("withdraw/cap", w.bob.UserID, "EUR", 1000, "test")); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		s.SweepPending(t.Context())
		if st, bal := status(a.PR), balance(w.bob, "EUR"); st != vasp.StatusCompleted || bal != ledger.MaxBalance-100-1000+500 {
			t.Fatalf("after the sweep the payment is %s, bob has %d", st, bal)
		}
	})
}
