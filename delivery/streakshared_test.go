package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
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
	for _, how := range []string{"queued", "sync"} {
		t.Run(how, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := vaspd.NewFakeClock(t0)
				// This process's lease outlasts the test's clock moves: the
				// other process must not take over its delivery.
				s := newTestService(t, db, clock, func(o *Options) { o.LeaseMargin = time.Hour })
				other := newTestService(t, db, clock)
				rc := newReceiver(t)
				rc.status(500)
				ep, _ := mustEndpoint(t, s, rc.URL)

				// One failure here: the worker knows a streak of 1.
				w := newWorker(s)
				enqueue(t, s, Event{Type: TypeTest})
				if n, _, err := w.claim(ctx); err != nil || n != 1 {
					t.Fatalf("claim: %d %v", n, err)
				}
				finish(t, w)
				w.results = make(chan finished, s.opt.MaxInFlight)
				clock.Advance(time.Minute)

				// Its retry is claimed and attempted; before the result is
				// recorded, the other process counts three more failures.
				if n, _, err := w.claim(ctx); err != nil || n != 1 {
					t.Fatalf("claim of the retry: %d %v", n, err)
				}
				w.wg.Wait()
				for i := 0; i < 3; i++ {
					switch how {
					case "queued":
						ow := newWorker(other)
						enqueue(t, other, Event{Type: TypeTest})
						if n, _, err := ow.claim(ctx); err != nil || n != 1 {
							t.Fatalf("other process's claim: %d %v", n, err)
						}
						finish(t, ow)
						clock.Advance(10 * time.Second) // past its back-off so far
					case "sync": // sent at once: a sync send ignores the back-off
						resp, err := other.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
						if err != nil || resp.Status != 500 {
							t.Fatalf("other process's send: %+v %v", resp, err)
						}
					}
				}
				if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 4 {
					t.Fatalf("after three failures elsewhere: streak %d (%v), want 4", e.FailureStreak, err)
				}

				finish(t, w)
				e, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				// Its back-off counts from when it was seen (t0 + 1 min): a
				// fifth failure's 16 s. (The row keeps a later one, if the
				// other process's failures set one: the queued ones did.)
				if e.FailureStreak != 5 {
					t.Errorf("streak after this worker's failure: %d, want 5 (4 in the row, and this one)", e.FailureStreak)
				}
				if min := t0.Add(time.Minute + 16*time.Second); e.BackoffUntil.Before(min) {
					t.Errorf("backoff until %s, want at least %s (a fifth failure's 16 s)", e.BackoffUntil, min)
				}
				w.mu.Lock()
				mem := w.streak[ep.ID]
				w.mu.Unlock()
				if mem != 5 {
					t.Errorf("worker's streak: %d, want 5", mem)
				}
			})
		})
	}
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
	for _, how := range []string{"queued", "sync"} {
		t.Run(how, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clock := vaspd.NewFakeClock(t0)
				// This process's lease outlasts the test's clock moves.
				s := newTestService(t, db, clock, func(o *Options) { o.LeaseMargin = time.Hour })
				other := newTestService(t, db, clock)
				rc := newReceiver(t)
				ep, _ := mustEndpoint(t, s, rc.URL)

				// Claimed healthy, attempted and delivered; not yet recorded.
				w := newWorker(s)
				enqueue(t, s, Event{Type: TypeTest})
				if n, _, err := w.claim(ctx); err != nil || n != 1 {
					t.Fatalf("claim: %d %v", n, err)
				}
				w.wg.Wait()

				// Meanwhile the other process counts three failures.
				rc.status(500)
				for i := 0; i < 3; i++ {
					switch how {
					case "queued":
						ow := newWorker(other)
						enqueue(t, other, Event{Type: TypeTest})
						if n, _, err := ow.claim(ctx); err != nil || n != 1 {
							t.Fatalf("other process's claim: %d %v", n, err)
						}
						finish(t, ow)
						clock.Advance(10 * time.Second) // past its back-off so far
					case "sync":
						resp, err := other.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
						if err != nil || resp.Status != 500 {
							t.Fatalf("other process's send: %+v %v", resp, err)
						}
					}
				}
				before, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil || before.FailureStreak != 3 {
					t.Fatalf("after three failures elsewhere: streak %d (%v), want 3", before.FailureStreak, err)
				}

				// This worker's success is recorded last: the endpoint is healthy.
				if n := finish(t, w); n != 1 {
					t.Fatalf("%d results, want 1", n)
				}
				e, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.FailureStreak != 0 || !e.BackoffUntil.IsZero() {
					t.Errorf("after a success recorded here: streak %d, backoff until %s, want 0 and none", e.FailureStreak, e.BackoffUntil)
				}
				// The reset moved the streak's generation: the other process's
				// worker, holding its streak of 3, forgets it at its next reading.
				var resets int64
				if err := db.QueryRowContext(ctx, `SELECT streak_resets FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&resets); err != nil {
					t.Fatal(err)
				}
				if resets != 1 {
					t.Errorf("streak_resets %d, want 1", resets)
				}
			})
		})
	}
}
