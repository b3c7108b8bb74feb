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

// badHashNode is the real node (or another stand-in) whose lookups of the
// payment hashes in bad, invoices and payments alike, fail with
// lightning.ErrUnavailable, as lnd's do when it times out on one hash
// while it answers every other. delay, if set, is how long every lookup
// takes. It records the payment hashes it was asked about.
type badHashNode struct {
	lightning.Node
	delay time.Duration

	mu    sync.Mutex
	bad   map[string]bool
	asked []string
}

func (n *badHashNode) setBad(h string, bad bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bad == nil {
		n.bad = map[string]bool{}
	}
	n.bad[h] = bad
}

// lookups are the payment hashes asked about since the last call.
func (n *badHashNode) lookups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.asked
	n.asked = nil
	return a
}

func (n *badHashNode) ask(ctx context.Context, h lightning.Hash, op string) error {
	n.mu.Lock()
	n.asked = append(n.asked, h.String())
	bad := n.bad[h.String()]
	n.mu.Unlock()
	if n.delay > 0 {
		select {
		case <-time.After(n.delay):
		case <-ctx.Done():
			return fmt.Errorf("lnd %s: %w: %w", op, lightning.ErrUnavailable, ctx.Err())
		}
	}
	if bad {
		return fmt.Errorf("lnd %s: %w: %w", op, lightning.ErrUnavailable, context.DeadlineExceeded)
	}
	return nil
}

func (n *badHashNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	if err := n.ask(ctx, h, "lookupinvoice"); err != nil {
		return lightning.Invoice{}, err
	}
	return n.Node.LookupInvoice(ctx, h)
}

func (n *badHashNode) TrackPayment(ctx context.Context, h lightning.Hash) (lightning.Payment, error) {
	if err := n.ask(ctx, h, "track"); err != nil {
		return lightning.Payment{}, err
	}
	return n.Node.TrackPayment(ctx, h)
}

// A PENDING payment whose invoice lookup alone always finds the node
// "unavailable" (lnd timing out on that one hash, a driver failing on one
// record), the node answering every other, does not keep the sweep from
// the payments behind it for good: the sweeps that keep stopping at it
// probe past it, find the node up, and pass it over. The paid payments
// behind it are credited, it is logged as an error naming it (once an
// hour, however often sweeps pass it over), and it is looked up again by
// later sweeps: once its lookup answers, it is credited too.
func TestSweepPassesOverAPaymentTheNodeCannotLookUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var logs syncBuffer
		node := &badHashNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		const n = 4
		for range n {
			_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			wantCode(t, err, "")
		}
		ps := paymentsIn(t, db, vasp.Incoming)
		if len(ps) != n {
			t.Fatalf("%d incoming payments, want %d", len(ps), n)
		}
		// All are paid while no settlement watcher runs: only sweeps can
		// credit them. The first by id, where every sweep starts, is the
		// one the node cannot look up.
		for _, p := range ps {
			if r, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: p.invoice, Timeout: 10 * time.Second}); err != nil || r.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", r, err)
			}
		}
		bad := ps[0]
		node.setBad(bad.hash, true)
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while

		for range 3 {
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		for _, p := range ps[1:] {
			if got := statusOf(t, s, p.id); got != vasp.StatusCompleted+"/" {
				t.Fatalf("paid payment %s behind the one the node cannot look up is %s after 3 sweeps, want COMPLETED", p.id, got)
			}
			wantEndHooks(t, db, p.id, "COMPLETED/")
		}
		if got := statusOf(t, s, bad.id); got != vasp.StatusPending+"/" {
			t.Fatalf("the payment the node cannot look up is %s, want PENDING", got)
		}
		const stuckLine = "answers other invoice lookups but not"
		if c := logs.count(t, slog.LevelError, stuckLine); c != 1 {
			t.Fatalf("%d errors of a payment the node cannot look up, want 1:\n%s", c, logs.b.String())
		}
		if c := logs.count(t, slog.LevelError, `"payment_hash":"`+bad.hash+`"`); c != 1 {
			t.Fatalf("the error does not name the payment %s:\n%s", bad.hash, logs.b.String())
		}

		// Later sweeps look it up again, first, and pass it over at once,
		// logging nothing more within the hour.
		node.lookups()
		for range 4 {
			s.SweepPending(t.Context())
			if got := node.lookups(); len(got) == 0 || got[0] != bad.hash {
				t.Fatalf("a later sweep looked up %v; want the payment the node cannot look up first", got)
			}
			w.clock.Advance(15 * time.Second)
		}
		if c := logs.count(t, slog.LevelError, stuckLine); c != 1 {
			t.Fatalf("%d errors of a payment the node cannot look up within the hour, want 1", c)
		}
		// The first sweep could not tell the node's being down from the
		// payment's being stuck; none since has warned of the node.
		if c := logs.count(t, slog.LevelWarn, "could not be reached"); c != 1 {
			t.Fatalf("the node answering, %d warnings of its being unreachable, want the first sweep's alone:\n%s", c, logs.b.String())
		}

		// Its lookup answers again: it is credited.
		node.setBad(bad.hash, false)
		s.SweepPending(t.Context())
		if got := statusOf(t, s, bad.id); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the payment whose lookup answers again is %s, want COMPLETED", got)
		}
		if got := balance(t, db, ledger.UserAccount(w.bob.UserID), "EUR"); got != 500*n {
			t.Fatalf("bob has %d, want %d: each paid payment credited once", got, 500*n)
		}
	})
}

// Two payments next to each other that the node cannot look up are passed
// over alike: the probe goes past both to the one after, which answers.
func TestSweepPassesOverTwoPaymentsTheNodeCannotLookUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		node := &badHashNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) { o.Node = node })
		const n = 4
		for range n {
			_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			wantCode(t, err, "")
		}
		ps := paymentsIn(t, db, vasp.Incoming)
		for _, p := range ps {
			if r, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: p.invoice, Timeout: 10 * time.Second}); err != nil || r.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", r, err)
			}
		}
		node.setBad(ps[0].hash, true)
		node.setBad(ps[1].hash, true)
		w.clock.Advance(time.Minute)
		for range 3 {
			s.SweepPending(t.Context())
		}
		for i, p := range ps {
			want := vasp.StatusCompleted + "/"
			if i < 2 {
				want = vasp.StatusPending + "/"
			}
			if got := statusOf(t, s, p.id); got != want {
				t.Fatalf("payment %d is %s after 3 sweeps, want %s", i, got, want)
			}
		}
	})
}

// A sweep has a time limit: with lookups slow, it stops starting them
// once the limit has passed, and the next sweep goes on from the payment
// it did not look up, none skipped. The limit is logged as a warning.
//
// The lookup under way when the limit passes is cut at twice the limit: a
// loaded machine may cut it (its delay and the node's database lookup
// together longer than limit-delay past the limit), which is allowed, so
// the delay is well under half the limit; the cut lookup is logged as the
// node's being unreachable, its error naming the walk's time limit, which
// is not the warning of stopping there that this test counts.
func TestSweepStopsAtItsTimeLimit(t *testing.T) {
	const limit, delay = 250 * time.Millisecond, 100 * time.Millisecond
	// At most starts lookups begin before the limit has passed, each
	// taking delay at least (at 0, delay, 2*delay, ...).
	const starts = int((limit + delay - 1) / delay)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		node := &badHashNode{Node: w.node, delay: delay}
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		s.SetWalkLimit(limit)
		const n = 8
		var ids []string
		for range n {
			ids = append(ids, lostInvoice(t, w, s, 24*time.Hour))
		}
		w.clock.Advance(time.Minute)
		ps := paymentsIn(t, db, vasp.Incoming)

		var all []string
		sweeps := 0
		for len(slices.Compact(slices.Clone(all))) < n && sweeps < 2*n {
			s.SweepPending(t.Context())
			// Each lookup takes delay at least, so at most starts begin
			// before the limit has passed, however slow the machine: a
			// count, not a duration, which the machine's load would move.
			got := node.lookups()
			if len(got) > starts {
				t.Fatalf("one sweep looked up %d payments at %s each despite its limit of %s, want at most %d", len(got), delay, limit, starts)
			}
			all = append(all, got...)
			sweeps++
		}
		// A lookup cut at twice the limit (a slow machine) is made again
		// by the next sweep: each payment in order, none skipped.
		if all = slices.Compact(all); !slices.Equal(all, hashesOf(ps)) {
			t.Fatalf("sweeps stopping at their limit looked up %v; want each payment, in order, %v", all, hashesOf(ps))
		}
		if c := logs.count(t, slog.LevelWarn, "stopped at its time limit"); c != 1 {
			t.Fatalf("%d warnings of sweeps stopping at their time limit, want 1 (once an hour):\n%s", c, logs.b.String())
		}
		for _, id := range ids {
			if got := statusOf(t, s, id); got != vasp.StatusPending+"/" {
				t.Fatalf("payment %s is %s, want PENDING", id, got)
			}
		}
	})
}

// With the node down for every lookup, sweeps still stop at the first
// payment and resume there: every third one probes past it, two lookups
// more, finds the node down as well and stops there all the same.
func TestSweepProbesPastAStallOnlyNowAndThen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		node := &outageNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) { o.Node = node })
		for range 6 {
			lostInvoice(t, w, s, 24*time.Hour)
		}
		w.clock.Advance(time.Minute)
		ps := paymentsIn(t, db, vasp.Incoming)
		for i := range 6 {
			s.SweepPending(t.Context())
			want := hashesOf(ps[:1])
			if i%3 == 2 {
				want = hashesOf(ps[:3])
			}
			if got := node.lookups(); !slices.Equal(got, want) {
				t.Fatalf("sweep %d with the node down looked up %v, want %v", i+1, got, want)
			}
		}
		node.set(-1)
		s.SweepPending(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps)) {
			t.Fatalf("with the node back the sweep looked up %v, want all from the first, %v", got, hashesOf(ps))
		}
	})
}
