package vasp_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// lookupNode is the real node whose LookupInvoice answers err instead:
// ErrNotFound for a node that lost its data (or was replaced), another
// error for one that cannot be reached.
type lookupNode struct {
	lightning.Node
	err error
}

func (n lookupNode) LookupInvoice(context.Context, lightning.Hash) (lightning.Invoice, error) {
	return lightning.Invoice{}, n.err
}

// lostInvoice records a PENDING incoming payment to bob whose invoice,
// issued at the clock's now for expiry, the node does not know: it was
// signed by another node key.
func lostInvoice(t *testing.T, w *world, s *vasp.Service, expiry time.Duration) string {
	t.Helper()
	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var hash, addr lightning.Hash
	_, _ = rand.Read(hash[:])
	_, _ = rand.Read(addr[:])
	now := w.clock.Now()
	pr, err := bolt11.Encode(bolt11.Request{Network: bolt11.Regtest, PaymentHash: hash, PaymentAddr: addr,
		AmountMsat: 1_000_000, Description: "lost", Timestamp: now, Expiry: expiry}, key)
	if err != nil {
		t.Fatal(err)
	}
	tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusPending,
		UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
		Counterparty: "$alice@vasp1.example", PaymentHash: hash.String(), Invoice: pr,
		Currency: "EUR", Amount: 1000, Msats: 1_000_000, CreatedAt: now, UpdatedAt: now}
	if err := s.InsertTransaction(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	return tr.ID
}

func statusOf(t *testing.T, s *vasp.Service, id string) string {
	t.Helper()
	tr, err := s.GetTransaction(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status + "/" + tr.FailureReason
}

// A PENDING payment whose invoice the node no longer knows (the node was
// replaced, or lost its data) ends EXPIRED once its invoice has expired
// and a margin passed, as one whose invoice expired unpaid: no payment can
// arrive for it any more. A lookup that fails otherwise ends nothing.
func TestSweepExpiresPaymentsTheNodeForgot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		unreachable := w.service(t, func(o *vasp.Options) {
			o.Node = lookupNode{Node: w.node, err: fmt.Errorf("lnd lookup: %w", lightning.ErrUnavailable)}
		})
		lost := lostInvoice(t, w, s, 10*time.Minute)
		notInvoice := lostInvoice(t, w, s, 10*time.Minute)
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET invoice = 'lnbcrt1' WHERE id = $1`, notInvoice); err != nil {
			t.Fatal(err)
		}

		w.clock.Advance(10*time.Minute + 30*time.Second) // expired, within the margin
		s.SweepPending(t.Context())
		if got := statusOf(t, s, lost); got != vasp.StatusPending+"/" {
			t.Fatalf("just after its invoice expired, the payment is %s; want it PENDING", got)
		}

		w.clock.Advance(2 * time.Hour)
		unreachable.SweepPending(t.Context())
		if got := statusOf(t, s, lost); got != vasp.StatusPending+"/" {
			t.Fatalf("a node that cannot be reached ended the payment: %s", got)
		}
		s.SweepPending(t.Context())
		if got := statusOf(t, s, lost); got != vasp.StatusExpired+"/INVOICE_EXPIRED" {
			t.Fatalf("a payment whose invoice the node forgot and expired hours ago is %s; want EXPIRED/INVOICE_EXPIRED", got)
		}
		wantSpecTransaction(t, s, lost, "QUOTE_EXPIRED")
		wantEndHooks(t, db, lost, "EXPIRED/QUOTE_EXPIRED")
		// An invoice that does not decode tells no expiry: left alone.
		if got := statusOf(t, s, notInvoice); got != vasp.StatusPending+"/" {
			t.Fatalf("a payment whose invoice does not decode is %s; want it PENDING", got)
		}
	})
}

// A payment expired by a node that forgot its invoice is still credited,
// once, when the node turns out to have settled it after all.
func TestForgottenPaymentSettledLateCreditedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		forgetful := w.service(t, func(o *vasp.Options) { o.Node = lookupNode{Node: w.node, err: lightning.ErrNotFound} })
		resp, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		wantCode(t, err, "")
		tr, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{UserID: w.bob.UserID}, "", 1)
		if err != nil || len(tr) != 1 {
			t.Fatalf("%v, %v", tr, err)
		}
		// Paid while no settlement watcher ran: only a sweep sees it.
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(3 * time.Hour)
		forgetful.SweepPending(t.Context())
		if got := statusOf(t, s, tr[0].ID); got != vasp.StatusExpired+"/INVOICE_EXPIRED" {
			t.Fatalf("payment is %s after the forgetful sweep", got)
		}
		// The settled invoices' stream credits it (the sweep looks at
		// PENDING payments only); its failure reason goes with its failure.
		runService(t, s)
		for deadline := time.Now().Add(15 * time.Second); statusOf(t, s, tr[0].ID) != vasp.StatusCompleted+"/"; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("payment settled late is %s; want COMPLETED with no failure reason", statusOf(t, s, tr[0].ID))
			}
		}
		w.clock.Advance(time.Minute)
		s.SweepPending(t.Context())
		forgetful.SweepPending(t.Context())
		if got := balance(t, db, ledger.UserAccount(w.bob.UserID), "EUR"); got != 500 {
			t.Fatalf("bob has %d, want 500 credited once", got)
		}
		wantEndHooks(t, db, tr[0].ID, "EXPIRED/QUOTE_EXPIRED", "COMPLETED/")
	})
}
