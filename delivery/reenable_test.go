package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestReenabledEndpointStreakStartsOver: re-enabling an endpoint starts
// its failure streak over in the running worker as in the database. The
// worker took the larger of its own streak and the database's, so one
// re-enabled after a long outage backed off, on its first failure, as if
// the outage went on (an hour, not 10 s).
func TestReenabledEndpointStreakStartsOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		enqueue(t, s, Event{Type: TypeTest})
		w := newWorker(s)
		s.running.Store(w)
		defer s.running.Store(nil)
		attempt := func() {
			t.Helper()
			if n, _, err := w.claim(ctx); err != nil || n != 1 {
				t.Fatalf("claim: %d %v", n, err)
			}
			finish(t, w)
			w.results = make(chan finished, s.opt.MaxInFlight) // finish closed it; the worker goes on
		}
		for i := 0; i < 5; i++ {
			attempt()
			clock.Advance(2 * time.Hour)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 5 {
			t.Fatalf("after five failures: %+v %v", e, err)
		}
		for _, on := range []bool{false, true} {
			if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(on)}); err != nil {
				t.Fatal(err)
			}
		}
		attempt()
		e, err := s.GetEndpoint(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.FailureStreak != 1 || e.BackoffUntil.After(clock.Now().Add(11*time.Second)) {
			t.Fatalf("first failure after re-enabling: streak %d, backoff until %s (now %s), want 1 and about 10 s",
				e.FailureStreak, e.BackoffUntil, clock.Now())
		}
	})
}

// TestReenabledElsewhereStreakStartsOver: an endpoint re-enabled by another
// process (here a second Service on the same database) starts its failure
// streak over in this process's running worker too. Only the process that
// re-enabled it forgot its streak: the others' workers kept theirs, the
// larger of it and the row's, so one re-enabled after a long outage was
// probed one attempt at a time and, at its first failure, backed off as if
// the outage went on, its old streak written back over the reset.
func TestReenabledElsewhereStreakStartsOver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		other := newTestService(t, db, clock)
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		enqueue(t, s, Event{Type: TypeTest})
		w := newWorker(s)
		s.running.Store(w)
		defer s.running.Store(nil)
		attempt := func() {
			t.Helper()
			if n, _, err := w.claim(ctx); err != nil || n != 1 {
				t.Fatalf("claim: %d %v", n, err)
			}
			finish(t, w)
			w.results = make(chan finished, s.opt.MaxInFlight) // finish closed it; the worker goes on
		}
		for i := 0; i < 5; i++ {
			attempt()
			clock.Advance(2 * time.Hour)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 5 {
			t.Fatalf("after five failures: %+v %v", e, err)
		}
		for _, on := range []bool{false, true} {
			if _, err := other.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(on)}); err != nil {
				t.Fatal(err)
			}
		}
		attempt()
		e, err := s.GetEndpoint(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.FailureStreak != 1 || e.BackoffUntil.After(clock.Now().Add(11*time.Second)) {
			t.Fatalf("first failure after another process re-enabled it: streak %d, backoff until %s (now %s), want 1 and about 10 s",
				e.FailureStreak, e.BackoffUntil, clock.Now())
		}
	})
}

// TestReenabledDuringAttemptStreakStartsOver: an attempt in flight while
// its endpoint is disabled and re-enabled (by this process or another)
// records its failure on the streak the re-enable started over (0), not on
// the streak it was claimed with. record took its base from the worker's
// memory or the attempt's reading, both from before the re-enable, so a
// failing endpoint re-enabled mid-attempt went from 5 back to 6, its
// back-off (and the failure-streak gauge) as if the outage had gone on.
func TestReenabledDuringAttemptStreakStartsOver(t *testing.T) {
	for _, where := range []string{"here", "elsewhere"} {
		t.Run(where, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := vaspd.NewFakeClock(t0)
				s := newTestService(t, db, clock)
				changer := s
				if where == "elsewhere" {
					changer = newTestService(t, db, clock)
				}
				rc := newReceiver(t)
				rc.status(500)
				ep, _ := mustEndpoint(t, s, rc.URL)
				enqueue(t, s, Event{Type: TypeTest})
				w := newWorker(s)
				s.running.Store(w)
				defer s.running.Store(nil)
				claimAndAttempt := func() []finished {
					t.Helper()
					if n, _, err := w.claim(ctx); err != nil || n != 1 {
						t.Fatalf("claim: %d %v", n, err)
					}
					w.wg.Wait()
					close(w.results)
					var batch []finished
					for f := range w.results {
						batch = append(batch, f)
					}
					w.results = make(chan finished, s.opt.MaxInFlight)
					return batch
				}
				for i := 0; i < 5; i++ {
					if err := w.record(claimAndAttempt()); err != nil {
						t.Fatal(err)
					}
					clock.Advance(2 * time.Hour)
				}
				if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 5 {
					t.Fatalf("after five failures: %+v %v", e, err)
				}
				// The sixth attempt is made; before its result is recorded the
				// endpoint is disabled and re-enabled.
				batch := claimAndAttempt()
				for _, on := range []bool{false, true} {
					if _, err := changer.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(on)}); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.record(batch); err != nil {
					t.Fatal(err)
				}
				e, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.FailureStreak != 1 || e.BackoffUntil.After(clock.Now().Add(11*time.Second)) {
					t.Fatalf("failure of an attempt in flight through a re-enable: streak %d, backoff until %s (now %s), want 1 and about 1 s",
						e.FailureStreak, e.BackoffUntil, clock.Now())
				}
				w.mu.Lock()
				mem := w.streak[ep.ID]
				w.mu.Unlock()
				if mem != 1 {
					t.Fatalf("worker's streak after it: %d, want 1", mem)
				}
			})
		})
	}
}
