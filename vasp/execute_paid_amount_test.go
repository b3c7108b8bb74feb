package vasp_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// misreportingNode is a node whose successful payments report `extra`
// msats more paid than the invoice's amount (less, negative), when paid
// and when tracked: no backend does (each pays an invoice's amount
// exactly), so it stands for one that is wrong. Only the lightning.Node
// methods show.
type misreportingNode struct {
	lightning.Node
	extra int64
}

func (n misreportingNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	p, err := n.Node.Pay(ctx, req)
	if err == nil && p.Status == lightning.StatusSucceeded {
		p.AmountMsat += n.extra
	}
	return p, err
}

func (n misreportingNode) TrackPayment(ctx context.Context, hash lightning.Hash) (lightning.Payment, error) {
	p, err := n.Node.TrackPayment(ctx, hash)
	if err == nil && p.Status == lightning.StatusSucceeded {
		p.AmountMsat += n.extra
	}
	return p, err
}

// A payment the node reports paying another amount than its invoice's
// is booked as the node paid it: system:node moves by what left the
// node, routing fee included, the difference is system:fees' (the user
// is debited the quoted amount, no more), the transaction says what was
// paid, and an error is logged. Booked from the invoice, the books would
// differ from the node's by the difference, silently.
func TestExecuteBooksWhatTheNodePaid(t *testing.T) {
	for _, extra := range []int64{700, -300} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				h := newHostile(t, db)
				q := h.fundedQuote(t)
				var logs syncBuffer
				s := h.w.service(t, func(o *vasp.Options) {
					o.Node = misreportingNode{Node: h.w.node, extra: extra}
					o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
				})
				nodeBefore, feesBefore := balance(t, db, ledger.Node, ledger.BTC), balance(t, db, ledger.Fees, ledger.BTC)
				tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
				if err != nil {
					t.Fatal(err)
				}
				if tr.Status != vasp.StatusCompleted {
					t.Fatalf("execute answered %s (%s), want %s", tr.Status, tr.FailureReason, vasp.StatusCompleted)
				}
				fee := tr.Details.RoutingFeeMsats
				paid := q.Msats + extra
				if got, want := balance(t, db, ledger.Node, ledger.BTC)-nodeBefore, paid+fee; got != want {
					t.Errorf("system:node moved by %d msats, want %d: what the node reports paying (%d) and its fee (%d)", got, want, paid, fee)
				}
				if got, want := balance(t, db, ledger.Fees, ledger.BTC)-feesBefore, -fee-extra; got != want {
					t.Errorf("system:fees moved by %d msats, want %d", got, want)
				}
				if got, want := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"), int64(100_000)-q.SendingAmount; got != want {
					t.Errorf("alice's balance is %d, want %d: debited the quote's amount", got, want)
				}
				if tr.Details.AmountPaidMsats != paid {
					t.Errorf("the transaction says %d msats paid, want %d", tr.Details.AmountPaidMsats, paid)
				}
				if n := logs.count(t, slog.LevelError, "the node reports paying another amount"); n != 1 {
					t.Errorf("%d error lines about the amount, want 1", n)
				}
				// The reconciliation reports it as well.
				now := h.w.clock.Now()
				rep, err := s.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Mismatches) != 1 || rep.Mismatches[0].Kind != vasp.MismatchOutgoingAmount || rep.Mismatches[0].TransactionID != tr.ID {
					t.Fatalf("reconciliation mismatches %+v, want the payment's %s", rep.Mismatches, vasp.MismatchOutgoingAmount)
				}
				// It says what vaspd booked as paid (the node's word) and
				// what the invoice asked, which the node did not pay.
				if m := rep.Mismatches[0]; m.Ours.Msats != paid || m.Ours.InvoiceMsats != q.Msats || m.Node.Msats != paid ||
					m.Ours.LedgerMsats != paid+fee || m.Ours.FeeMsats != fee {
					t.Errorf("the mismatch says %+v; want vaspd's msats %d (booked as paid), invoiceMsats %d, ledger %d, fee %d",
						m, paid, q.Msats, paid+fee, fee)
				}
				if n := logs.count(t, slog.LevelError, fmt.Sprintf(`"vaspd_msats":%d,"invoice_msats":%d`, paid, q.Msats)); n != 1 {
					t.Errorf("%d mismatch lines naming vaspd's paid msats and the invoice's, want 1", n)
				}
			})
		})
	}
}
