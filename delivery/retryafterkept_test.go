package delivery

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestLaterFailureKeepsRetryAfterBackoff: a receiver's Retry-After backs
// its whole endpoint off for at least that long. A failure of another
// attempt to the endpoint recorded after it — one in flight meanwhile, in
// this process's next batch or in another process — wrote its own short
// back-off (1 s, 2 s … by streak) over it: the endpoint's queued deliveries
// were claimed again seconds later, long before the Retry-After. A failure
// never shortens the back-off (as a synchronous send's failure already did
// not); a success still ends it.
func TestLaterFailureKeepsRetryAfterBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		a := newTestService(t, db, clock) // two processes sharing the database
		b := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, a, rc.URL)
		endpoint := func() Endpoint {
			t.Helper()
			e, err := a.GetEndpoint(ctx, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		answer := func(code int, retryAfter string) {
			rc.set(func(w http.ResponseWriter, r *http.Request) {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.WriteHeader(code)
			})
		}

		// drain attempts every due delivery (a failing endpoint is probed
		// one attempt at a time) and returns how many were made.
		drain := func() int {
			total := 0
			for n := step(t, a); n > 0; n = step(t, a) {
				total += n
			}
			return total
		}

		// Queued: process a's attempt is answered 429 Retry-After 600 and
		// process b's, in flight at the same time, 500; b records last.
		enqueue(t, a, Event{Type: TypeTest})
		answer(http.StatusTooManyRequests, "600")
		wa, batchA := attemptOne(t, a)
		enqueue(t, a, Event{Type: TypeTest})
		answer(http.StatusInternalServerError, "")
		wb, batchB := attemptOne(t, b)
		if err := wa.record(batchA); err != nil {
			t.Fatal(err)
		}
		if got := endpoint().BackoffUntil; got.Before(t0.Add(10 * time.Minute)) {
			t.Fatalf("429 Retry-After 600: endpoint backed off until %s only", got)
		}
		if err := wb.record(batchB); err != nil {
			t.Fatal(err)
		}
		if got := endpoint().BackoffUntil; got.Before(t0.Add(10 * time.Minute)) {
			t.Fatalf("a 500 recorded after a 429 Retry-After 600 cut the endpoint's back-off to %s", got)
		}
		answer(http.StatusOK, "")
		clock.Set(t0.Add(time.Minute))
		if n := step(t, a); n != 0 {
			t.Fatalf("%d attempts a minute into a 10-minute Retry-After", n)
		}

		// Synchronous: a send answered 503 Retry-After 600, then a queued
		// attempt made before it, answered 500, is recorded.
		clock.Set(t0.Add(11 * time.Minute))
		if n := drain(); n != 2 {
			t.Fatalf("%d attempts after the Retry-After, want 2", n)
		}
		now := clock.Now()
		enqueue(t, a, Event{Type: TypeTest})
		answer(http.StatusInternalServerError, "")
		w, batch := attemptOne(t, a)
		answer(http.StatusServiceUnavailable, "600")
		if resp, err := a.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID}); err != nil || resp.Status != 503 {
			t.Fatalf("send: %+v %v", resp, err)
		}
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
		if got := endpoint().BackoffUntil; got.Before(now.Add(10 * time.Minute)) {
			t.Fatalf("a 500 recorded after a synchronous 503 Retry-After 600 cut the endpoint's back-off to %s", got)
		}

		// A success still ends the back-off.
		enqueue(t, a, Event{Type: TypeTest})
		clock.Set(now.Add(11 * time.Minute))
		answer(http.StatusOK, "")
		if n := drain(); n != 2 {
			t.Fatalf("%d attempts after the second Retry-After, want 2", n)
		}
		if e := endpoint(); !e.BackoffUntil.IsZero() || e.FailureStreak != 0 {
			t.Fatalf("after a success: back-off until %s, streak %d", e.BackoffUntil, e.FailureStreak)
		}
	})
}
