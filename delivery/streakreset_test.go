package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
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
	for _, how := range []string{"queued", "sync"} {
		t.Run(how, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := vaspd.NewFakeClock(t0)
				s := newTestService(t, db, clock)
				other := newTestService(t, db, clock) // another process on the same database
				rc := newReceiver(t)
				rc.status(500)
				ep, _ := mustEndpoint(t, s, rc.URL)
				w := attach(t, s)
				enqueue(t, s, Event{Type: TypeTest}) // no reading yet: written due
				for i := 0; i < 5; i++ {
					if n, _, err := w.claim(ctx); err != nil || n != 1 {
						t.Fatalf("claim: %d %v", n, err)
					}
					finish(t, w)
					w.results = make(chan finished, s.opt.MaxInFlight) // finish closed it; the worker goes on
					clock.Advance(2 * time.Hour)
				}
				if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 5 {
					t.Fatalf("after five failures here: %+v %v", e, err)
				}

				// The endpoint recovers; the other process sees it first.
				rc.status(200)
				switch how {
				case "queued":
					ow := attach(t, other)
					if n, _, err := ow.claim(ctx); err != nil || n != 1 {
						t.Fatalf("other process's claim: %d %v", n, err)
					}
					finish(t, ow)
				case "sync":
					resp, err := other.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
					if err != nil || !resp.Delivered() {
						t.Fatalf("other process's send: %+v %v", resp, err)
					}
				}
				if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 0 {
					t.Fatalf("after the other process's success: %+v %v", e, err)
				}

				// This worker's next reading sees a healthy endpoint: a new
				// event is handed to it, as to any healthy endpoint's worker.
				// Then it fails once: its first failure since the reset.
				rc.status(500)
				ageReading(w, ep.ID)
				id := enqueue(t, s, Event{Type: TypeTest})
				if token, _, _ := deliveryRow(t, s, id); token != w.token {
					t.Errorf("the recovered endpoint's new delivery was written due (lease %q), not handed off: the worker kept its streak", token)
					if n, _, err := w.claim(ctx); err != nil || n != 1 {
						t.Fatalf("claim: %d %v", n, err)
					}
				}
				if n := finish(t, w); n != 1 {
					t.Fatalf("%d attempts, want 1", n)
				}
				e, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.FailureStreak != 1 || e.BackoffUntil.After(clock.Now().Add(2*time.Second)) {
					t.Errorf("first failure after the other process's success: streak %d, backoff until %s (now %s), want 1 and about 1 s",
						e.FailureStreak, e.BackoffUntil, clock.Now())
				}
				w.mu.Lock()
				mem := w.streak[ep.ID]
				w.mu.Unlock()
				if mem != 1 {
					t.Errorf("worker's streak after it: %d, want 1", mem)
				}
			})
		})
	}
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
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		other := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, s, rc.URL)
		w := attach(t, s)
		enqueue(t, s, Event{Type: TypeTest}) // no reading yet: written due
		if n, _, err := w.claim(ctx); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		finish(t, w) // delivered: this worker knows a streak of 0
		w.results = make(chan finished, s.opt.MaxInFlight)

		// The endpoint fails three times in the other process.
		rc.status(500)
		ow := newWorker(other)
		enqueue(t, other, Event{Type: TypeTest})
		for i := 0; i < 3; i++ {
			if n, _, err := ow.claim(ctx); err != nil || n != 1 {
				t.Fatalf("other process's claim: %d %v", n, err)
			}
			finish(t, ow)
			ow.results = make(chan finished, other.opt.MaxInFlight)
			clock.Advance(2 * time.Hour)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 3 {
			t.Fatalf("after three failures elsewhere: %+v %v", e, err)
		}

		// It recovers; this worker claims the failing delivery and delivers it.
		rc.status(200)
		if n, _, err := w.claim(ctx); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		finish(t, w)
		w.results = make(chan finished, s.opt.MaxInFlight)
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 0 {
			t.Fatalf("after a success here: streak %d (%v), want 0", e.FailureStreak, err)
		}
		// And the next event is handed to this worker, as for any healthy endpoint.
		ageReading(w, ep.ID)
		id := enqueue(t, s, Event{Type: TypeTest})
		if token, _, _ := deliveryRow(t, s, id); token != w.token {
			t.Fatalf("the recovered endpoint's new delivery was written due (lease %q), not handed off", token)
		}
		finish(t, w)
	})
}
