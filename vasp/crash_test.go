package vasp_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// lostAnswerNode is the real node behind a connection that breaks: Pay
// hands the payment to the node (which records and delivers it), then the
// caller sees a transport error instead of the answer — what the lnd
// adapter returns when lnd took a payment and then stopped answering.
// Only the lightning.Node methods show, so vasp uses it as a node of its
// own (Pay, then TrackPayment), as it uses lnd.
//
// With down, Pay fails before reaching the node (lnd unreachable); with
// stuck, TrackPayment reports those payments in flight, as lnd does for a
// payment whose HTLC is stuck in the network, for hours or days.
type lostAnswerNode struct {
	lightning.Node
	lose  bool // Pay's answer is lost
	down  bool // Pay never reaches the node
	stuck map[lightning.Hash]bool
}

func (n *lostAnswerNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	if n.down {
		return lightning.Payment{}, fmt.Errorf("lnd getinfo: %w: connection refused", lightning.ErrUnavailable)
	}
	p, err := n.Node.Pay(ctx, req)
	if err != nil || !n.lose {
		return p, err
	}
	return p, fmt.Errorf("lnd send: %w: %w", lightning.ErrUnavailable, context.DeadlineExceeded)
}

func (n *lostAnswerNode) TrackPayment(ctx context.Context, hash lightning.Hash) (lightning.Payment, error) {
	if n.stuck[hash] {
		return lightning.Payment{PaymentHash: hash, Status: lightning.StatusInFlight}, nil
	}
	return n.Node.TrackPayment(ctx, hash)
}

// balance is user's balance in currency, on account acct.
func balance(t *testing.T, db *store.DB, acct ledger.Account, currency string) int64 {
	t.Helper()
	b, err := ledger.New(db, nil).Balance(t.Context(), db, acct, currency)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Pay that returns an error once the node may have sent the payment
// leaves its outcome unknown: the payment stays PROCESSING with the money
// reserved, and the resolver books what the node did. Booking it FAILED
// would give the user the money back while the node pays it out.
func TestPayErrorAfterSendIsNotAFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		node := &lostAnswerNode{Node: h.w.node, lose: true}
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, 50*time.Millisecond })
		// The node takes the payment but does not deliver it yet.
		h.w.node.SetFaults(embedded.Faults{HoldInFlight: true})
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Status != vasp.StatusProcessing {
			t.Errorf("execute answered %s (%s), want %s: the node has the payment", tr.Status, tr.FailureReason, vasp.StatusProcessing)
		}
		if got, want := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"), int64(100_000)-q.SendingAmount; got != want {
			t.Errorf("alice's balance is %d after the execute, want %d (the amount stays reserved)", got, want)
		}
		// The node delivers the payment; the resolver books the success.
		h.w.node.SetFaults(embedded.Faults{})
		node.lose = false
		h.w.clock.Advance(time.Minute)
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.ResolveOutgoing(t.Context())
			if tr, err = s.GetTransaction(t.Context(), tr.ID); err != nil {
				t.Fatal(err)
			}
			if tr.Status != vasp.StatusProcessing || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		hash, _ := lightning.ParseHash(q.PaymentHash)
		p, err := h.w.node.TrackPayment(t.Context(), hash)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Status != vasp.StatusCompleted || p.Status != lightning.StatusSucceeded {
			t.Fatalf("transaction %s, node payment %s: want both done", tr.Status, p.Status)
		}
		if got, want := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"), int64(100_000)-q.SendingAmount; got != want {
			t.Errorf("alice's balance is %d, want %d: paid once, never given back", got, want)
		}
		if got := balance(t, db, ledger.HoldAccount(h.w.alice.UserID), "USD"); got != 0 {
			t.Errorf("alice's hold is %d after the payment settled, want 0", got)
		}
	})
}

// Payments stuck in flight for long (a stuck HTLC: days) do not keep the
// resolver from the payments behind them: one left reserved and unsent
// (the node was down at execute, or the process died before paying) is
// still sent, whatever number of stuck payments sort before it.
func TestResolverGetsPastStuckPayments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		node := &lostAnswerNode{Node: h.w.node, stuck: map[lightning.Hash]bool{}}
		// The resolver sends the unsent payment with Pay, which waits up to
		// the pay timeout, in real time, for the node to deliver it; a
		// timeout short enough for a loaded machine to miss leaves it in
		// flight, and later rounds only look it up. The resolver looks at
		// payments older than the pay timeout and a margin, by the test's
		// clock: advanced past both below.
		const payTimeout = 20 * time.Second
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout })
		now := h.w.clock.Now()
		for range 150 {
			var hash lightning.Hash
			_, _ = rand.Read(hash[:])
			node.stuck[hash] = true
			tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Outgoing, Status: vasp.StatusProcessing,
				UserID: h.w.alice.UserID, QuoteID: vaspd.NewID(vaspd.IDQuote), PaymentHash: hash.String(), Invoice: "lnbcrt1",
				Currency: "USD", Amount: 10, Msats: 10_000, CreatedAt: now, UpdatedAt: now}
			if err := s.InsertTransaction(t.Context(), tr); err != nil {
				t.Fatal(err)
			}
		}
		q, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		node.down = true
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		node.down = false
		h.w.clock.Advance(payTimeout + time.Minute)
		for range 5 {
			s.ResolveOutgoing(t.Context())
		}
		if tr, err = s.GetTransaction(t.Context(), tr.ID); err != nil {
			t.Fatal(err)
		}
		if tr.Status != vasp.StatusCompleted {
			t.Fatalf("after five resolver rounds the payment behind 150 stuck ones is %s, want %s", tr.Status, vasp.StatusCompleted)
		}
		if got := balance(t, db, ledger.HoldAccount(h.w.alice.UserID), "USD"); got != 0 {
			t.Errorf("alice's hold is %d, want 0", got)
		}
	})
}

// pendingIncoming records a PENDING incoming payment to bob whose invoice
// the node does not know (issued by a node since replaced, say): the
// sweep can neither credit nor expire it.
func pendingIncoming(t *testing.T, w *world, s *vasp.Service) {
	t.Helper()
	var hash lightning.Hash
	_, _ = rand.Read(hash[:])
	now := w.clock.Now()
	tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusPending,
		UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
		Counterparty: "$alice@vasp1.example", PaymentHash: hash.String(), Invoice: "lnbcrt1",
		Currency: "EUR", Amount: 1000, Msats: 1_000_000, CreatedAt: now, UpdatedAt: now}
	if err := s.InsertTransaction(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
}

// The sweep of pending incoming payments (the safety net of the settled
// invoices' stream) gets past the payments it cannot end: a settled
// invoice behind 250 of them is still credited.
func TestSweepGetsPastPaymentsItCannotEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for range 250 {
			pendingIncoming(t, w, s)
		}
		resp, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		// Paid while no settlement watcher ran: only the sweep can see it.
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute)
		for range 3 {
			s.SweepPending(t.Context())
		}
		var status string
		if err := db.QueryRowContext(t.Context(), `SELECT status FROM uma_transactions WHERE invoice = $1`, resp.PR).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != vasp.StatusCompleted {
			t.Fatalf("settled payment behind 250 the sweep cannot end is %s after three sweeps, want %s", status, vasp.StatusCompleted)
		}
	})
}
