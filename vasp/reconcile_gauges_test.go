package vasp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// offNode is the embedded node unreachable for every lookup.
type offNode struct{ *embedded.Node }

func (offNode) LookupInvoice(context.Context, lightning.Hash) (lightning.Invoice, error) {
	return lightning.Invoice{}, fmt.Errorf("lnd lookupinvoice: %w: connection refused", lightning.ErrUnavailable)
}

func (offNode) TrackPayment(context.Context, lightning.Hash) (lightning.Payment, error) {
	return lightning.Payment{}, fmt.Errorf("lnd trackpayment: %w: connection refused", lightning.ErrUnavailable)
}

// A periodic run that could not check its window (here the node down
// from its first lookup) found nothing because it looked at nothing: it
// must not lower the mismatch gauges the last run set, in this process
// or, through the recorded result, in the others. Else the node going
// down resolves the page for money paid out twice.
func TestReconcileIncompleteRunKeepsMismatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, regA, b, regB, clock := refundedButSentRuns(t, db, func(n *embedded.Node) lightning.Node { return offNode{n} })
		mismatches := func(reg *prometheus.Registry) float64 { return refundedButSent(t, reg) }
		clock.Advance(time.Hour)
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("b did not take its turn")
		}
		if got := mismatches(regB); got != 1 {
			t.Errorf("after a run that checked nothing, b shows %v mismatches, want the last run's 1", got)
		}
		if n := series(t, regB, "vaspd_reconciliation_errors_total")[""]; n != 1 {
			t.Errorf("vaspd_reconciliation_errors_total = %v, want 1", n)
		}
		clock.Advance(30 * time.Minute)
		if a.ReconcileOnce(t.Context()) {
			t.Fatal("a ran within b's interval")
		}
		if got := mismatches(regA); got != 1 {
			t.Errorf("a shows %v mismatches after b's run that checked nothing, want 1", got)
		}
	})
}

// A periodic tick that comes while this process runs a reconciliation
// asked through the API does not run, and does not take the turn either:
// another process's tick runs the interval's reconciliation, rather than
// none running until the next interval.
func TestReconcileTickBesideAnOnDemandRunLeavesTheTurn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		r.incoming(t, false)
		clock := vaspd.NewFakeClock(time.Now())
		node := unreachableNode{Node: r.h.w.node, entered: make(chan struct{}, 1), release: make(chan struct{})}
		a := r.h.w.service(t, func(o *vasp.Options) { o.ReconcileInterval, o.Clock, o.Node = time.Hour, clock, node })
		b := r.h.w.service(t, func(o *vasp.Options) { o.ReconcileInterval, o.Clock = time.Hour, clock })
		now := clock.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = a.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
		}()
		<-node.entered
		ranA := a.ReconcileOnce(t.Context())
		close(node.release)
		<-done
		if ranA {
			t.Fatal("a ran its periodic reconciliation beside its on-demand one")
		}
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("b did not run the interval's reconciliation: a took the turn for a run it did not make")
		}
	})
}

// slowNode answers no lookup before the caller gives up.
type slowNode struct{ *embedded.Node }

func (slowNode) LookupInvoice(ctx context.Context, _ lightning.Hash) (lightning.Invoice, error) {
	<-ctx.Done()
	return lightning.Invoice{}, ctx.Err()
}

func (slowNode) TrackPayment(ctx context.Context, _ lightning.Hash) (lightning.Payment, error) {
	<-ctx.Done()
	return lightning.Payment{}, ctx.Err()
}

// A periodic run that ran out of its time (a node too slow to answer) has
// its context ended: what it does after the run — read the last result
// to keep the gauges from falling, record its own for the other
// processes — must not need that context, or the gauges fall all the
// same and the others never hear of the run.
func TestReconcileRunOutOfTimeKeepsMismatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, regA, b, regB, clock := refundedButSentRuns(t, db, func(n *embedded.Node) lightning.Node { return slowNode{n} })
		mismatches := func(reg *prometheus.Registry) float64 { return refundedButSent(t, reg) }
		clock.Advance(time.Hour)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if !b.ReconcileOnce(ctx) {
			t.Fatal("b did not take its turn")
		}
		if got := mismatches(regB); got != 1 {
			t.Errorf("after a run out of time, b shows %v mismatches, want the last run's 1", got)
		}
		clock.Advance(30 * time.Minute)
		if a.ReconcileOnce(t.Context()) {
			t.Fatal("a ran within b's interval")
		}
		if got, want := series(t, regA, "vaspd_reconciliation_last_run_timestamp_seconds")[""], series(t, regB, "vaspd_reconciliation_last_run_timestamp_seconds")[""]; got != want {
			t.Errorf("a shows the last run at %v, b ran at %v: b's run was not recorded", got, want)
		}
	})
}

// refundedButSentRuns makes a payment refunded to its user and then paid
// by the node all the same (REFUNDED_BUT_SENT), and two processes on db
// with one fake clock and an hourly reconciliation: a on the node, b on
// the node as nodeB wraps it. a's first run finds the mismatch.
func refundedButSentRuns(t *testing.T, db *store.DB, nodeB func(*embedded.Node) lightning.Node) (a *vasp.Service, regA *prometheus.Registry,
	b *vasp.Service, regB *prometheus.Registry, clock *vaspd.FakeClock) {
	t.Helper()
	r := newReconciler(t, db)
	refunded := r.failed(t)
	if p, err := r.h.w.node.Pay(t.Context(), lightning.PayRequest{Invoice: refunded.Invoice, MaxFeeMsat: 1000, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
		t.Fatalf("paying the failed invoice again: %s %v", p.Status, err)
	}
	clock = vaspd.NewFakeClock(time.Now())
	process := func(node lightning.Node) (*vasp.Service, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		return r.h.w.service(t, func(o *vasp.Options) {
			o.ReconcileInterval, o.Clock, o.Registerer, o.Node = time.Hour, clock, reg, node
		}), reg
	}
	a, regA = process(r.h.w.node)
	b, regB = process(nodeB(r.h.w.node))
	if !a.ReconcileOnce(t.Context()) || refundedButSent(t, regA) != 1 {
		t.Fatalf("the first run: %v mismatches, want 1", refundedButSent(t, regA))
	}
	return a, regA, b, regB, clock
}

// refundedButSent is the REFUNDED_BUT_SENT mismatch gauge in reg.
func refundedButSent(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return series(t, reg, "vaspd_reconciliation_mismatches")["kind="+vasp.MismatchRefundedButSent]
}

// An incomplete run whose last result it cannot read (a value it does not
// parse: another version's, a hand's edit) still lowers no kind: it keeps
// what its process last showed, and records that, not its partial counts
// as if they were a whole run's. It published them: the gauges fell to
// what it found among the nothing it checked, here and, recorded, in
// every process.
func TestReconcileIncompleteRunWithoutTheLastResultKeepsMismatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, regA, b, regB, clock := refundedButSentRuns(t, db, func(n *embedded.Node) lightning.Node { return offNode{n} })
		clock.Advance(30 * time.Minute)
		if b.ReconcileOnce(t.Context()) || refundedButSent(t, regB) != 1 {
			t.Fatalf("b, within a's interval: %v mismatches shown, want a's 1", refundedButSent(t, regB))
		}
		if _, err := db.ExecContext(t.Context(), `UPDATE settings SET value = $1 WHERE name = 'reconcile_turn'`, `{"finishedAt":"soon"}`); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("b did not take its turn")
		}
		if got := refundedButSent(t, regB); got != 1 {
			t.Errorf("after a run that checked nothing, b shows %v mismatches, want the 1 it showed", got)
		}
		clock.Advance(30 * time.Minute)
		if a.ReconcileOnce(t.Context()) {
			t.Fatal("a ran within b's interval")
		}
		if got := refundedButSent(t, regA); got != 1 {
			t.Errorf("a shows %v mismatches after b's run that checked nothing, want 1", got)
		}
	})
}
