package delivery

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// heldAbout lists the per-endpoint state this process keeps about endpoint
// id: the running worker's maps and the Service's slow-start window. The
// reading ("seen") is the one holding its signing secrets.
func heldAbout(s *Service, w *worker, id string) []string {
	var held []string
	w.mu.Lock()
	if _, ok := w.busy[id]; ok {
		held = append(held, "busy")
	}
	if _, ok := w.queue[id]; ok {
		held = append(held, "queue")
	}
	if _, ok := w.streak[id]; ok {
		held = append(held, "streak")
	}
	if _, ok := w.lat[id]; ok {
		held = append(held, "lat")
	}
	if _, ok := w.depth[id]; ok {
		held = append(held, "depth")
	}
	if _, ok := w.drained[id]; ok {
		held = append(held, "drained")
	}
	if _, ok := w.failing[id]; ok {
		held = append(held, "failing")
	}
	if _, ok := w.seen[id]; ok {
		held = append(held, "seen")
	}
	w.mu.Unlock()
	s.winMu.Lock()
	if _, ok := s.win[id]; ok {
		held = append(held, "win")
	}
	s.winMu.Unlock()
	return held
}

// runningWorker makes a worker the Service's running one, as Run does, so
// that endpoint changes reach it, without Run's loop (tests drive it).
func runningWorker(t *testing.T, s *Service) *worker {
	t.Helper()
	w := newWorker(s)
	if !s.running.CompareAndSwap(nil, w) {
		t.Fatal("a worker is running already")
	}
	t.Cleanup(func() { s.running.CompareAndSwap(w, nil) })
	return w
}

// claimAndRecord is step on the running worker w: one claim, its attempts,
// their results recorded. It leaves the worker usable (step's worker is
// spent: its results channel is closed).
func claimAndRecord(t *testing.T, w *worker) int {
	t.Helper()
	n, _, err := w.claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.wg.Wait()
	var batch []finished
	for len(batch) < n {
		batch = append(batch, <-w.results)
	}
	if len(batch) > 0 {
		if err := w.record(batch); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// A deleted endpoint leaves nothing in this process: the worker's reading
// of it, which holds its signing secrets, goes when the deletion commits,
// with the rest of what the worker learnt about it (window, latency,
// streak), whether deleted through DeleteEndpoint or PATCH /config. Before,
// every map kept it for the process's life.
func TestDeletedEndpointIsForgotten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		w := runningWorker(t, s)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, s, rc.URL)
		primary, _, _, err := s.ConfigurePrimary(ctx, rc.URL+"/primary")
		if err != nil {
			t.Fatal(err)
		}
		enqueue(t, s, Event{Type: TypeTest})
		if n := claimAndRecord(t, w); n < 2 {
			t.Fatalf("%d attempts, want at least 2", n)
		}
		for _, id := range []string{ep.ID, primary.ID} {
			if held := heldAbout(s, w, id); len(held) == 0 {
				t.Fatalf("the worker holds nothing about %s after delivering to it: the test shows nothing", id)
			}
		}
		if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.ConfigurePrimary(ctx, ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{ep.ID, primary.ID} {
			if held := heldAbout(s, w, id); len(held) > 0 {
				t.Errorf("after its deletion the process still holds %v about endpoint %s", held, id)
			}
		}
	})
}

// A deletion by another process (or a result recorded after the deletion,
// which remembers the streak again) is caught by the periodic sweep; an
// endpoint with an attempt in flight keeps its state until the attempt is
// over, and a live endpoint keeps its state unless it has been idle for
// idleForget.
func TestSweepForgetsGoneAndIdleEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		w := runningWorker(t, s)
		rc := newReceiver(t)
		gone, _ := mustEndpoint(t, s, rc.URL+"/gone")
		busy, _ := mustEndpoint(t, s, rc.URL+"/busy")
		idle, _ := mustEndpoint(t, s, rc.URL+"/idle")
		active, _ := mustEndpoint(t, s, rc.URL+"/active")
		enqueue(t, s, Event{Type: TypeTest})
		if n := claimAndRecord(t, w); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		// Deleted elsewhere: no hook ran here.
		if _, err := db.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = $2, secret = $3 WHERE id IN ($1, $4)`,
			gone.ID, store.Micros(t0), wipedSecret, busy.ID); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		w.busy[busy.ID] = 1 // an attempt still in flight
		r := w.seen[idle.ID]
		r.at = time.Now().Add(-idleForget - time.Minute)
		w.seen[idle.ID] = r
		w.mu.Unlock()

		if err := s.sweepEndpoints(ctx); err != nil {
			t.Fatal(err)
		}
		if held := heldAbout(s, w, gone.ID); len(held) > 0 {
			t.Errorf("endpoint deleted elsewhere: still held %v", held)
		}
		if held := heldAbout(s, w, idle.ID); len(held) > 0 {
			t.Errorf("endpoint idle for over %s: still held %v", idleForget, held)
		}
		if held := heldAbout(s, w, active.ID); len(held) == 0 {
			t.Error("an active endpoint's state was dropped")
		}
		// The in-flight one keeps what its attempt uses, but not its
		// reading (its secrets): the attempt has its own.
		held := heldAbout(s, w, busy.ID)
		if !slices.Contains(held, "lat") || !slices.Contains(held, "win") {
			t.Errorf("the state of an endpoint with an attempt in flight was dropped: %v left", held)
		}
		if slices.Contains(held, "seen") {
			t.Error("a deleted endpoint's reading (its secrets) kept while its last attempt runs")
		}
		// Its attempt ends; the next sweep drops the rest.
		w.mu.Lock()
		delete(w.busy, busy.ID)
		w.mu.Unlock()
		if err := s.sweepEndpoints(ctx); err != nil {
			t.Fatal(err)
		}
		if held := heldAbout(s, w, busy.ID); len(held) > 0 {
			t.Errorf("deleted endpoint whose attempt ended: still held %v", held)
		}
	})
}

// A failure not yet recorded keeps its endpoint's state through a sweep:
// the failure count is what keeps the worker from claiming for it before
// its back-off is committed.
func TestSweepKeepsUnrecordedFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		w := runningWorker(t, s)
		rc := newReceiver(t)
		rc.status(http.StatusInternalServerError)
		ep, _ := mustEndpoint(t, s, rc.URL)
		enqueue(t, s, Event{Type: TypeTest})
		if n, _, err := w.claim(context.Background()); err != nil || n != 1 {
			t.Fatalf("claim: %d %v", n, err)
		}
		w.wg.Wait()
		f := <-w.results
		w.mu.Lock()
		r := w.seen[ep.ID]
		r.at = time.Now().Add(-idleForget - time.Minute)
		w.seen[ep.ID] = r
		w.mu.Unlock()
		if err := s.sweepEndpoints(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		failing := w.failing[ep.ID]
		w.mu.Unlock()
		if failing != 1 {
			t.Fatalf("unrecorded failures after a sweep: %d, want 1", failing)
		}
		if err := w.record([]finished{f}); err != nil {
			t.Fatal(err)
		}
	})
}
