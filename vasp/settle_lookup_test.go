package vasp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// switchNode is the real node whose LookupInvoice answers the error set
// last (the real lookup while none is).
type switchNode struct {
	lightning.Node
	mu  sync.Mutex
	err error
}

func (n *switchNode) set(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

func (n *switchNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	n.mu.Lock()
	err := n.err
	n.mu.Unlock()
	if err != nil {
		return lightning.Invoice{}, err
	}
	return n.Node.LookupInvoice(ctx, h)
}

// A PENDING payment whose invoice lookup keeps failing (lnd answering a
// value out of range, say) stays PENDING, as before, but no longer
// silently: the sweep logs it as an error naming its payment hash, once
// an hour however often it retries. So is a payment whose stored payment
// hash does not parse. A node that cannot be reached makes one warning
// for all the payments it fails, when the outage starts and once an hour
// while it lasts, not one per payment or per sweep.
func TestSweepLogsLookupsThatFail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		node := &switchNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		// Invoices the real node does not know, with a day to live:
		// its ErrNotFound would leave them alone too.
		a := lostInvoice(t, w, s, 24*time.Hour)
		b := lostInvoice(t, w, s, 24*time.Hour)
		hashOf := func(id string) string {
			t.Helper()
			tr, err := s.GetTransaction(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			return tr.PaymentHash
		}
		ha, hb := hashOf(a), hashOf(b)
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while

		const unreachable = "could not be reached"
		node.set(fmt.Errorf("lnd lookupinvoice: %w: dial tcp: connection refused", lightning.ErrUnavailable))
		for range 8 { // two minutes of sweeps
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		if n := logs.count(t, slog.LevelWarn, unreachable); n != 1 {
			t.Fatalf("two minutes of sweeps with the node unreachable logged %d warnings, want 1", n)
		}
		if n := logs.count(t, slog.LevelWarn, `"count":2`); n != 1 {
			t.Fatalf("the warning does not count the 2 payments left PENDING:\n%s", logs.b.String())
		}
		if n := logs.count(t, slog.LevelWarn, ha) + logs.count(t, slog.LevelWarn, hb); n != 1 {
			t.Fatalf("an unreachable node logged %d lines at warning level naming a payment; want the one warning", n)
		}
		// Each sweep stops at its first lookup (the one of the payment
		// first by id) and names it at debug level.
		first := ha
		if b < a {
			first = hb
		}
		if n := logs.count(t, slog.LevelDebug, first); n < 8 {
			t.Fatalf("%d of the first payment's 8 failed lookups logged at debug level", n)
		}
		w.clock.Advance(time.Hour)
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelWarn, unreachable); n != 2 {
			t.Fatalf("an hour into the outage %d warnings in all, want 2", n)
		}
		// The node is back; a later outage is news again.
		node.set(nil)
		s.SweepPending(t.Context())
		node.set(fmt.Errorf("lnd lookupinvoice: %w: context deadline exceeded", lightning.ErrUnavailable))
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelWarn, unreachable); n != 3 {
			t.Fatalf("a second outage logged %d warnings in all, want 3", n)
		}

		// lnd answers the lookup with an amount out of range.
		const bad = "lnd: field value_msat: -1000 out of range"
		node.set(errors.New(bad))
		for range 8 {
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		if n := logs.count(t, slog.LevelError, bad); n != 1 {
			t.Fatalf("two minutes of sweeps failing on lnd's answers logged %d errors, want 1:\n%s", n, logs.b.String())
		}
		if n := logs.count(t, slog.LevelError, ha); n != 1 {
			t.Fatalf("payment a is named in %d errors, want 1", n)
		}
		if n := logs.count(t, slog.LevelError, hb); n != 1 {
			t.Fatalf("payment b is named in %d errors, want 1", n)
		}
		w.clock.Advance(time.Hour)
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelError, bad); n != 2 {
			t.Fatalf("an hour later %d errors in all, want 2", n)
		}
		for _, id := range []string{a, b} {
			if got := statusOf(t, s, id); got != vasp.StatusPending+"/" {
				t.Fatalf("a payment whose lookup fails is %s; want it left PENDING", got)
			}
		}

		// A stored payment hash that is no hash cannot be looked up at all.
		node.set(nil)
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET payment_hash = 'not-a-hash' WHERE id = $1`, a); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		if n := logs.count(t, slog.LevelError, "not-a-hash"); n != 1 {
			t.Fatalf("a payment whose stored hash does not parse is named in %d errors, want 1", n)
		}
		if n := logs.count(t, slog.LevelError, `"transaction":"`+a+`","payment_hash":"not-a-hash"`); n != 1 {
			t.Fatalf("the error does not name transaction %s:\n%s", a, logs.b.String())
		}
	})
}
