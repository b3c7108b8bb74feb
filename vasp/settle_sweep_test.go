package vasp_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// outageNode is the real node whose LookupInvoice, while the node is
// down, takes delay and fails with lightning.ErrUnavailable, as lnd's does
// when lnd cannot be reached (each up to the client's timeout). answer is
// how many lookups are still answered before it goes down: 0 down, < 0
// never. It records the payment hashes it was asked about.
type outageNode struct {
	lightning.Node
	delay time.Duration

	mu     sync.Mutex
	answer int
	asked  []string
}

func (n *outageNode) set(answer int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = answer
}

// lookups are the payment hashes asked about since the last call.
func (n *outageNode) lookups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.asked
	n.asked = nil
	return a
}

func (n *outageNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	n.mu.Lock()
	n.asked = append(n.asked, h.String())
	down := n.answer == 0
	if n.answer > 0 {
		n.answer--
	}
	n.mu.Unlock()
	if down {
		time.Sleep(n.delay)
		return lightning.Invoice{}, fmt.Errorf("lnd lookupinvoice: %w: %w", lightning.ErrUnavailable, context.DeadlineExceeded)
	}
	return n.Node.LookupInvoice(ctx, h)
}

// pendingPayment is an incoming payment as the sweep reads it.
type pendingPayment struct{ id, hash, invoice string }

// paymentsIn are the payments of direction (Incoming, Outgoing) in the
// order the sweep and the resolver walk them (by id).
func paymentsIn(t *testing.T, db *store.DB, direction string) []pendingPayment {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT id, payment_hash, invoice FROM uma_transactions
		WHERE direction = $1 ORDER BY id`, direction)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ps []pendingPayment
	for rows.Next() {
		var p pendingPayment
		if err := rows.Scan(&p.id, &p.hash, &p.invoice); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ps
}

func hashesOf(ps []pendingPayment) []string {
	var hs []string
	for _, p := range ps {
		hs = append(hs, p.hash)
	}
	return hs
}

// A sweep of the PENDING payments stops at the first invoice lookup that
// finds the node unreachable: with lnd down or hanging, each lookup can
// take lnd's whole timeout, and a sweep going on through its batch (200
// lookups, up to 30 s each) would hold up the settlement loop it runs in
// long after lnd is back. The next sweep resumes at the payment whose
// lookup failed, so once the node is back every payment is looked up —
// those behind the stop included, none skipped — and is credited or
// expired.
func TestSweepStopsWhileTheNodeIsUnreachable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var logs syncBuffer
		node := &outageNode{Node: w.node, delay: 20 * time.Millisecond}
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		const n = 6
		for range n {
			_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			wantCode(t, err, "")
		}
		ps := paymentsIn(t, db, vasp.Incoming)
		if len(ps) != n {
			t.Fatalf("%d incoming payments, want %d", len(ps), n)
		}
		// The last one is paid while no settlement watcher runs: only a
		// sweep can credit it.
		paid := ps[n-1]
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: paid.invoice, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while

		// The node is down: a sweep makes one lookup, not one per payment.
		for i := range 2 {
			s.SweepPending(t.Context())
			if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:1])) {
				t.Fatalf("sweep %d with the node unreachable looked up %d invoices %v; want the first alone, %v", i+1, len(got), got, hashesOf(ps[:1]))
			}
		}
		if c := logs.count(t, slog.LevelWarn, "could not be reached"); c != 1 {
			t.Fatalf("%d warnings of the node's being unreachable, want 1:\n%s", c, logs.b.String())
		}
		if c := logs.count(t, slog.LevelWarn, fmt.Sprintf(`"count":%d`, n)); c != 1 {
			t.Fatalf("the warning does not count the %d payments the sweep left PENDING:\n%s", n, logs.b.String())
		}

		// The node answers two lookups and is down again: the sweep stops
		// at the third.
		node.set(2)
		s.SweepPending(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:3])) {
			t.Fatalf("the sweep looked up %v; want the first three, %v, the third failing", got, hashesOf(ps[:3]))
		}

		// The node is back: the next sweep resumes at the payment whose
		// lookup failed and goes on to the end, crediting the paid one.
		node.set(-1)
		s.SweepPending(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[2:])) {
			t.Fatalf("with the node back the sweep looked up %v; want from the third on, %v", got, hashesOf(ps[2:]))
		}
		if got := statusOf(t, s, paid.id); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the paid payment behind the stop is %s, want COMPLETED", got)
		}
		for _, p := range ps[:n-1] {
			if got := statusOf(t, s, p.id); got != vasp.StatusPending+"/" {
				t.Fatalf("payment %s with its invoice open is %s, want PENDING", p.id, got)
			}
		}

		// Their invoices expired: the next sweep starts over from the
		// first and expires every one left.
		w.clock.Advance(15 * time.Minute)
		s.SweepPending(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:n-1])) {
			t.Fatalf("the sweep after the end looked up %v; want from the first, %v", got, hashesOf(ps[:n-1]))
		}
		for _, p := range ps[:n-1] {
			if got := statusOf(t, s, p.id); got != vasp.StatusExpired+"/INVOICE_EXPIRED" {
				t.Fatalf("payment %s with its invoice expired is %s, want EXPIRED", p.id, got)
			}
			wantEndHooks(t, db, p.id, "EXPIRED/QUOTE_EXPIRED")
		}
		wantEndHooks(t, db, paid.id, "COMPLETED/")
	})
}

// inFlightNode is the real node whose LookupInvoice takes a little while
// and records how many lookups were ever in flight at once.
type inFlightNode struct {
	lightning.Node
	mu       sync.Mutex
	now, max int
}

func (n *inFlightNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	n.mu.Lock()
	n.now++
	n.max = max(n.max, n.now)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.now--
		n.mu.Unlock()
	}()
	time.Sleep(5 * time.Millisecond)
	return n.Node.LookupInvoice(ctx, h)
}

// Sweeps of the pending payments are exclusive: one run by hand (as
// tests do, with Run's loop sweeping as well) waits for the one under way,
// and they share the cursor of the next sweep safely (run under -race).
// Each paid payment is credited once.
func TestConcurrentSweeps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		node := &inFlightNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) { o.Node = node })
		const n = 6
		for range n {
			_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			wantCode(t, err, "")
		}
		ps := paymentsIn(t, db, vasp.Incoming)
		paid := ps[:n/2]
		for _, p := range paid {
			if r, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: p.invoice, Timeout: 10 * time.Second}); err != nil || r.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", r, err)
			}
		}
		w.clock.Advance(time.Minute)

		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				<-start
				for range 3 {
					s.SweepPending(t.Context())
				}
			})
		}
		close(start)
		wg.Wait()

		if node.max != 1 {
			t.Errorf("%d invoice lookups in flight at once; want sweeps one at a time", node.max)
		}
		for _, p := range paid {
			if got := statusOf(t, s, p.id); got != vasp.StatusCompleted+"/" {
				t.Fatalf("paid payment %s is %s, want COMPLETED", p.id, got)
			}
			wantEndHooks(t, db, p.id, "COMPLETED/")
		}
		if got := balance(t, db, ledger.UserAccount(w.bob.UserID), "EUR"); got != 500*n/2 {
			t.Fatalf("bob has %d, want %d: each paid payment credited once", got, 500*n/2)
		}
	})
}

// slowForgetfulNode is the real node whose LookupInvoice takes a while and
// knows no invoice. It keeps no state: sweeps running at once synchronise
// through nothing of the test's, so the race detector sees what they
// share unguarded.
type slowForgetfulNode struct{ lightning.Node }

func (slowForgetfulNode) LookupInvoice(context.Context, lightning.Hash) (lightning.Invoice, error) {
	time.Sleep(2 * time.Millisecond)
	return lightning.Invoice{}, lightning.ErrNotFound
}

// The cursor of the next sweep is shared safely by sweeps started at
// once (a data race under -race otherwise).
func TestConcurrentSweepsShareTheCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.Node = slowForgetfulNode{Node: w.node} })
		var ids []string
		for range 4 {
			ids = append(ids, lostInvoice(t, w, s, 24*time.Hour))
		}
		w.clock.Advance(time.Minute)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					s.SweepPending(t.Context())
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if got := statusOf(t, s, id); got != vasp.StatusPending+"/" {
				t.Fatalf("payment %s whose invoice has a day to live is %s, want PENDING", id, got)
			}
		}
	})
}
