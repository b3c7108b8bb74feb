package vasp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// depositingNode refuses every payment (no route), after running deposit:
// the platform depositing for the payer while the payment is in flight.
type depositingNode struct {
	lightning.Node
	deposit func()
}

func (n *depositingNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	n.deposit()
	return lightning.Payment{}, lightning.ErrNoRoute
}

// A payment that fails gives the payer's money back even when the payer's
// balance was filled up to the ledger's cap while it was in flight: the
// deposit that would have taken the payer past the cap, counting the held
// money, is refused, and the payment ends FAILED with the money released.
// (Were the cap counted on the available balance alone, the deposit would
// land, the release would overflow, and the payment would stay PROCESSING
// with the money held.)
func TestFailedPaymentReleasesAtBalanceCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t) // alice holds 100,000 USD cents, the quote debits 1000
		l := ledger.New(db, nil)
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/fill", h.w.alice.UserID, "USD", ledger.MaxBalance-100_000, "fill")); err != nil {
			t.Fatal(err)
		}
		var lateErr error
		node := &depositingNode{Node: h.w.node, deposit: func() {
			_, lateErr = l.Post(t.Context(), ledger.Deposit("deposit/late", h.w.alice.UserID, "USD", q.SendingAmount, "late"))
		}}
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.Clock = node, vaspd.SystemClock{} })
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute: %s %v, want %s", tr.Status, err, vasp.StatusFailed)
		}
		if !errors.Is(lateErr, ledger.ErrOverflow) {
			t.Fatalf("the deposit past the cap counting the held money: %v, want ErrOverflow", lateErr)
		}
		if av, held := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"),
			balance(t, db, ledger.HoldAccount(h.w.alice.UserID), "USD"); av != ledger.MaxBalance || held != 0 {
			t.Fatalf("alice has %d available, %d held; want %d and 0", av, held, int64(ledger.MaxBalance))
		}
	})
}
