package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// latencySlack covers the real time a loopback attempt takes: the back-off
// counts from the end of the attempt (fake start + real latency).
const latencySlack = time.Second

// TestEndpointBackoffJitterStaysUnderTheCap: the endpoint back-off's
// "capped at 5 min" holds after jitter, as the retry schedule's 1 h cap
// does (TestJitterStaysUnderTheCap): a capped back-off is jittered
// downwards only (4.5–5 min), while one below the cap keeps its ±10 %.
func TestEndpointBackoffJitterStaysUnderTheCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, c := range []struct {
			streak   int64 // before the failing attempt
			rnd      float64
			min, max time.Duration
		}{
			{20, 0.999999, 5*time.Minute - time.Second, 5 * time.Minute},
			{20, 0.5, 5 * time.Minute, 5 * time.Minute},
			{20, 0, 4*time.Minute + 30*time.Second, 4*time.Minute + 30*time.Second},
			{0, 0.999999, 1099 * time.Millisecond, 1100 * time.Millisecond}, // 1 s + 10 %: below the cap
		} {
			clock := vaspd.NewFakeClock(t0)
			s := newTestService(t, db, clock)
			s.rnd = func() float64 { return c.rnd }
			rc := newReceiver(t)
			rc.status(500)
			ep, _ := mustEndpoint(t, s, rc.URL)
			if _, err := db.ExecContext(ctx, `UPDATE webhook_endpoints SET failure_streak = $2 WHERE id = $1`, ep.ID, c.streak); err != nil {
				t.Fatal(err)
			}
			enqueue(t, s, Event{Type: TypeTest})
			if n := step(t, s); n != 1 {
				t.Fatalf("streak %d: %d attempts, want 1", c.streak, n)
			}
			e, err := s.GetEndpoint(ctx, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := e.BackoffUntil.Sub(t0); e.FailureStreak != c.streak+1 || d < c.min || d > c.max+latencySlack {
				t.Errorf("streak %d, rnd %v: back-off %s (streak now %d), want %s–%s",
					c.streak, c.rnd, d, e.FailureStreak, c.min, c.max)
			}
			// Not to be claimed again by the next case's Service.
			if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
				t.Fatal(err)
			}
		}
	})
}
