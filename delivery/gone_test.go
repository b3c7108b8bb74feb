package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestLateGoneAfterURLChange: a 410 from an attempt in flight against an
// endpoint's old URL, recorded after the platform pointed the endpoint
// elsewhere, does not disable it: the delivery is due again and goes to
// the new URL. A 410 from the URL the endpoint still has disables it.
func TestLateGoneAfterURLChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		old, moved := newReceiver(t), newReceiver(t)
		old.status(410)
		ep, _ := mustEndpoint(t, s, old.URL)
		id := enqueue(t, s, Event{Type: TypeTest})

		// The attempt against the old URL ends with 410; before it is
		// recorded, the endpoint is moved.
		w, batch := attemptOne(t, s)
		if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{URL: &moved.URL}); err != nil {
			t.Fatal(err)
		}
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || !e.Enabled || e.DisabledReason != "" {
			t.Fatalf("endpoint after a late 410 from its old URL: %+v, %v", e, err)
		}
		// Its log tells what happened, not that the endpoint was disabled.
		if d := onlyDelivery(t, s, id); d.Status != StatusPending || strings.Contains(d.LastError, "disabled until") ||
			!strings.Contains(d.LastError, "former URL") {
			t.Fatalf("delivery after a late 410 from the old URL: %+v", d)
		}
		if n := step(t, s); n != 1 || len(moved.requests()) != 1 {
			t.Fatalf("after the move: %d attempts, %d at the new URL", n, len(moved.requests()))
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
			t.Fatalf("delivery: %+v", d)
		}

		// The new URL going away does disable the endpoint.
		moved.status(410)
		id = enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.Enabled {
			t.Fatalf("endpoint after 410 from its URL: %+v, %v", e, err)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusPending || d.LastError != "410 Gone: endpoint disabled until re-enabled" {
			t.Fatalf("delivery after a 410 from the current URL: %+v", d)
		}
	})
}

// TestLateGoneKeepsOperatorsReason: a 410 recorded after the platform
// disabled the endpoint (the attempt was in flight) leaves the operator's
// reason in place, and the delivery's log says the endpoint was disabled
// already, not that the 410 disabled it nor that it came from a former URL.
func TestLateGoneKeepsOperatorsReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		rc := newReceiver(t)
		rc.status(410)
		ep, _ := mustEndpoint(t, s, rc.URL)
		id := enqueue(t, s, Event{Type: TypeTest})

		w, batch := attemptOne(t, s)
		if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.Enabled || e.DisabledReason != "disabled by an operator" {
			t.Fatalf("endpoint after a late 410: %+v, %v; want the operator's reason kept", e, err)
		}
		d := onlyDelivery(t, s, id)
		if d.Status != StatusPending || d.LastError != "410 Gone: endpoint already disabled (disabled by an operator); waits until re-enabled" {
			t.Fatalf("delivery after a late 410 to an endpoint disabled meanwhile: %+v", d)
		}

		// Re-enabled, the endpoint gets the delivery (and, still gone,
		// is disabled by this 410, with its own reason).
		if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts after re-enabling", n)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || e.Enabled || e.DisabledReason != goneReason {
			t.Fatalf("endpoint after a 410 while enabled: %+v, %v", e, err)
		}
		if d := onlyDelivery(t, s, id); d.LastError != "410 Gone: endpoint disabled until re-enabled" {
			t.Fatalf("delivery after a 410 while enabled: %+v", d)
		}
	})
}
