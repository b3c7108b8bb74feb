package vasp_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// Processes sharing a database take turns at the periodic reconciliation:
// one run an interval, whichever ticks first once nine tenths of one have
// passed since the last turn, so that N processes do not ask the node the
// same questions N times. One that does not run shows the last run's
// result, read from the database.
func TestReconcileOneProcessAnInterval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		refunded := r.failed(t)
		if p, err := r.h.w.node.Pay(t.Context(), lightning.PayRequest{Invoice: refunded.Invoice, MaxFeeMsat: 1000, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying the failed invoice again: %s %v", p.Status, err)
		}
		clock := vaspd.NewFakeClock(time.Now())
		process := func() (*vasp.Service, *prometheus.Registry) {
			reg := prometheus.NewRegistry()
			return r.h.w.service(t, func(o *vasp.Options) { o.ReconcileInterval, o.Clock, o.Registerer = time.Hour, clock, reg }), reg
		}
		a, regA := process()
		b, regB := process()
		mismatches := func(reg *prometheus.Registry) float64 {
			return series(t, reg, "vaspd_reconciliation_mismatches")["kind="+vasp.MismatchRefundedButSent]
		}
		var last time.Duration
		var lastRun time.Time
		for i, step := range []struct {
			at   time.Duration // since the first tick
			who  string
			runs bool
		}{
			{0, "a", true}, {0, "b", false}, {30 * time.Minute, "b", false}, {30 * time.Minute, "a", false},
			{54 * time.Minute, "b", true}, {54 * time.Minute, "a", false}, {60 * time.Minute, "a", false},
			{108 * time.Minute, "a", true},
		} {
			clock.Advance(step.at - last)
			s, reg := a, regA
			if step.who == "b" {
				s, reg = b, regB
			}
			if ran := s.ReconcileOnce(t.Context()); ran != step.runs {
				t.Fatalf("step %d: %s ran %v at +%s, want %v", i, step.who, ran, step.at, step.runs)
			}
			if step.runs {
				lastRun = clock.Now()
			}
			if got := mismatches(reg); got != 1 {
				t.Fatalf("step %d: %s (ran: %v) shows %v mismatches, want the last run's 1", i, step.who, step.runs, got)
			}
			if got := series(t, reg, "vaspd_reconciliation_last_run_timestamp_seconds")[""]; got != float64(lastRun.Unix()) {
				t.Fatalf("step %d: %s shows the last run at %v, want %v", i, step.who, got, lastRun.Unix())
			}
			last = step.at
		}
	})
}

// A turn stamped in the future — by a process whose clock was days ahead,
// since stopped or set right — does not hold the others off until their
// clocks reach it: a stamp more than an interval ahead of a process's
// clock is no turn of now, and that process takes the turn. The
// reconciliation stopped for as long as the clock had been wrong, every
// gauge quiet.
func TestReconcileTurnStampedInTheFuture(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		now := time.Now()
		ahead, right := vaspd.NewFakeClock(now.Add(48*time.Hour)), vaspd.NewFakeClock(now)
		process := func(clock vaspd.Clock) *vasp.Service {
			return r.h.w.service(t, func(o *vasp.Options) {
				o.ReconcileInterval, o.Clock, o.Registerer = time.Hour, clock, prometheus.NewRegistry()
			})
		}
		a, b := process(ahead), process(right)
		if !a.ReconcileOnce(t.Context()) {
			t.Fatal("the first tick did not run")
		}
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("a process whose clock is right did not take a turn stamped 48 h ahead of it")
		}
		// Its own turn then holds as any does.
		right.Advance(30 * time.Minute)
		if b.ReconcileOnce(t.Context()) {
			t.Fatal("a second run within the interval")
		}
		right.Advance(30 * time.Minute)
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("no run an interval later")
		}
	})
}
