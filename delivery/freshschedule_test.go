package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestFreshWindowRestartsTheSchedule: a delivery resumed when its endpoint
// is re-enabled (or a redelivered or replayed one) gets a fresh retry
// window, and with it the schedule from its start: 10 s, 20 s, 40 s … after
// the window's first attempt. The delay was taken from the delivery's
// attempts of all time: after a dozen earlier attempts, the first failure
// of the fresh window waited an hour, the cap, not 10 s.
func TestFreshWindowRestartsTheSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		rc.status(500)
		ep, _ := mustEndpoint(t, s, rc.URL)
		wh := enqueue(t, s, Event{Type: TypeTest})
		// fail makes the due attempt (after the endpoint's back-off) and
		// returns the delay it scheduled.
		fail := func() (Delivery, time.Duration) {
			t.Helper()
			e, err := s.GetEndpoint(ctx, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			if e.BackoffUntil.After(clock.Now()) {
				clock.Set(e.BackoffUntil)
			}
			if n := step(t, s); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
			d := onlyDelivery(t, s, wh)
			return d, d.NextAttemptAt.Sub(clock.Now())
		}
		var d Delivery
		for i := 0; i < 12; i++ {
			d, _ = fail()
			clock.Set(d.NextAttemptAt)
		}
		if d.Attempts != 12 {
			t.Fatalf("%d attempts, want 12", d.Attempts)
		}
		// Disabled and enabled again: the waiting delivery resumes with a
		// fresh window, and its endpoint's streak ends (whose back-off,
		// 1 s, 2 s …, is then shorter than the delays).
		for _, on := range []bool{false, true} {
			if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(on)}); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
			d, got := fail()
			if got != want {
				t.Fatalf("failure %d of the fresh window (attempt %d): next in %s, want %s", i+1, d.Attempts, got, want)
			}
			clock.Set(d.NextAttemptAt)
		}
		// Redelivered: a fresh window again.
		if _, err := s.Redeliver(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if d, got := fail(); got != 10*time.Second {
			t.Fatalf("first failure after a redelivery (attempt %d): next in %s, want 10s", d.Attempts, got)
		}
	})
}

// TestInWindowKeepsTheCountOfAPlainDelivery: a delivery that never started
// a fresh window keeps its schedule position (its attempts), even when
// every delay came out at its shortest (-Jitter) and every attempt took no
// time, and its times were stored as whole microseconds.
func TestInWindowKeepsTheCountOfAPlainDelivery(t *testing.T) {
	for _, p := range []RetryPolicy{{}, {Jitter: -1}, {Jitter: 0.5, Initial: time.Second, Max: time.Minute}} {
		shortest := func() float64 { return 0 }
		first := t0.Add(123456789 * time.Nanosecond).Truncate(time.Microsecond)
		started := first
		for k := 1; k <= 100; k++ {
			if got := p.inWindow(k, first, started); got != k {
				t.Fatalf("%+v: attempt %d at +%s counted as %d", p, k, started.Sub(first), got)
			}
			at, dead := p.next(k, first, started, 0, shortest)
			if dead {
				break
			}
			started = at.Truncate(time.Microsecond)
		}
	}
}
