package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// attach makes w the Service's running worker, as Run does, so that
// enqueues hand their rows to it; the test drives it by hand.
func attach(t *testing.T, s *Service) *worker {
	t.Helper()
	w := newWorker(s)
	if !s.running.CompareAndSwap(nil, w) {
		t.Fatal("a worker is attached already")
	}
	t.Cleanup(func() { s.running.CompareAndSwap(w, nil) })
	return w
}

// primed is a Service on a fake clock with one endpoint, at a test
// receiver, and an attached worker that has read it (prime).
func primed(t *testing.T, db *store.DB) (*Service, *vaspd.FakeClock, *receiver, Endpoint, *worker) {
	t.Helper()
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	e, _ := mustEndpoint(t, s, rc.URL)
	w := attach(t, s)
	prime(t, s, w)
	return s, clock, rc, e, w
}

// prime enqueues one event and lets w claim and attempt it, so that w has
// read the endpoints (the reading a handoff needs).
func prime(t *testing.T, s *Service, w *worker) string {
	t.Helper()
	id := enqueue(t, s, Event{Type: TypeTest})
	if n, _, err := w.claim(context.Background()); err != nil || n != 1 {
		t.Fatalf("claim: %d %v", n, err)
	}
	w.wg.Wait()
	return id
}

// deliveryRow reads the lease and schedule of webhookID's only delivery.
func deliveryRow(t *testing.T, s *Service, webhookID string) (token string, nextAt int64, status string) {
	t.Helper()
	err := s.db.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRowContext(context.Background(), `SELECT lease_token, next_attempt_at, status
			FROM webhook_deliveries WHERE event_id = $1`, webhookID).Scan(&token, &nextAt, &status)
	})
	if err != nil {
		t.Fatal(err)
	}
	return token, nextAt, status
}

func countClaims(s *Service) *atomic.Int64 {
	var n atomic.Int64
	s.claimTx = func(string) { n.Add(1) }
	return &n
}

// TestHandoffSkipsTheClaim: with the worker running and a fresh reading of
// the endpoint, an enqueued delivery is written leased to the worker, as a
// claim would have left it, and attempted without a claim transaction.
func TestHandoffSkipsTheClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		claims := countClaims(s)
		rc := newReceiver(t)
		mustEndpoint(t, s, rc.URL)
		w := attach(t, s)
		first := prime(t, s, w) // no reading yet: this one is claimed

		var ids []string
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			for i := 0; i < 3; i++ {
				id, err := s.Enqueue(context.Background(), tx, Event{Type: TypeTest})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Leased at insert, to this worker, until the attempt's timeout
		// (10 s) plus the margin (5 s): what a claim at t0 writes.
		for _, id := range ids {
			token, nextAt, status := deliveryRow(t, s, id)
			if token != w.token || nextAt != store.Micros(t0.Add(15*time.Second)) || status != StatusPending {
				t.Fatalf("%s: lease %q until %d, %s; want %q until %d", id, token, nextAt, status,
					w.token, store.Micros(t0.Add(15*time.Second)))
			}
		}
		if n := finish(t, w); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		if c := claims.Load(); c != 1 {
			t.Fatalf("%d claim transactions, want 1 (the first event's)", c)
		}
		if got := len(rc.requests()); got != 4 {
			t.Fatalf("%d requests, want 4", got)
		}
		for _, id := range append(ids, first) {
			if d := onlyDelivery(t, s, id); d.Status != StatusDelivered || d.Attempts != 1 {
				t.Fatalf("%s: %+v", id, d)
			}
		}
	})
}

// TestRolledBackEnqueueHandsOffNothing: a transaction that rolls back
// writes no row, hands nothing to the worker and sends nothing.
func TestRolledBackEnqueueHandsOffNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, rc, _, w := primed(t, db)
		boom := errors.New("rolled back")
		var id string
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			var err error
			id, err = s.Enqueue(context.Background(), tx, Event{Type: TypeTest})
			if err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		w.mu.Lock()
		queued, busy := len(w.queue), w.total
		w.mu.Unlock()
		if queued != 0 || busy != 0 {
			t.Fatalf("rolled-back enqueue left %d queued, %d in flight", queued, busy)
		}
		if n := finish(t, w); n != 1 {
			t.Fatalf("%d attempts, want only the priming one", n)
		}
		if got := len(rc.requests()); got != 1 {
			t.Fatalf("%d requests, want 1", got)
		}
		ds, err := s.ListDeliveries(context.Background(), DeliveryFilter{WebhookID: id}, "", 10)
		if err != nil || len(ds) != 0 {
			t.Fatalf("rolled-back event has deliveries: %v %v", ds, err)
		}
	})
}

// TestHandoffLostByACrashIsRetriedAfterItsLease: a process that dies after
// the commit, before its worker took the rows, leaves them leased like a
// claim; another process delivers them once the lease ends, not before.
func TestHandoffLostByACrashIsRetriedAfterItsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock, rc, _, w := primed(t, db)
		finish(t, w)
		dropped := 0
		s.dropHandoff = func(rows []claimed) bool { dropped += len(rows); return true }
		id := enqueue(t, s, Event{Type: TypeTest})
		if dropped != 1 {
			t.Fatalf("%d rows handed off, want 1", dropped)
		}
		if token, _, _ := deliveryRow(t, s, id); token != w.token {
			t.Fatalf("lease token %q, want the worker's", token)
		}

		s2 := newTestService(t, db, clock)
		if n := step(t, s2); n != 0 {
			t.Fatalf("a handed-off delivery was claimed under its lease (%d)", n)
		}
		clock.Advance(15*time.Second + time.Millisecond)
		if n := step(t, s2); n != 1 {
			t.Fatalf("after the lease: %d attempts", n)
		}
		if d := onlyDelivery(t, s2, id); d.Status != StatusDelivered || d.Attempts != 1 {
			t.Fatalf("%+v", d)
		}
		if got := len(rc.requests()); got != 2 {
			t.Fatalf("%d requests, want 2 (priming and the retried one)", got)
		}
	})
}

// TestNoHandoffToAFailingEndpoint: an endpoint that is failing here, has a
// failure streak, or is backed off (by another process, seen when its stale
// reading is read again), or a worker that is stopping, gets its rows the
// old way: due, unleased, for a claim to read the endpoint again.
func TestNoHandoffToAFailingEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clock, _, e, w := primed(t, db)
		w.wg.Wait()
		backoff := func(until time.Time) {
			err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET backoff_until = $1 WHERE id = $2`,
					store.Micros(until), e.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		cases := []struct {
			name      string
			set, undo func() // set runs with w.mu held
		}{
			{"failing here", func() { w.failing[e.ID] = 1 }, func() { delete(w.failing, e.ID) }},
			{"failure streak", func() { w.streak[e.ID] = 1 }, func() { delete(w.streak, e.ID) }},
			{"worker stopping", func() { w.stopped = true }, func() { w.stopped = false }},
			{"backed off elsewhere", func() {
				r := w.seen[e.ID]
				r.at = r.at.Add(-readingFresh)
				w.seen[e.ID] = r
			}, func() {}},
		}
		for _, c := range cases {
			w.mu.Lock()
			r := w.seen[e.ID] // fresh again, however slow the machine
			r.at = time.Now()
			w.seen[e.ID] = r
			w.mu.Unlock()
			// The handoff works before each case (so the case tests something).
			id := enqueue(t, s, Event{Type: TypeTest})
			if token, _, _ := deliveryRow(t, s, id); token != w.token {
				t.Fatalf("before %q: not handed off", c.name)
			}
			if c.name == "backed off elsewhere" {
				backoff(t0.Add(time.Hour))
			}
			w.mu.Lock()
			c.set()
			w.mu.Unlock()
			id = enqueue(t, s, Event{Type: TypeTest})
			token, nextAt, status := deliveryRow(t, s, id)
			if token != "" || nextAt != store.Micros(clock.Now()) || status != StatusPending {
				t.Fatalf("%s: handed off anyway (lease %q until %d, %s)", c.name, token, nextAt, status)
			}
			w.mu.Lock()
			c.undo()
			w.mu.Unlock()
		}
		// Read as backed off: remembered so, without a target to hand
		// rows to, and read again once stale (TestHandoffAfterReenabledElsewhere).
		w.mu.Lock()
		r, known := w.seen[e.ID]
		w.mu.Unlock()
		if !known || r.t != nil {
			t.Fatalf("the reading of a backed-off endpoint: %+v (known %v), want one without a target", r, known)
		}
		finish(t, w)
		backoff(time.Time{})
		// The ones not handed off are claimed as before.
		if n := step(t, s); n != len(cases) {
			t.Fatalf("claimed %d, want %d", n, len(cases))
		}
	})
}

// TestStaleReadingIsReadAgainAtEnqueue: a reading too old, or from before
// this Service changed the endpoint, is read again in the enqueueing
// transaction, so the handoff uses the endpoint as it is now (its new URL).
func TestStaleReadingIsReadAgainAtEnqueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		claims := countClaims(s)
		rc, rc2 := newReceiver(t), newReceiver(t)
		e, _ := mustEndpoint(t, s, rc.URL)
		w := attach(t, s)
		prime(t, s, w)
		w.wg.Wait()

		w.mu.Lock()
		old := w.seen[e.ID]
		old.at = old.at.Add(-readingFresh)
		w.seen[e.ID] = old
		w.mu.Unlock()
		id := enqueue(t, s, Event{Type: TypeTest})
		if token, _, _ := deliveryRow(t, s, id); token != w.token {
			t.Fatal("stale reading: not handed off")
		}
		w.mu.Lock()
		if r := w.seen[e.ID]; !r.at.After(old.at) {
			t.Fatal("stale reading not read again")
		}
		w.mu.Unlock()

		url := rc2.URL
		if _, err := s.UpdateEndpoint(ctx, e.ID, EndpointInput{URL: &url}); err != nil {
			t.Fatal(err)
		}
		id = enqueue(t, s, Event{Type: TypeTest})
		if token, _, _ := deliveryRow(t, s, id); token != w.token {
			t.Fatal("changed endpoint: not handed off")
		}
		finish(t, w)
		if got := rc2.requests(); len(got) != 1 || got[0].header.Get("webhook-id") != id {
			t.Fatalf("the new URL got %d requests, want the one enqueued after the change", len(got))
		}
		if n := len(rc.requests()); n != 2 {
			t.Fatalf("the old URL got %d requests, want 2", n)
		}
		if c := claims.Load(); c != 1 {
			t.Fatalf("%d claims, want 1 (priming)", c)
		}
	})
}

// TestHandoffAfterStopReleasesRows: rows handed to a worker that stopped
// between the transaction's Flush and its commit are handed back (due
// again, unleased), not left leased until the lease ends.
func TestHandoffAfterStopReleasesRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock, rc, _, w := primed(t, db)
		finish(t, w)
		var id string
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			// Runs after the commit, before the handoff (registered first).
			tx.AfterCommit(func() { w.stop() })
			var err error
			id, err = s.Enqueue(context.Background(), tx, Event{Type: TypeTest})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			token, nextAt, status := deliveryRow(t, s, id)
			if token == "" && nextAt <= store.Micros(clock.Now()) && status == StatusPending {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not handed back: lease %q until %d, %s", token, nextAt, status)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got := len(rc.requests()); got != 1 {
			t.Fatalf("%d requests, want only the priming one", got)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("released row claimed %d times", n)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered || d.Attempts != 1 {
			t.Fatalf("%+v", d)
		}
	})
}

// TestTwoServicesWithHandoffsNeverShareADelivery: two running Services (two
// processes' worth) on one database, each enqueueing and handing off to its
// own worker while claiming the other's leftovers: every delivery is
// attempted exactly once, and handoffs did happen.
func TestTwoServicesWithHandoffsNeverShareADelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0) // frozen: no lease ends, so any repeat is an overlap
		a, b := newTestService(t, db, clock), newTestService(t, db, clock)
		var mu sync.Mutex
		got := map[string]int{} // receiver + webhookId → requests
		inFlight := map[string]bool{}
		overlap := ""
		for i := 0; i < 2; i++ {
			rc := newReceiver(t)
			name := fmt.Sprint(i)
			rc.set(func(w http.ResponseWriter, r *http.Request) {
				k := name + r.Header.Get("webhook-id")
				mu.Lock()
				got[k]++
				if inFlight[k] {
					overlap = k
				}
				inFlight[k] = true
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				inFlight[k] = false
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			})
			mustEndpoint(t, a, rc.URL)
		}
		var handed atomic.Int64
		for _, s := range []*Service{a, b} {
			s.dropHandoff = func(rows []claimed) bool { handed.Add(int64(len(rows))); return false }
		}
		ctx, cancel := context.WithCancel(context.Background())
		var runs sync.WaitGroup
		for _, s := range []*Service{a, b} {
			runs.Add(1)
			go func() {
				defer runs.Done()
				if err := s.Run(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		const producers, txs, perTx = 4, 40, 3
		var prod sync.WaitGroup
		errs := make(chan error, producers)
		for p := 0; p < producers; p++ {
			s := []*Service{a, b}[p%2]
			prod.Add(1)
			go func() {
				defer prod.Done()
				for i := 0; i < txs; i++ {
					err := db.InTx(ctx, func(tx *store.Tx) error {
						for k := 0; k < perTx; k++ {
							if _, err := s.Enqueue(ctx, tx, Event{Type: TypeTest}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		prod.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		const want = producers * txs * perTx * 2
		deadline := time.Now().Add(60 * time.Second)
		for {
			var n int
			err := db.InTx(ctx, func(tx *store.Tx) error {
				return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&n)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d delivered", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		runs.Wait()
		mu.Lock()
		defer mu.Unlock()
		if overlap != "" {
			t.Fatalf("two attempts of %s at once", overlap)
		}
		if len(got) != want {
			t.Fatalf("%d deliveries received, want %d", len(got), want)
		}
		for k, n := range got {
			if n != 1 {
				t.Fatalf("%s attempted %d times", k, n)
			}
		}
		if handed.Load() == 0 {
			t.Fatal("no delivery was handed off: the test tested the claims only")
		}
		t.Logf("%d of %d deliveries handed off", handed.Load(), want)
	})
}
