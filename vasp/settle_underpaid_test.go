package vasp_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// underpaidNode is the real node reporting some invoices settled for
// less than their amount (the embedded node never settles one: it takes
// amount to twice that), by its settlement stream and its lookups alike,
// as a backend might (lnd settles AMP and keysend payments for what
// arrived).
type underpaidNode struct {
	lightning.Node
	mu   sync.Mutex
	paid map[lightning.Hash]int64
}

func (n *underpaidNode) underpay(h lightning.Hash, msats int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.paid[h] = msats
}

func (n *underpaidNode) rewrite(inv lightning.Invoice) lightning.Invoice {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.paid[inv.PaymentHash]; ok && inv.State == lightning.InvoiceSettled {
		inv.AmountPaidMsat = p
	}
	return inv
}

func (n *underpaidNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	inv, err := n.Node.LookupInvoice(ctx, h)
	return n.rewrite(inv), err
}

func (n *underpaidNode) SubscribeSettled(ctx context.Context, after uint64) (<-chan lightning.Invoice, func() error, error) {
	ch, wait, err := n.Node.SubscribeSettled(ctx, after)
	if err != nil {
		return nil, nil, err
	}
	out := make(chan lightning.Invoice)
	go func() {
		defer close(out)
		for inv := range ch {
			select {
			case out <- n.rewrite(inv):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, wait, nil
}

// An invoice reported settled for less than its amount does not hold up
// the settlements after it (it used to be retried every second, forever,
// by the stream and every sweep): the user is credited nothing (the rate
// was locked for the invoice's amount), what the node did receive is
// booked system:node → system:unmatched, and the payment ends FAILED with
// one INCOMING_PAYMENT webhook, once, whichever of two processes' streams
// and sweeps sees it first, and however often.
func TestUnderpaidIncomingPayment(t *testing.T) {
	for _, path := range []string{"stream", "sweep"} {
		t.Run(path, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) { underpaidIncomingPayment(t, db, path == "sweep") })
		})
	}
}

func underpaidIncomingPayment(t *testing.T, db *store.DB, sweep bool) {
	w := newWorld(t, db)
	sender := w.counterparty(t, "vasp1.example")
	node := &underpaidNode{Node: w.node, paid: map[lightning.Hash]int64{}}
	var logs syncBuffer
	tune := func(o *vasp.Options) {
		o.Node = node
		o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	}
	s1, s2 := w.service(t, tune), w.service(t, tune) // two processes of one VASP
	l := ledger.New(db, nil)
	unmatched := ledger.SystemAccount("unmatched")
	run := func(s *vasp.Service) {
		runService(t, s)
	}
	if !sweep {
		run(s1)
		run(s2)
	}
	bal := func(acct ledger.Account, cur string) int64 {
		t.Helper()
		b, err := l.Balance(t.Context(), db, acct, cur)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type payment struct {
		id, currency string
		hash         lightning.Hash
		msats, amt   int64
	}
	request := func(payee, currency string) (string, payment) {
		t.Helper()
		pr := payRequest(t, sender.Signing, "$carol@vasp1.example", w.clock.Now())
		pr.SendingCurrency, pr.ReceivingCurrency = currency, currency
		if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := s1.PayRequest(t.Context(), payee, pr)
		wantCode(t, err, "")
		var p payment
		var h string
		if err := db.QueryRowContext(t.Context(), `SELECT id, payment_hash, msats, amount, currency FROM uma_transactions WHERE invoice = $1`,
			resp.PR).Scan(&p.id, &h, &p.msats, &p.amt, &p.currency); err != nil {
			t.Fatal(err)
		}
		if p.hash, err = lightning.ParseHash(h); err != nil {
			t.Fatal(err)
		}
		return resp.PR, p
	}
	pay := func(invoice string) {
		t.Helper()
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: invoice, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
	}
	tx := func(id string) vasp.Transaction {
		t.Helper()
		got, err := s1.GetTransaction(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	prA, a := request("bob", "EUR")
	prB, b := request("alice", "USD")
	paidA := a.msats / 2
	node.underpay(a.hash, paidA)
	nodeBefore := bal(ledger.Node, ledger.BTC)
	bobBefore, aliceBefore := bal(ledger.UserAccount(w.bob.UserID), a.currency), bal(ledger.UserAccount(w.alice.UserID), b.currency)
	pay(prA) // settle index 1: reported underpaid
	pay(prB) // settle index 2: settled after it, paid in full

	if sweep {
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		s1.SweepPending(t.Context())
		s2.SweepPending(t.Context())
	}
	for deadline := time.Now().Add(15 * time.Second); tx(b.id).Status != vasp.StatusCompleted || tx(a.id).Status == vasp.StatusPending; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("underpaid payment %s, the one settled after it %s: want FAILED and COMPLETED", tx(a.id).Status, tx(b.id).Status)
		}
	}
	check := func(when string) {
		t.Helper()
		if got := tx(a.id); got.Status != vasp.StatusFailed || got.FailureReason != "UNDERPAID" || got.Details.AmountPaidMsats != paidA {
			t.Errorf("%s: underpaid payment is %s/%q, paid %d; want FAILED/UNDERPAID, paid %d",
				when, got.Status, got.FailureReason, got.Details.AmountPaidMsats, paidA)
		}
		if got := tx(b.id).Status; got != vasp.StatusCompleted {
			t.Errorf("%s: the payment settled after it is %s, want COMPLETED", when, got)
		}
		if got := bal(ledger.Node, ledger.BTC) - nodeBefore; got != -(paidA + b.msats) {
			t.Errorf("%s: system:node moved by %d, want %d (what the node received)", when, got, -(paidA + b.msats))
		}
		if got := bal(unmatched, ledger.BTC); got != paidA {
			t.Errorf("%s: %s is %d, want what the underpaid invoice brought, %d", when, unmatched, got, paidA)
		}
		if got := bal(ledger.UserAccount(w.bob.UserID), a.currency) - bobBefore; got != 0 {
			t.Errorf("%s: bob was credited %d %s for an underpaid invoice, want nothing", when, got, a.currency)
		}
		if got := bal(ledger.UserAccount(w.alice.UserID), b.currency) - aliceBefore; got != b.amt {
			t.Errorf("%s: alice was credited %d %s, want %d", when, got, b.currency, b.amt)
		}
		if err := l.Check(t.Context(), db); err != nil {
			t.Errorf("%s: ledger audit: %v", when, err)
		}
		wantEndHooks(t, db, a.id, "FAILED/QUOTE_EXECUTION_FAILED")
		if n := logs.count(t, slog.LevelError, `"paid_msats":`+strconv.FormatInt(paidA, 10)); n != 1 {
			t.Errorf("%s: the underpayment was logged %d times at error level, want once", when, n)
		}
	}
	check("ended")

	// Seen again, by both processes' sweeps and streams: nothing more.
	w.clock.Advance(time.Minute)
	s1.SweepPending(t.Context())
	s2.SweepPending(t.Context())
	if sweep {
		cursor := func() (string, error) {
			var v string
			err := db.QueryRowContext(t.Context(), `SELECT value FROM settings WHERE name = 'vasp.settle_index'`).Scan(&v)
			return v, err
		}
		run(s1)
		run(s2)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			v, err := cursor()
			if err != nil && err != sql.ErrNoRows {
				t.Fatal(err)
			}
			if n, _ := strconv.ParseUint(v, 10, 64); n >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the streams never went past the underpaid settlement: cursor %q", v)
			}
		}
	}
	check("seen again")
}
