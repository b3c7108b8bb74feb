package vasp_test

import (
	"context"
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
		if b < a {
			a, b = b, a // each sweep starts with the first by id
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		checkLookupLogging(t, w, db, &logs, lookupLogging{
			walk: func() { s.SweepPending(t.Context()) }, every: 15 * time.Second, set: node.set,
			client: "lnd lookupinvoice", first: a, second: b, firstHash: hashOf(a), secondHash: hashOf(b),
			left: vasp.StatusPending,
		}, func(id string) string { return statusOf(t, s, id) })
	})
}
