package vasp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// racingResolversNode is the embedded node as two vaspd processes'
// resolvers see it when both find the same reserved, never-sent payment
// (the node was unreachable at execute): TrackPayment answers "not found"
// to both before either sends (a barrier of two). The first Pay then
// fails (no route at that moment); the second starts once the first's
// failure is booked, when the route is back, as it may on a loaded
// machine.
type racingResolversNode struct {
	lightning.Node
	node *embedded.Node
	db   *store.DB
	hash lightning.Hash
	txID string

	down    atomic.Bool
	arrived chan struct{} // one per "not found" answered
	both    chan struct{} // closed once two resolvers got "not found"
	pays    atomic.Int32
	errs    chan error
}

func (n *racingResolversNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	if n.down.Load() {
		return lightning.Payment{}, fmt.Errorf("lnd getinfo: %w: connection refused", lightning.ErrUnavailable)
	}
	if n.pays.Add(1) == 1 {
		n.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		p, err := n.node.Pay(ctx, req)
		n.node.SetFaults(embedded.Faults{})
		return p, err
	}
	// The second resolver's Pay: it goes on once the first's failure is
	// booked (or gives up, reporting it, after a generous deadline).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		if err := n.db.QueryRowContext(ctx, `SELECT status FROM uma_transactions WHERE id = $1`, n.txID).Scan(&status); err != nil {
			n.errs <- err
			break
		}
		if status != vasp.StatusProcessing {
			break
		}
		if time.Now().After(deadline) {
			n.errs <- errors.New("the first resolver's result was never booked")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n.node.Pay(ctx, req)
}

func (n *racingResolversNode) TrackPayment(ctx context.Context, hash lightning.Hash) (lightning.Payment, error) {
	p, err := n.node.TrackPayment(ctx, hash)
	if hash == n.hash && errors.Is(err, lightning.ErrNotFound) {
		select {
		case n.arrived <- struct{}{}:
		default:
		}
		select {
		case <-n.both:
		case <-time.After(30 * time.Second):
			n.errs <- errors.New("the other resolver never looked the payment up")
		}
	}
	return p, err
}

// Two processes' resolvers that both find a payment reserved but never
// sent must not both send it: the node retries a FAILED payment when asked
// to pay it again, so a second send after the first one's failure was
// booked (and the reservation released to the user) pays the receiver
// with money the user has been given back.
func TestResolversSendAnUnsentPaymentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		hash, _ := lightning.ParseHash(q.PaymentHash)
		node := &racingResolversNode{Node: h.w.node, node: h.w.node, db: db, hash: hash,
			arrived: make(chan struct{}, 2), both: make(chan struct{}), errs: make(chan error, 8)}
		const payTimeout = 20 * time.Second
		tune := func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout }
		s1, s2 := h.w.service(t, tune), h.w.service(t, tune)
		node.down.Store(true)
		tr, err := s1.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		node.txID = tr.ID
		node.down.Store(false)
		h.w.clock.Advance(payTimeout + time.Minute)
		go func() {
			for range 2 {
				select {
				case <-node.arrived:
				case <-time.After(30 * time.Second):
				}
			}
			close(node.both)
		}()
		var wg sync.WaitGroup
		for _, s := range []*vasp.Service{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.ResolveOutgoing(t.Context())
			}()
		}
		wg.Wait()
		close(node.errs)
		for err := range node.errs {
			t.Fatal(err)
		}
		if tr, err = s1.GetTransaction(t.Context(), tr.ID); err != nil {
			t.Fatal(err)
		}
		p, err := h.w.node.TrackPayment(t.Context(), hash)
		if err != nil {
			t.Fatal(err)
		}
		alice := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD")
		held := balance(t, db, ledger.HoldAccount(h.w.alice.UserID), "USD")
		switch {
		case p.Status == lightning.StatusSucceeded && tr.Status != vasp.StatusCompleted:
			t.Fatalf("the node paid the invoice but the payment is booked %s: alice has %d USD back (held %d) and the receiver was paid",
				tr.Status, alice, held)
		case p.Status == lightning.StatusFailed && (tr.Status != vasp.StatusFailed || alice != 100_000):
			t.Fatalf("the node failed the payment, booked %s, alice has %d", tr.Status, alice)
		}
		if held != 0 && tr.Status != vasp.StatusProcessing {
			t.Fatalf("alice's hold is %d after the payment ended %s", held, tr.Status)
		}
	})
}

// lateExecuteNode is a node as vasp uses lnd (Pay records the payment,
// TrackPayment knows only what Pay recorded) whose first Pay — execute's —
// is held before it reaches the node until released: a node or network
// slow enough that the call outlasts the resolver's window (lnd: GetInfo
// and DecodePayReq may each take up to lnd-timeout, 30 s by default, when
// the resolver takes over after pay-timeout + 5 s, 35 s by default). The
// other Pay calls — the resolver's — fail (no route at that moment).
type lateExecuteNode struct {
	lightning.Node
	node    *embedded.Node
	entered chan struct{} // execute's Pay is on its way
	release chan struct{} // execute's Pay may go on
	calls   atomic.Int32
}

func (n *lateExecuteNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	if n.calls.Add(1) == 1 {
		close(n.entered)
		<-n.release
		// Held past the resolver's window: whatever deadline execute's
		// call carries has passed by now (the window is longer).
		if _, ok := ctx.Deadline(); ok {
			<-ctx.Done()
		}
		return n.node.Pay(ctx, req)
	}
	n.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
	defer n.node.SetFaults(embedded.Faults{})
	// Wait for the failure (within the call's own deadline), not only the
	// test's short pay timeout: a loaded machine may take longer.
	req.Timeout = time.Minute
	return n.node.Pay(ctx, req)
}

// An execute whose Pay is delayed past the resolver's window before it
// reaches the node must not pay after the resolver has sent the payment,
// seen it fail and booked it FAILED (releasing the money to the user): the
// node retries a FAILED payment when asked again.
func TestLateExecutePayCannotPayAfterResolverFailedIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		hash, _ := lightning.ParseHash(q.PaymentHash)
		node := &lateExecuteNode{Node: h.w.node, node: h.w.node, entered: make(chan struct{}), release: make(chan struct{})}
		const payTimeout = 100 * time.Millisecond
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout })
		type result struct {
			tr  vasp.Transaction
			err error
		}
		executed := make(chan result, 1)
		go func() {
			tr, err := s.ExecuteQuote(context.WithoutCancel(t.Context()), q.ID, "")
			executed <- result{tr, err}
		}()
		select {
		case <-node.entered:
		case r := <-executed:
			t.Fatalf("execute returned before paying: %+v %v", r.tr, r.err)
		}
		// The resolver's window passes; it finds the payment unknown to
		// the node, sends it, and books the failure.
		h.w.clock.Advance(payTimeout + 10*time.Second)
		s.ResolveOutgoing(t.Context())
		var txID string
		if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE quote_id = $1`, q.ID).Scan(&txID); err != nil {
			t.Fatal(err)
		}
		tr, err := s.GetTransaction(t.Context(), txID)
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("after the resolver's send: %s %v, want %s", tr.Status, err, vasp.StatusFailed)
		}
		close(node.release)
		r := <-executed
		if r.err != nil {
			t.Fatalf("execute: %v", r.err)
		}
		p, err := h.w.node.TrackPayment(t.Context(), hash)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err = s.GetTransaction(t.Context(), txID); err != nil {
			t.Fatal(err)
		}
		alice := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD")
		if p.Status == lightning.StatusSucceeded && tr.Status != vasp.StatusCompleted {
			t.Fatalf("the node paid the invoice but the payment is booked %s: alice has %d USD back and the receiver was paid",
				tr.Status, alice)
		}
		if p.Status != lightning.StatusFailed || tr.Status != vasp.StatusFailed || alice != 100_000 {
			t.Fatalf("node payment %s, booked %s, alice has %d: want FAILED, FAILED, 100000", p.Status, tr.Status, alice)
		}
	})
}
