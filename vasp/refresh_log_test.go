package vasp_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A held quote whose refresh keeps failing (its receiver down) is tried
// every pass until its invoice expires; it is logged as a warning the
// first time, then at debug level, so that a few held quotes do not
// write a warning every 5 s each. Another quote's failure is news.
func TestAutoRefreshFailureLoggedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs syncBuffer
		r := newRefresher(t, db, debugLog(&logs))
		q := r.autoQuote(t, 900)
		r.fail.Store(true)
		// Due from the lead on, then a failure every pass until the
		// invoice expires.
		r.w.clock.Advance(30 * time.Second)
		for range 5 {
			r.w.clock.Advance(5 * time.Second)
			r.round(t, r.s)
		}
		const msg = "auto-refresh quote: no new terms"
		if n := r.outcomes("failed"); n != 5 {
			t.Fatalf("%v failures counted, want a failure each pass", n)
		}
		if n := logs.count(t, slog.LevelWarn, msg); n != 1 {
			t.Fatalf("%d warnings for one quote failing %v times, want 1:\n%s", n, r.outcomes("failed"), logs.b.String())
		}
		if n := logs.count(t, slog.LevelDebug, msg); n != 5 { // the warning among them
			t.Fatalf("%d failures logged at debug level", n)
		}
		sameTerms(t, r.get(t, q.ID), q)
		r.fail.Store(false)
		r.autoQuote(t, 800)
		r.fail.Store(true)
		r.w.clock.Advance(35 * time.Second)
		r.round(t, r.s)
		if n := logs.count(t, slog.LevelWarn, msg); n != 2 {
			t.Fatalf("another quote failing: %d warnings in all, want 2", n)
		}
	})
}
