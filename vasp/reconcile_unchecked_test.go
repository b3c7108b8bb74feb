package vasp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// failingNode fails the lookup of one invoice with an error of its own
// (not the node unreachable): the run goes on without it.
type failingNode struct {
	*embedded.Node
	fail lightning.Hash
}

func (n failingNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	if h == n.fail {
		return lightning.Invoice{}, errors.New("lnd lookupinvoice: 500 internal error")
	}
	return n.Node.LookupInvoice(ctx, h)
}

// A payment whose lookup failed alone was not checked: the report is not
// complete (a platform reading "complete" must not take it as clean),
// says why, and resumes from that payment, even when a later page
// stopped the run for another reason (the unchecked payment must not be
// left behind the resume point).
func TestReconcileLookupFailedIsIncomplete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		first := r.incoming(t, false)
		bad := r.incoming(t, false)
		for range 3 {
			r.incoming(t, false)
		}
		r.rs = r.h.w.service(t, func(o *vasp.Options) { o.Node = failingNode{Node: r.h.w.node, fail: mustHash(t, bad.PaymentHash)} })
		now := r.h.w.clock.Now()
		rep, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Unchecked != 1 || rep.Transactions != 5 {
			t.Fatalf("report %+v: want 1 unchecked of 5", rep)
		}
		if rep.Complete || rep.Incomplete == "" {
			t.Fatalf("a report with a payment unchecked says complete=%v incomplete=%q", rep.Complete, rep.Incomplete)
		}
		if rep.ResumeSince.IsZero() || rep.ResumeSince.After(bad.CreatedAt) || rep.ResumeSince.Before(first.CreatedAt) {
			t.Fatalf("resume since %s, want the unchecked payment's creation %s", rep.ResumeSince, bad.CreatedAt)
		}
		// Pages of two, the run stopped by its limit after the third
		// page: the unchecked payment of the first page is where to
		// resume, not the last payment read.
		r.rs.SetReconcilePage(2)
		rep, err = r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 4)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Complete || rep.Unchecked != 1 || rep.ResumeSince.After(bad.CreatedAt) {
			t.Fatalf("a run stopped by its limit: complete=%v, %d unchecked, resume since %s; want incomplete, 1, at most %s",
				rep.Complete, rep.Unchecked, rep.ResumeSince, bad.CreatedAt)
		}
	})
}
