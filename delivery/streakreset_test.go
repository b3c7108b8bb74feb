package delivery

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestStreakResetElsewhereSeen: a failure streak another process ends — its
// worker delivers to the endpoint, or a synchronous send there succeeds —
// ends in this process's running worker too. The reset changed the row's
// failure_streak but not its updated_at, the generation the worker held its
// own streak under, so the worker kept its older, higher streak (the larger
// of its own and the row's): it took no handoffs for the recovered endpoint
// and probed it one attempt at a time, and its next failure wrote streak
// N+1 over the reset, with that streak's back-off (32 s after five
// failures, up to the 5 min cap), not a first failure's 1 s.
func TestStreakResetElsewhereSeen(t *testing.T) {
	eachHow(t, func(t *testing.T, db *store.DB, how string) {
		p := newTwoProcs(t, db)
		p.rc.status(500)
		w := attach(t, p.s)
		enqueue(t, p.s, Event{Type: TypeTest}) // no reading yet: written due
		for i := 0; i < 5; i++ {
			p.mustClaim(w, "claim")
			record(t, w) // finish closed its results; the worker goes on
			p.clock.Advance(2 * time.Hour)
		}
		p.wantStreak(t, "after five failures here", 5)

		// The endpoint recovers; the other process sees it first.
		p.rc.status(200)
		switch how {
		case "queued":
			ow := attach(t, p.other)
			p.mustClaim(ow, "other process's claim")
			finish(t, ow)
		case "sync":
			resp, err := p.other.Send(p.ctx, Event{Type: TypeTest}, SendOptions{EndpointID: p.ep.ID})
			if err != nil || !resp.Delivered() {
				t.Fatalf("other process's send: %+v %v", resp, err)
			}
		}
		p.wantStreak(t, "after the other process's success", 0)

		// This worker's next reading sees a healthy endpoint: a new
		// event is handed to it, as to any healthy endpoint's worker.
		// Then it fails once: its first failure since the reset.
		p.rc.status(500)
		p.wantHandoff(t, w, false)
		if n := finish(t, w); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		e := p.endpoint(t)
		if e.FailureStreak != 1 || e.BackoffUntil.After(p.clock.Now().Add(2*time.Second)) {
			t.Errorf("first failure after the other process's success: streak %d, backoff until %s (now %s), want 1 and about 1 s",
				e.FailureStreak, e.BackoffUntil, p.clock.Now())
		}
		if mem := p.memStreak(w); mem != 1 {
			t.Errorf("worker's streak after it: %d, want 1", mem)
		}
	})
}

// TestSuccessEndsStreakCountedElsewhere: a worker that reads an endpoint
// failing in another process (a streak in the row, under the generation
// this worker last knew) and then delivers to it ends that streak in the
// row. It took the row's streak for the reading only (one attempt at a
// time), while its own memory kept the 0 of its last success: its success
// changed nothing it knew of, so nothing was written, and the row kept the
// other process's streak — every reading of the recovered endpoint, by any
// process, probed it one attempt at a time without handoffs until a
// failure, or the process that counted the streak, wrote the row again.
func TestSuccessEndsStreakCountedElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newTwoProcs(t, db)
		w := attach(t, p.s)
		enqueue(t, p.s, Event{Type: TypeTest}) // no reading yet: written due
		p.mustClaim(w, "claim")
		record(t, w) // delivered: this worker knows a streak of 0

		// The endpoint fails three times in the other process.
		p.rc.status(500)
		ow := newWorker(p.other)
		enqueue(t, p.other, Event{Type: TypeTest})
		for i := 0; i < 3; i++ {
			p.mustClaim(ow, "other process's claim")
			record(t, ow)
			p.clock.Advance(2 * time.Hour)
		}
		p.wantStreak(t, "after three failures elsewhere", 3)

		// It recovers; this worker claims the failing delivery and delivers it.
		p.rc.status(200)
		p.mustClaim(w, "claim")
		record(t, w)
		p.wantStreak(t, "after a success here", 0)
		// And the next event is handed to this worker, as for any healthy endpoint.
		p.wantHandoff(t, w, true)
		finish(t, w)
	})
}
