package delivery

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
)

// TestFailureCountsOnStreakCountedElsewhere: a failure recorded by one
// process's worker adds to the endpoint's failure streak as the row holds
// it, failures another process counted meanwhile included (its worker's, or
// its synchronous sends'), not to the streak this worker knew when it
// claimed. record started from the worker's own streak whenever the row's
// generation had not moved — failures move none — so it wrote back its own
// streak plus one over the larger one in the row (here 2 over 4), and the
// endpoint's back-off came out that of a second failure (2 s), not a fifth
// (16 s): across processes a failing endpoint was probed as if it had only
// begun to fail.
func TestFailureCountsOnStreakCountedElsewhere(t *testing.T) {
	eachHow(t, func(t *testing.T, db *store.DB, how string) {
		p := newTwoProcs(t, db, longLease)
		p.rc.status(500)

		// One failure here: the worker knows a streak of 1.
		w := newWorker(p.s)
		enqueue(t, p.s, Event{Type: TypeTest})
		p.mustClaim(w, "claim")
		record(t, w)
		p.clock.Advance(time.Minute)

		// Its retry is claimed and attempted; before the result is
		// recorded, the other process counts three more failures.
		p.mustClaim(w, "claim of the retry")
		w.wg.Wait()
		p.failElsewhere(t, how, 3)
		p.wantStreak(t, "after three failures elsewhere", 4)

		finish(t, w)
		e := p.endpoint(t)
		// Its back-off counts from when it was seen (t0 + 1 min): a
		// fifth failure's 16 s. (The row keeps a later one, if the
		// other process's failures set one: the queued ones did.)
		if e.FailureStreak != 5 {
			t.Errorf("streak after this worker's failure: %d, want 5 (4 in the row, and this one)", e.FailureStreak)
		}
		if min := t0.Add(time.Minute + 16*time.Second); e.BackoffUntil.Before(min) {
			t.Errorf("backoff until %s, want at least %s (a fifth failure's 16 s)", e.BackoffUntil, min)
		}
		if mem := p.memStreak(w); mem != 5 {
			t.Errorf("worker's streak: %d, want 5", mem)
		}
	})
}

// TestInFlightSuccessEndsStreakCountedElsewhere: a success recorded by a
// worker whose streak for the endpoint is 0 — it read the endpoint healthy
// when it claimed, and the attempt was in flight while another process
// counted failures there — ends the streak the row holds. The worker's
// success changed nothing it knew of, so record wrote no endpoint row and
// the row kept the other process's streak and back-off (its metrics, and
// every process's next reading, a failing endpoint) until that process
// delivered there itself.
func TestInFlightSuccessEndsStreakCountedElsewhere(t *testing.T) {
	eachHow(t, func(t *testing.T, db *store.DB, how string) {
		p := newTwoProcs(t, db, longLease)

		// Claimed healthy, attempted and delivered; not yet recorded.
		w := newWorker(p.s)
		enqueue(t, p.s, Event{Type: TypeTest})
		p.mustClaim(w, "claim")
		w.wg.Wait()

		// Meanwhile the other process counts three failures.
		p.rc.status(500)
		p.failElsewhere(t, how, 3)
		p.wantStreak(t, "after three failures elsewhere", 3)

		// This worker's success is recorded last: the endpoint is healthy.
		if n := finish(t, w); n != 1 {
			t.Fatalf("%d results, want 1", n)
		}
		if e := p.endpoint(t); e.FailureStreak != 0 || !e.BackoffUntil.IsZero() {
			t.Errorf("after a success recorded here: streak %d, backoff until %s, want 0 and none", e.FailureStreak, e.BackoffUntil)
		}
		// The reset moved the streak's generation: the other process's
		// worker, holding its streak of 3, forgets it at its next reading.
		var resets int64
		if err := db.QueryRowContext(p.ctx, `SELECT streak_resets FROM webhook_endpoints WHERE id = $1`, p.ep.ID).Scan(&resets); err != nil {
			t.Fatal(err)
		}
		if resets != 1 {
			t.Errorf("streak_resets %d, want 1", resets)
		}
	})
}
