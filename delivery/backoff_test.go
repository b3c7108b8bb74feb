package delivery

import (
	"context"
	"net/http"
	"sync"
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

// TestSyncThrottleBacksOffTheEndpoint: a synchronous send's answer feeds its
// endpoint's back-off as a queued attempt's does. A 503 or 429 (with or
// without Retry-After) backs the endpoint off, and its queued deliveries
// wait for it (at least the Retry-After, bounded like a queued attempt's);
// a sync send to the backed-off endpoint is still made, and its success
// ends the back-off; an approval's decision (403, 422) changes nothing.
func TestSyncThrottleBacksOffTheEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, s, rc.URL)
		endpoint := func() Endpoint {
			t.Helper()
			e, err := s.GetEndpoint(ctx, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		send := func(want int) {
			t.Helper()
			resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
			if err != nil || resp.Status != want {
				t.Fatalf("send: %+v %v, want HTTP %d", resp, err, want)
			}
		}
		throttle := func(code int, retryAfter string) {
			rc.set(func(w http.ResponseWriter, r *http.Request) {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.WriteHeader(code)
			})
		}
		within := func(what string, got, from time.Time, d time.Duration) {
			t.Helper()
			if got.Before(from.Add(d)) || got.After(from.Add(d+latencySlack)) {
				t.Fatalf("%s: back-off until %s, want %s after %s", what, got, d, from)
			}
		}

		// 503 without Retry-After: the 1 s back-off of a first failure.
		throttle(http.StatusServiceUnavailable, "")
		send(503)
		e := endpoint()
		if e.FailureStreak != 1 {
			t.Fatalf("503 to a sync send: streak %d, want 1", e.FailureStreak)
		}
		within("503", e.BackoffUntil, t0, time.Second)
		rc.status(200)
		enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 0 {
			t.Fatalf("queued delivery attempted (%d) while a sync 503 backs its endpoint off", n)
		}
		clock.Set(e.BackoffUntil)
		if n := step(t, s); n != 1 || endpoint().FailureStreak != 0 {
			t.Fatalf("after the back-off: %d attempts, streak %d", n, endpoint().FailureStreak)
		}

		// 429 with Retry-After: queued deliveries wait at least that long.
		now := clock.Now()
		throttle(http.StatusTooManyRequests, "120")
		send(429)
		e = endpoint()
		within("429 Retry-After 120", e.BackoffUntil, now, 2*time.Minute)
		rc.status(200)
		enqueue(t, s, Event{Type: TypeTest})
		clock.Set(e.BackoffUntil.Add(-time.Millisecond))
		if n := step(t, s); n != 0 {
			t.Fatalf("queued delivery attempted (%d) before the sync answer's Retry-After", n)
		}

		// A sync send to the backed-off endpoint is still made (approvals
		// cannot wait), and its success ends the back-off.
		before := len(rc.requests())
		send(200)
		if len(rc.requests()) != before+1 {
			t.Fatal("no sync send to a backed-off endpoint")
		}
		if e := endpoint(); e.FailureStreak != 0 || !e.BackoffUntil.IsZero() {
			t.Fatalf("after a sync success: streak %d, back-off until %s", e.FailureStreak, e.BackoffUntil)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("queued delivery not attempted (%d) after a sync success", n)
		}

		// A Retry-After is bounded like a queued attempt's (MaxRetryAfter).
		now = clock.Now()
		throttle(http.StatusServiceUnavailable, "86400")
		send(503)
		e = endpoint()
		within("503 Retry-After 86400", e.BackoffUntil, now, time.Hour)

		// An approval's decisions are answers, not failures: no change.
		for _, code := range []int{http.StatusForbidden, http.StatusUnprocessableEntity} {
			rc.status(code)
			send(code)
			if got := endpoint(); got.FailureStreak != e.FailureStreak || !got.BackoffUntil.Equal(e.BackoffUntil) {
				t.Fatalf("HTTP %d to a sync send: streak %d, back-off until %s; want %d, %s unchanged",
					code, got.FailureStreak, got.BackoffUntil, e.FailureStreak, e.BackoffUntil)
			}
		}
	})
}

// TestSyncFailureReachesTheRunningWorker: a sync send's failure tells this
// process's worker, as a queued failure does: the endpoint's streak here
// (one attempt at a time, no handoffs) and the hand-back of the deliveries
// it had claimed but not started, which then wait for the back-off.
func TestSyncFailureReachesTheRunningWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		syncID := vaspd.NewID(vaspd.IDWebhook)
		release := make(chan struct{})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		defer unblock() // before the receiver closes, on failure too
		rc.set(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("webhook-id") == syncID {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			<-release // the queued attempt in flight, which then fails too
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		ep, _ := mustEndpoint(t, s, rc.URL)
		for i := 0; i < 4; i++ {
			enqueue(t, s, Event{Type: TypeTest})
		}
		w := newWorker(s)
		s.running.Store(w)
		defer s.running.Store(nil)
		if n, _, err := w.claim(ctx); err != nil || n != 4 {
			t.Fatalf("claim: %d %v", n, err)
		}
		w.mu.Lock()
		queued := len(w.queue[ep.ID])
		w.mu.Unlock()
		if queued != 3 {
			t.Fatalf("%d claimed rows queued, want 3 (one in flight: slow start)", queued)
		}
		resp, err := s.Send(ctx, Event{Type: TypeTest, ID: syncID}, SendOptions{EndpointID: ep.ID})
		if err != nil || resp.Status != 503 {
			t.Fatalf("send: %+v %v", resp, err)
		}
		w.mu.Lock()
		streak, queued, canTake := w.streak[ep.ID], len(w.queue[ep.ID]), w.canTake(ep.ID)
		w.mu.Unlock()
		if streak != 1 || queued != 0 || canTake {
			t.Fatalf("worker after a sync 503: streak %d, %d queued, handoffs %v", streak, queued, canTake)
		}
		unblock()
		finish(t, w) // waits for the hand-back too
		var leased int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries
			WHERE endpoint_id = $1 AND status = 'pending' AND lease_token <> ''`, ep.ID).Scan(&leased); err != nil {
			t.Fatal(err)
		}
		if leased != 0 {
			t.Fatalf("%d deliveries still leased after the hand-back", leased)
		}
		// The queued failure counted on from the sync one's streak.
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 2 {
			t.Fatalf("streak after a sync and a queued failure: %+v %v, want 2", e, err)
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("%d queued attempts during the endpoint's back-off", n)
		}
	})
}
