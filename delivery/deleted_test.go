package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A replay job whose endpoint is deleted before it runs (or between two of
// its chunks) re-queues nothing: it fails, and the deliveries keep their
// finished status instead of waiting forever for an endpoint no worker
// sends to.
func TestReplayOfDeletedEndpointRequeuesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, s, rc.URL)
		id := enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		clock.Advance(time.Minute)
		job, err := s.StartReplay(ctx, ReplayParams{EndpointID: ep.ID, Since: t0.Add(-time.Hour), Until: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
			t.Fatalf("delivery of the deleted endpoint after the replay: %s, want delivered", d.Status)
		}
		job, err = s.GetJob(ctx, job.ID)
		if err != nil || job.Status != "failed" || !strings.Contains(job.Error, "not found") {
			t.Fatalf("job: %+v, %v", job, err)
		}
	})
}

// A pending delivery of a deleted endpoint (a transaction that raced the
// deletion queued it) becomes dead at the next pruning pass, as the
// deletion would have made it.
func TestPruneDeadLettersPendingOfDeletedEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		ep, _ := mustEndpoint(t, s, "https://example.com/hook")
		live, _ := mustEndpoint(t, s, "https://example.com/other")
		if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		// The deletion has committed; a racing enqueue to it commits after
		// (simulated: queued to another endpoint, then moved).
		var raced, kept string
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if raced, err = s.EnqueueTo(ctx, tx, live.ID, Event{Type: TypeTest}); err != nil {
				return err
			}
			kept, err = s.EnqueueTo(ctx, tx, live.ID, Event{Type: TypeTest})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE webhook_deliveries SET endpoint_id = $1 WHERE event_id = $2`, ep.ID, raced); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if d := onlyDelivery(t, s, raced); d.Status != StatusDead || d.LastError != "endpoint deleted" || !d.FinishedAt.Equal(clock.Now()) {
			t.Fatalf("pending delivery of a deleted endpoint after pruning: %+v", d)
		}
		if d := onlyDelivery(t, s, kept); d.Status != StatusPending {
			t.Fatalf("a live endpoint's pending delivery after pruning: %+v", d)
		}
	})
}

// A replay job whose process stalls past its lease is taken over by
// another process; when the first wakes up it neither re-queues its chunk
// again nor ends the job a second time: the job counts each delivery once.
func TestReplayJobTakenOverAfterItsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		a, b := newTestService(t, db, clock), newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, _ := mustEndpoint(t, a, rc.URL)
		enqueue(t, a, Event{Type: TypeTest})
		if n := step(t, a); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		clock.Advance(time.Minute)
		job, err := a.StartReplay(ctx, ReplayParams{EndpointID: ep.ID, Since: t0.Add(-time.Hour), Until: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		// Process a claims the job, then stalls before its first chunk
		// while process b, once a's lease has run out, does the whole job.
		a.jobChunk = func() {
			a.jobChunk = nil
			clock.Advance(jobLease + time.Second)
			if err := b.runJobs(ctx); err != nil {
				t.Fatal(err)
			}
			if n := step(t, b); n != 1 { // the replayed delivery is sent again
				t.Fatalf("%d attempts of the replay", n)
			}
		}
		if err := a.runJobs(ctx); err != nil {
			t.Fatal(err)
		}
		job, err = a.GetJob(ctx, job.ID)
		if err != nil || job.Status != "completed" || job.Processed != 1 {
			t.Fatalf("job after the take-over: %+v, %v; want completed with 1 processed", job, err)
		}
		step(t, a)
		if n := len(rc.requests()); n != 2 {
			t.Fatalf("the receiver got %d requests, want 2 (the delivery and one replay)", n)
		}
	})
}
