package delivery

import (
	"context"
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestNoAttemptFromAReadingOlderThanAnEndpointChange: deliveries a claim
// took, waiting in the worker's queue for their endpoint to have room, are
// not sent with the claim's reading of the endpoint once this Service has
// changed it: after DELETE returned, nothing more reaches the deleted
// endpoint's URL, signed with its wiped secret (only the attempt already in
// flight completes).
func TestNoAttemptFromAReadingOlderThanAnEndpointChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		arrived, proceed := make(chan struct{}, 16), make(chan struct{})
		rc.answer = func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-proceed
			w.WriteHeader(http.StatusOK)
		}
		e, _ := mustEndpoint(t, s, rc.URL)
		for range 4 {
			enqueue(t, s, Event{Type: TypeTest})
		}
		w := attach(t, s)
		if n, _, err := w.claim(ctx); err != nil || n < 2 {
			t.Fatalf("claim: %d %v (want the first in flight and more waiting)", n, err)
		}
		<-arrived // the first attempt is in flight; the others wait (window 1)
		w.mu.Lock()
		waiting := len(w.queue[e.ID])
		w.mu.Unlock()
		if waiting == 0 {
			t.Fatal("no claimed delivery waits in the queue")
		}
		if err := s.DeleteEndpoint(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		close(proceed)
		finish(t, w)
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("the deleted endpoint got %d requests, want 1 (the one in flight when it was deleted)", n)
		}
	})
}
