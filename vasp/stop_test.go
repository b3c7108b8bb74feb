package vasp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// runUntil starts s.Run, waits for started, stops it gracefully (as
// SIGTERM does: its context ends) and waits for Run to return.
func runUntil(t *testing.T, s *vasp.Service, started <-chan struct{}) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the work was never started")
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestCallbackGracefulStopHandsBack: a process stopped gracefully while
// it sends a post-transaction callback gives the callback up: another
// process sends it at once, not a lease (30 s) later.
func TestCallbackGracefulStopHandsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		a := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		b := w.service(t, func(o *vasp.Options) { o.HTTPClient = http.DefaultClient })
		arrived, hang := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		sink := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if calls.Add(1) == 1 {
				close(arrived)
				select { // a's attempt hangs until a stops
				case <-hang:
				case <-r.Context().Done():
				}
				return
			}
			rw.WriteHeader(200)
		}))
		defer sink.Close()
		defer close(hang)
		tr := completed(t, w, a, sink.URL+"/cb", w.clock.Now())
		runUntil(t, a, arrived)
		if st, n, _ := a.CallbackState(t.Context(), tr.ID); st != "pending" || n != 0 {
			t.Fatalf("after the stop: %s after %d attempts, want pending, no attempt recorded", st, n)
		}
		// No clock advance: the lease must not be what lets b in.
		if n, err := b.CallbackRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("process b claimed %d callbacks (%v), want the one a stopped sending", n, err)
		}
		if st, _, _ := b.CallbackState(t.Context(), tr.ID); st != "sent" {
			t.Fatalf("after b's send: %s", st)
		}
	})
}
