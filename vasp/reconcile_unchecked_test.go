package vasp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
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
		r.incoming(t, false)
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
		if want := idTime(t, bad.ID); !rep.ResumeSince.Equal(want) {
			t.Fatalf("resume since %s, want the unchecked payment's creation as its id tells %s", rep.ResumeSince, want)
		}
		// Pages of two, the run stopped by its limit after the third
		// page: the unchecked payment of the first page is where to
		// resume, not the last payment read.
		r.rs.SetReconcilePage(2)
		rep, err = r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 4)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Complete || rep.Unchecked != 1 || rep.ResumeSince.After(idTime(t, bad.ID)) {
			t.Fatalf("a run stopped by its limit: complete=%v, %d unchecked, resume since %s; want incomplete, 1, at most %s",
				rep.Complete, rep.Unchecked, rep.ResumeSince, idTime(t, bad.ID))
		}
	})
}

// idTime is the creation time a transaction id tells (uuidv7: its first
// 48 bits are Unix milliseconds).
func idTime(t *testing.T, id string) time.Time {
	t.Helper()
	u, err := vaspd.ParseID(vaspd.IDTransaction, id)
	if err != nil {
		t.Fatal(err)
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec).Truncate(time.Millisecond)
}

// The window is of the payments' ids, and so is where a run resumes: a
// payment's created_at may precede its id by seconds (an execute stamps
// it before asking the compliance hook and the users, then makes the
// id). Resuming from created_at answered a resumeSince before the
// window's since, which a 31-day window then refuses (400), and runs
// resumed from it took payments before the window.
func TestReconcileResumesFromTheIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		p1 := r.incoming(t, false)
		time.Sleep(2 * time.Millisecond)
		p2 := r.incoming(t, false)
		// p1 stamped 10 s before its id was made.
		r.exec(t, `UPDATE uma_transactions SET created_at = created_at - 10000000 WHERE id = $1`, p1.ID)
		since, until := idTime(t, p1.ID), idTime(t, p2.ID).Add(time.Hour)
		rep, err := r.rs.Reconcile(t.Context(), since, until, 1)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Complete || rep.Transactions != 1 {
			t.Fatalf("a run of at most 1 payment of 2: complete=%v, %d payments", rep.Complete, rep.Transactions)
		}
		if rep.ResumeSince.Before(rep.Since) || rep.ResumeSince.After(idTime(t, p2.ID)) {
			t.Fatalf("resume since %s, want within [since %s, the next payment's id time %s]", rep.ResumeSince, rep.Since, idTime(t, p2.ID))
		}
	})
}
