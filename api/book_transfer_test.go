package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// lndLikeNode is the fixture's embedded node as vaspd sees lnd: only the
// lightning.Node methods show (no recording in vaspd's transactions), it
// says it cannot pay its own invoices, and it refuses them as lnd does
// (NO_ROUTE). It counts what it is asked to pay; lookupsDown makes that
// many invoice lookups fail as an unreachable node's do. It cancels
// invoices as lnd with its invoices sub-server does, or, with
// noInvoicesRPC, answers as lnd built without it.
type lndLikeNode struct {
	lightning.Node
	pays          atomic.Int32
	lookupsDown   atomic.Int32
	noInvoicesRPC atomic.Bool
}

func (n *lndLikeNode) CancelInvoice(ctx context.Context, h lightning.Hash) error {
	if n.noInvoicesRPC.Load() {
		return fmt.Errorf("lnd cancelinvoice: %w: Not Found (grpc code 5, http 404)", errors.ErrUnsupported)
	}
	return n.Node.(lightning.InvoiceCanceler).CancelInvoice(ctx, h)
}

func (n *lndLikeNode) Info(ctx context.Context) (lightning.NodeInfo, error) {
	info, err := n.Node.Info(ctx)
	info.PaysOwnInvoices = false
	return info, err
}

func (n *lndLikeNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	n.pays.Add(1)
	info, err := n.Node.Info(ctx)
	if err != nil {
		return lightning.Payment{}, err
	}
	if inv, err := bolt11.Decode(req.Invoice, info.Network); err == nil && strings.EqualFold(inv.Destination, info.PubKey) {
		return lightning.Payment{}, fmt.Errorf("lnd send: %w: self-payments not allowed", lightning.ErrNoRoute)
	}
	return n.Node.Pay(ctx, req)
}

func (n *lndLikeNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	if n.lookupsDown.Add(-1) >= 0 {
		return lightning.Invoice{}, fmt.Errorf("lnd lookup: %w: connection refused", lightning.ErrUnavailable)
	}
	n.lookupsDown.Store(0)
	return n.Node.LookupInvoice(ctx, h)
}

// bookTransferFixture is payFixture whose node is lndLikeNode.
func bookTransferFixture(t *testing.T, db *store.DB, tune func(*vasp.Options)) (*payFixture, *lndLikeNode) {
	t.Helper()
	var node *lndLikeNode
	f := newPayFixtureWith(t, db, func(o *vasp.Options) {
		node = &lndLikeNode{Node: o.Node}
		o.Node = node
		if tune != nil {
			tune(o)
		}
	}, nil)
	return f, node
}

// paymentsOf reads the outgoing transaction txID and the incoming one of
// the same invoice: status, failure reason and details.
func paymentsOf(t *testing.T, db *store.DB, txID string) (out, in [3]string) {
	t.Helper()
	var hash string
	if err := db.QueryRowContext(t.Context(), `SELECT status, failure_reason, details, payment_hash FROM uma_transactions WHERE id = $1`,
		txID).Scan(&out[0], &out[1], &out[2], &hash); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT status, failure_reason, details FROM uma_transactions WHERE direction = 'INCOMING' AND payment_hash = $1`,
		hash).Scan(&in[0], &in[1], &in[2]); err != nil {
		t.Fatal(err)
	}
	return out, in
}

// With a node that cannot pay its own invoices (lnd), one of our users
// pays another by our books alone: the lookup, payreq and quote go through
// our UMA endpoints as with any VASP, and the execute settles the payer
// and credits the payee in one transaction, without asking the node to
// pay. It was refused (501 at the lookup); before that it failed at
// execute with NO_ROUTE, after the payee's platform had approved it.
func TestPaymentBetweenOurUsersWithANodeThatCannotPayItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, node := bookTransferFixture(t, db, nil)
		q := f.quote(t, 1000) // € 10.00 to bob
		var debit, credit int64
		var hash, invoice string
		if err := db.QueryRowContext(t.Context(), `SELECT sending_amount, receiving_amount, payment_hash, invoice FROM uma_quotes WHERE id = $1`, q).
			Scan(&debit, &credit, &hash, &invoice); err != nil {
			t.Fatal(err)
		}
		nodeBefore := balanceOf(t, f, ledger.Node, ledger.BTC)
		status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("execute: %d %s; want 200 COMPLETED", status, raw)
		}
		if n := node.pays.Load(); n != 0 {
			t.Errorf("the node was asked to pay %d times; a payment between our users is made by the books", n)
		}
		out, in := paymentsOf(t, db, m["id"].(string))
		if in[0] != "COMPLETED" || !strings.Contains(out[2], `"bookTransfer":true`) || !strings.Contains(in[2], `"bookTransfer":true`) {
			t.Fatalf("outgoing %v, incoming %v: want both COMPLETED and marked bookTransfer", out, in)
		}
		// The payer's proof of payment: the invoice's preimage.
		var d struct{ Preimage string }
		if err := json.Unmarshal([]byte(out[2]), &d); err != nil {
			t.Fatal(err)
		}
		pre, _ := hex.DecodeString(d.Preimage)
		if sum := sha256.Sum256(pre); hex.EncodeToString(sum[:]) != hash {
			t.Errorf("outgoing preimage %q does not hash to the invoice's payment hash %s", d.Preimage, hash)
		}
		if got, want := balanceOf(t, f, ledger.UserAccount(f.alice.UserID), "USD"), int64(100_000)-debit; got != want {
			t.Errorf("alice's balance %d, want %d", got, want)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != credit {
			t.Errorf("bob's balance %d, want the %d quoted", got, credit)
		}
		if got := balanceOf(t, f, ledger.Node, ledger.BTC); got != nodeBefore {
			t.Errorf("system:node moved from %d to %d: no bitcoin moved", nodeBefore, got)
		}
		// The node's invoice is canceled: no one can pay it again.
		h, _ := lightning.ParseHash(hash)
		if inv, err := f.node.LookupInvoice(t.Context(), h); err != nil || inv.State != lightning.InvoiceCanceled {
			t.Errorf("the node's invoice: %v, %v; want CANCELED", inv.State, err)
		}
		// Executing again answers the same payment; nothing moves twice.
		status, raw, m2 := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 || m2["id"] != m["id"] {
			t.Fatalf("execute again: %d %s", status, raw)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != credit {
			t.Errorf("bob's balance %d after a second execute, want %d", got, credit)
		}
		// The reconciliation knows such payments: neither side is a
		// mismatch, though the node sent and received nothing.
		r, err := f.svc.Reconcile(t.Context(), time.Now().Add(-time.Hour), time.Now().Add(time.Minute), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Mismatches) != 0 || r.Checked[vasp.CheckOutgoingCompleted] != 1 || r.Checked[vasp.CheckIncomingCompleted] != 1 {
			t.Errorf("reconciliation: checked %v, mismatches %+v; want one of each side, no mismatch", r.Checked, r.Mismatches)
		}
	})
}

// A book transfer whose payee's payment no longer waits for it (here
// refused by its platform's late answer, or expired) fails the payer's
// payment as a node refusing the invoice does: the payer's money comes
// back, and the payee is credited nothing.
func TestBookTransferToAPaymentNoLongerWaiting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, _ := bookTransferFixture(t, db, nil)
		q := f.quote(t, 1000)
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET status = 'REJECTED'
			WHERE direction = 'INCOMING' AND payment_hash = (SELECT payment_hash FROM uma_quotes WHERE id = $1)`, q); err != nil {
			t.Fatal(err)
		}
		status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 || m["status"] != "FAILED" {
			t.Fatalf("execute: %d %s; want 200 FAILED", status, raw)
		}
		out, in := paymentsOf(t, db, m["id"].(string))
		if out[1] != "PAYMENT_REFUSED" || in[0] != "REJECTED" {
			t.Errorf("outgoing %v, incoming %v: want FAILED PAYMENT_REFUSED, and REJECTED left alone", out, in)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.alice.UserID), "USD"); got != 100_000 {
			t.Errorf("alice's balance %d, want all of her 100000 back", got)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != 0 {
			t.Errorf("bob was credited %d", got)
		}
	})
}

// A book transfer the execute could not make (the node did not answer the
// invoice's lookup) stays PROCESSING, its money reserved, and the resolver
// makes it once the node answers: the node never got the payment, so the
// resolver sends it again, by the books.
func TestBookTransferLeftToTheResolver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, node := bookTransferFixture(t, db, func(o *vasp.Options) { o.PayTimeout = 100 * time.Millisecond })
		q := f.quote(t, 1000)
		node.lookupsDown.Store(1)
		status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
		if status != 200 || m["status"] != "PROCESSING" {
			t.Fatalf("execute with the node unreachable: %d %s; want 200 PROCESSING", status, raw)
		}
		id := m["id"].(string)
		// The resolver looks at payments a pay timeout and 5 s after
		// their last update, every 2 s.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, in := paymentsOf(t, db, id)
			if out[0] == "COMPLETED" && in[0] == "COMPLETED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s: outgoing %v, incoming %v; want both COMPLETED by the resolver", out, in)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := node.pays.Load(); n != 0 {
			t.Errorf("the node was asked to pay %d times", n)
		}
		var credit int64
		if err := db.QueryRowContext(t.Context(), `SELECT receiving_amount FROM uma_quotes WHERE id = $1`, q).Scan(&credit); err != nil {
			t.Fatal(err)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != credit {
			t.Errorf("bob's balance %d, want %d, credited once", got, credit)
		}
	})
}

// balanceOf is acct's balance in currency.
func balanceOf(t *testing.T, f *payFixture, acct ledger.Account, currency string) int64 {
	t.Helper()
	b, err := f.ledger.Balance(t.Context(), f.db, acct, currency)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// So is a payment to another of our users' plain Lightning Address (with
// pay-lightning-addresses on): the payee's plain LNURL-pay payment is
// credited by the books as an UMA one.
func TestPlainPaymentBetweenOurUsersWithANodeThatCannotPayItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, node := bookTransferFixture(t, db, func(o *vasp.Options) { o.PayLightningAddresses = true })
		status, raw, m := f.call(t, "GET", "/receiver/"+url.PathEscape("bob@"+f.domain)+"?userId="+f.alice.UserID, &f.admin, "")
		if status != 200 {
			t.Fatalf("lookup: %d %s", status, raw)
		}
		body := fmt.Sprintf(`{"lookupId":%q,"sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"RECEIVING","lockedCurrencyAmount":1000}`, m["lookupId"])
		status, raw, m = f.call(t, "POST", "/quotes", &f.admin, body)
		if status != 201 {
			t.Fatalf("quote: %d %s", status, raw)
		}
		status, raw, m = f.call(t, "POST", "/quotes/"+m["quoteId"].(string)+"/execute", &f.admin, "")
		if status != 200 || m["status"] != "COMPLETED" {
			t.Fatalf("execute: %d %s; want 200 COMPLETED", status, raw)
		}
		if n := node.pays.Load(); n != 0 {
			t.Errorf("the node was asked to pay %d times", n)
		}
		if out, in := paymentsOf(t, db, m["id"].(string)); in[0] != "COMPLETED" || !strings.Contains(in[2], `"bookTransfer":true`) {
			t.Fatalf("outgoing %v, incoming %v: want both COMPLETED by the books", out, in)
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != 1000 {
			t.Errorf("bob's balance %d, want 1000", got)
		}
	})
}

// A node that cannot cancel invoices (lnd built without its invoices
// sub-server) does not stop a payment between our users: it is made by the
// books all the same, and the node's invoice is left open to expire.
func TestBookTransferWithANodeThatCannotCancelInvoices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, node := bookTransferFixture(t, db, nil)
		node.noInvoicesRPC.Store(true)
		var credited int64
		for i := range 2 { // the second time, the node's answer is known: logged once
			q := f.quote(t, 1000)
			var hash string
			var credit int64
			if err := db.QueryRowContext(t.Context(), `SELECT payment_hash, receiving_amount FROM uma_quotes WHERE id = $1`, q).Scan(&hash, &credit); err != nil {
				t.Fatal(err)
			}
			credited += credit
			status, raw, m := f.call(t, "POST", "/quotes/"+q+"/execute", &f.admin, "")
			if status != 200 || m["status"] != "COMPLETED" {
				t.Fatalf("execute %d: %d %s; want 200 COMPLETED", i, status, raw)
			}
			h, _ := lightning.ParseHash(hash)
			if inv, err := f.node.LookupInvoice(t.Context(), h); err != nil || inv.State != lightning.InvoiceOpen {
				t.Errorf("payment %d: the node's invoice: %v, %v; want OPEN (it could not be canceled)", i, inv.State, err)
			}
		}
		if got := balanceOf(t, f, ledger.UserAccount(f.bob.UserID), "EUR"); got != credited {
			t.Errorf("bob's balance %d, want the %d of both payments", got, credited)
		}
	})
}
