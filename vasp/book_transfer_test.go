package vasp_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// A payment between two of our users made by the books (a node that
// cannot pay its own invoices) pays once however many processes make it
// at once: the execute's and resolvers' (api's book-transfer tests follow
// the whole flow). One credits the payee and settles the payer; the others
// find it booked.
func TestBookTransferPaysOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := t.Context()
		const msats, debit, credit = 55_000_000, 5_000, 4_000
		inv, err := w.node.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: msats, DescriptionHash: lightning.Hash{1}, Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		now := w.clock.Now()
		in := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusPending,
			UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain, Counterparty: "$alice@" + ourDomain,
			PaymentHash: inv.PaymentHash.String(), Invoice: inv.PaymentRequest, Currency: "EUR", Amount: credit, Msats: msats,
			CounterCurrency: "USD", CounterAmount: debit, CreatedAt: now, UpdatedAt: now}
		out := in
		out.ID, out.Direction, out.Status = vaspd.NewID(vaspd.IDTransaction), vasp.Outgoing, vasp.StatusProcessing
		out.UserID, out.PlatformUserID, out.OurAddress, out.Counterparty = w.alice.UserID, w.alice.PlatformUserID, "$alice@"+ourDomain, "$bob@"+ourDomain
		out.Currency, out.Amount, out.CounterCurrency, out.CounterAmount = "USD", debit, "EUR", credit
		l := ledger.New(db, nil)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := l.Transfer(ctx, tx, ledger.Deposit("deposit/alice", w.alice.UserID, "USD", 100_000, "test")); err != nil {
				return err
			}
			_, err := l.Transfer(ctx, tx, ledger.Reserve("reserve/"+out.PaymentHash, w.alice.UserID, "USD", debit, out.ID))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry() // the processes' metrics, summed
		s := w.service(t, func(o *vasp.Options) { o.Node, o.Registerer = noSelfPay{w.node}, reg })
		for _, tr := range []vasp.Transaction{in, out} {
			if err := s.InsertTransaction(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		const n = 6
		var wg sync.WaitGroup
		got := make([]vasp.Transaction, n)
		errs := make([]error, n)
		for i := range n {
			p := w.service(t, func(o *vasp.Options) { o.Node, o.Registerer = noSelfPay{w.node}, reg }) // a process of its own
			wg.Go(func() { got[i], errs[i] = p.PayHere(ctx, out) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i].Status != vasp.StatusCompleted {
				t.Errorf("process %d: %s, %v; want COMPLETED", i, got[i].Status, errs[i])
			}
		}
		if r, err := s.GetTransaction(ctx, in.ID); err != nil || r.Status != vasp.StatusCompleted || !r.Details.BookTransfer {
			t.Errorf("incoming payment: %+v, %v; want COMPLETED by the books", r, err)
		}
		for _, c := range []struct {
			acct     ledger.Account
			currency string
			want     int64
		}{
			{ledger.UserAccount(w.bob.UserID), "EUR", credit},
			{ledger.UserAccount(w.alice.UserID), "USD", 100_000 - debit},
			{ledger.HoldAccount(w.alice.UserID), "USD", 0},
			{ledger.Node, ledger.BTC, 0},
		} {
			if b := balance(t, db, c.acct, c.currency); b != c.want {
				t.Errorf("%s: %d %s, want %d", c.acct, b, c.currency, c.want)
			}
		}
		if got := series(t, reg, "vaspd_payments_by_books_total")[""]; got != 1 {
			t.Errorf("vaspd_payments_by_books_total %v, want 1", got)
		}
		if err := l.Check(ctx, db); err != nil {
			t.Errorf("ledger check: %v", err)
		}
	})
}
