package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// ageReading makes w's reading of endpoint id older than readingFresh, as
// a quarter of a second without a claim would.
func ageReading(w *worker, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.seen[id]; ok {
		r.at = r.at.Add(-time.Hour)
		w.seen[id] = r
	}
}

// TestHandoffAfterReenabledElsewhere: an endpoint another process (here a
// second Service on the same database) disabled and re-enabled is handed
// rows again by the next enqueue whose reading of it is stale, as a claim
// would take them, not only after a claim has read it again. The handoff
// refused it until then, twice over: an endpoint that had failed here kept
// the worker's failure streak (a claim drops it when the row's updated_at
// moved; refreshReadings did not, and was not even asked to read an
// endpoint with a streak), and one that refreshReadings had found backed
// off was forgotten, so no enqueue read it again.
func TestHandoffAfterReenabledElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		other := newTestService(t, db, clock)
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		w := attach(t, s)
		prime(t, s, w) // a failure: the worker's streak is 1
		finish(t, w)
		w.results = make(chan finished, s.opt.MaxInFlight) // finish closed it; the worker goes on
		w.mu.Lock()
		streak := w.streak[ep.ID]
		w.mu.Unlock()
		if streak != 1 {
			t.Fatalf("worker's streak %d after a failure, want 1", streak)
		}
		rc.status(200)
		reenable := func() {
			t.Helper()
			clock.Advance(time.Second) // updated_at moves
			for _, on := range []bool{false, true} {
				if _, err := other.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(on)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		handedOff := func(what string) {
			t.Helper()
			ageReading(w, ep.ID)
			id := enqueue(t, s, Event{Type: TypeTest})
			if token, _, _ := deliveryRow(t, s, id); token != w.token {
				t.Fatalf("%s: the delivery was written due (lease %q), not handed off", what, token)
			}
			if n := finish(t, w); n != 1 {
				t.Fatalf("%s: %d attempts, want 1", what, n)
			}
			w.results = make(chan finished, s.opt.MaxInFlight)
			if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
				t.Fatalf("%s: %+v", what, d)
			}
		}

		// 1. Re-enabled elsewhere while this worker held a failure streak.
		reenable()
		handedOff("re-enabled with the worker's streak")

		// 2. Failing again, here, and backed off: an enqueue reads it so
		// (its row goes due, for after the back-off); then re-enabled
		// elsewhere, which ends the back-off.
		rc.status(500)
		ageReading(w, ep.ID)
		enqueue(t, s, Event{Type: TypeTest}) // handed off, as it was healthy
		finish(t, w)
		w.results = make(chan finished, s.opt.MaxInFlight)
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.FailureStreak != 1 || !e.BackoffUntil.After(clock.Now()) {
			t.Fatalf("after a failure: %+v %v", e, err)
		}
		ageReading(w, ep.ID)
		parked := enqueue(t, s, Event{Type: TypeTest})
		if token, _, _ := deliveryRow(t, s, parked); token != "" {
			t.Fatalf("handed off to a backed-off endpoint (lease %q)", token)
		}
		rc.status(200)
		reenable()
		handedOff("re-enabled after a refresh found it backed off")
	})
}
