package delivery

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func countRows(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fanOutAll runs s's fan-out until none is left and returns how many
// chunks it wrote.
func fanOutAll(t *testing.T, s *Service) int {
	t.Helper()
	for steps := 0; ; steps++ {
		_, found, err := s.fanOutStep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return steps
		}
		if steps > 1000 {
			t.Fatal("the fan-out does not end")
		}
	}
}

// TestWideEventFanOut: an event for more endpoints than a chunk commits
// with its producer's transaction as the event and the list of its
// endpoints, and no delivery; the fan-out then writes them a chunk per
// transaction, resumes where a process that died stopped (another Service
// on the same database), skips an endpoint deleted in between, and every
// endpoint gets the event once, with one webhookId.
func TestWideEventFanOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		s.fanOutChunk = 3
		rc := newReceiver(t)
		var eps []Endpoint
		for range 8 {
			e, _ := mustEndpoint(t, s, rc.URL)
			eps = append(eps, e)
		}
		id := enqueue(t, s, Event{Type: TypeTest})
		perEvent := `SELECT COUNT(*) FROM webhook_deliveries WHERE event_id = $1`
		if n := countRows(t, db, perEvent, id); n != 0 {
			t.Fatalf("the producer's transaction wrote %d deliveries of an event to 8 endpoints (chunk 3), want 0", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_fanouts WHERE event_id = $1`, id); n != 1 {
			t.Fatalf("fan-out rows: %d, want 1", n)
		}

		// One chunk, then this "process" is gone.
		if _, found, err := s.fanOutStep(ctx); err != nil || !found {
			t.Fatalf("first chunk: found %v, %v", found, err)
		}
		if n := countRows(t, db, perEvent, id); n != 3 {
			t.Fatalf("after one chunk: %d deliveries, want 3", n)
		}
		if err := s.DeleteEndpoint(ctx, eps[4].ID); err != nil {
			t.Fatal(err)
		}
		s2 := newTestService(t, db, clock)
		s2.fanOutChunk = 3
		if steps := fanOutAll(t, s2); steps != 2 {
			t.Fatalf("the rest took %d chunks, want 2", steps)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_fanouts`); n != 0 {
			t.Fatalf("fan-out rows left: %d", n)
		}
		if n := countRows(t, db, perEvent+` AND endpoint_id = $2`, id, eps[4].ID); n != 0 {
			t.Fatalf("the endpoint deleted before its chunk got %d deliveries", n)
		}
		for i, e := range eps {
			if i == 4 {
				continue
			}
			if n := countRows(t, db, perEvent+` AND endpoint_id = $2`, id, e.ID); n != 1 {
				t.Fatalf("endpoint %d has %d deliveries of the event, want 1", i, n)
			}
		}

		if n := step(t, s2); n != 7 {
			t.Fatalf("attempts: %d, want 7", n)
		}
		got := rc.requests()
		if len(got) != 7 {
			t.Fatalf("received %d, want 7", len(got))
		}
		for _, r := range got {
			var body struct {
				WebhookID string `json:"webhookId"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.WebhookID != id {
				t.Fatalf("received webhookId %q (%v), want %s", body.WebhookID, err, id)
			}
		}
	})
}

// TestNarrowEventIsWrittenWhole: an event for no more endpoints than a
// chunk is written with its deliveries, as before; no fan-out row.
func TestNarrowEventIsWrittenWhole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		s.fanOutChunk = 3
		rc := newReceiver(t)
		for range 3 {
			mustEndpoint(t, s, rc.URL)
		}
		id := enqueue(t, s, Event{Type: TypeTest})
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_deliveries WHERE event_id = $1`, id); n != 3 {
			t.Fatalf("deliveries: %d, want 3", n)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_fanouts`); n != 0 {
			t.Fatalf("fan-out rows: %d, want 0", n)
		}
	})
}

// TestFanOutInRun: the running worker fans out an event left from before
// it started and one enqueued while it runs, and delivers each to every
// endpoint once.
func TestFanOutInRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newTestService(t, db, vaspd.SystemClock{})
		s.fanOutChunk = 2
		rc := newReceiver(t)
		for range 5 {
			mustEndpoint(t, s, rc.URL)
		}
		before := enqueue(t, s, Event{Type: TypeTest})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		during := enqueue(t, s, Event{Type: TypeTest})
		deadline := time.Now().Add(10 * time.Second)
		for len(rc.requests()) < 10 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		per := map[string]int{}
		for _, r := range rc.requests() {
			var body struct {
				WebhookID string `json:"webhookId"`
			}
			_ = json.Unmarshal(r.body, &body)
			per[body.WebhookID]++
		}
		if per[before] != 5 || per[during] != 5 || len(per) != 2 {
			t.Fatalf("received per webhookId: %v, want 5 of %s and 5 of %s", per, before, during)
		}
	})
}

// TestPruneKeepsEventAwaitingFanOut: retention pruning does not take an
// event whose deliveries are not all written yet (no delivery refers to it
// until its fan-out runs), even past the retention age.
func TestPruneKeepsEventAwaitingFanOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		s.fanOutChunk = 1
		rc := newReceiver(t)
		for range 2 {
			mustEndpoint(t, s, rc.URL)
		}
		id := enqueue(t, s, Event{Type: TypeTest})
		clock.Advance(s.opt.Retention + time.Hour)
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_events WHERE id = $1`, id); n != 1 {
			t.Fatal("pruning removed an event still being fanned out")
		}
		fanOutAll(t, s)
		if n := step(t, s); n != 2 {
			t.Fatalf("attempts after the fan-out: %d, want 2", n)
		}
	})
}

// TestConcurrentFanOuts: two processes' fan-outs on one database write
// each delivery exactly once (on PostgreSQL each takes a fan-out row with
// SKIP LOCKED; on SQLite their transactions queue).
func TestConcurrentFanOuts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		a, b := newTestService(t, db, clock), newTestService(t, db, clock)
		a.fanOutChunk, b.fanOutChunk = 2, 2
		rc := newReceiver(t)
		for range 5 {
			mustEndpoint(t, a, rc.URL)
		}
		const events = 12
		for range events {
			enqueue(t, a, Event{Type: TypeTest})
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, s := range []*Service{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, found, err := s.fanOutStep(ctx)
					if err != nil {
						errs <- err
						return
					}
					if !found {
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_deliveries`); n != events*5 {
			t.Fatalf("deliveries: %d, want %d", n, events*5)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM (SELECT DISTINCT event_id, endpoint_id FROM webhook_deliveries) x`); n != events*5 {
			t.Fatalf("distinct (event, endpoint) pairs: %d, want %d", n, events*5)
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM webhook_fanouts`); n != 0 {
			t.Fatalf("fan-out rows left: %d", n)
		}
	})
}

// TestOldestPendingCountsFanOuts: an event whose deliveries are not
// written yet shows in the oldest-pending age, so a fan-out that keeps
// failing does not look like an empty queue.
func TestOldestPendingCountsFanOuts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := prometheus.NewRegistry()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock, func(o *Options) { o.Registerer = reg })
		s.fanOutChunk = 1
		rc := newReceiver(t)
		for range 2 {
			mustEndpoint(t, s, rc.URL)
		}
		enqueue(t, s, Event{Type: TypeTest})
		clock.Advance(2 * time.Minute)
		s.refreshGauges(context.Background())
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got, backlog := -1.0, -1.0
		for _, f := range fams {
			switch f.GetName() {
			case "vaspd_webhook_oldest_pending_seconds":
				got = f.GetMetric()[0].GetGauge().GetValue()
			case "vaspd_webhook_backlog":
				backlog = f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != 120 {
			t.Fatalf("oldest pending: %v s, want 120", got)
		}
		// Neither delivery is written yet; both are owed.
		if backlog != 2 {
			t.Fatalf("backlog: %v, want 2 (the fan-out's unwritten deliveries)", backlog)
		}
		// Once the fan-out has written one of them, that one counts as a
		// delivery row and the other as owed: still two, never three.
		if _, _, err := s.fanOutStep(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.refreshGauges(context.Background())
		if b := gaugeValue(t, reg, "vaspd_webhook_backlog"); b != 2 {
			t.Fatalf("backlog after one chunk: %v, want 2", b)
		}
	})
}

// gaugeValue is the value of the unlabelled gauge name in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
